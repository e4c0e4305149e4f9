"""Billing test fixtures."""

import pytest


@pytest.fixture
def queued(monkeypatch):
    """Capture django-q2 async_task calls instead of queueing them."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls
