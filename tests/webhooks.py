"""Deliver a webhook as the provider does, then let the queued apply task run.

The webhooks record the event and queue `inbox.tasks.process_webhook_event` on commit. Inside a
test's transaction nothing commits, so `deliver` runs the on-commit callbacks (`run_tasks=True`);
with the `tasks_run_inline` fixture (tests/conftest.py) django-q2 then runs the task at once, so the
event is applied before `deliver` returns, as a worker would right after.
"""

from django.test import TestCase


def deliver(client, url: str, body, *, content_type: str = "application/json", run_tasks: bool = True, **headers):
    with TestCase.captureOnCommitCallbacks(execute=run_tasks):
        return client.post(url, data=body, content_type=content_type, **headers)


def event_status(event_id: str, provider: str | None = None) -> str:
    """How a stored event ended (processed / ignored / failed, or pending when its task has not run)."""
    from inbox.models import WebhookEvent

    events = WebhookEvent.objects.filter(event_id=event_id)
    if provider:
        events = events.filter(provider=provider)
    return events.get().status
