"""Inbox test fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _tasks_run_inline(tasks_run_inline):
    """Queued tasks run inline here (see `tasks_run_inline` in tests/conftest.py)."""
