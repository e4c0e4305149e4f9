"""Payments test fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _sandbox_explicitly_on(settings):
    # settings_test runs with DEBUG=False; the sandbox gateway needs the explicit switch then.
    settings.SANDBOX_GATEWAY_EXPLICIT = True
    settings.SANDBOX_GATEWAY_ENABLED = True


@pytest.fixture(autouse=True)
def _tasks_run_inline(monkeypatch):
    """django-q2 runs queued tasks inline (it reads its config at import, so patch Conf). The
    webhook queues its apply step on commit: `post_notify` runs those callbacks, so a posted
    notify is applied before the test looks (transactional tests run them at commit)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
