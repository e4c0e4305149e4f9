from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inbox.models import WebhookEvent
from inbox.registry import Route, route_for
from inbox.services import webhook_events_prune, webhook_process, webhook_record
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice, notify_fields

pytestmark = pytest.mark.django_db


def _event(invoice, trace="T-1"):
    from urllib.parse import urlencode

    ref = f"{invoice.number}-ABC123"
    event, _ = webhook_record(provider="netcash", event_id=f"{trace}:{ref}", event_type="paynow.accepted",
                              body=urlencode(notify_fields(ref, "499.00", trace=trace)))
    return event


def test_failed_event_is_reprocessed_by_command_once(monkeypatch, capsys):
    invoice = make_invoice(CustomerFactory(), "499.00")
    event = _event(invoice)
    boom = {"on": True}

    real = route_for(event)

    def flaky(e):
        if boom["on"]:
            raise RuntimeError("database hiccup")
        return real.handler(e)

    with monkeypatch.context() as patched:
        patched.setattr("inbox.services.route_for",
                        lambda e: Route(provider="netcash", event_type="paynow.accepted", handler=flaky))
        webhook_process(event=event)
    event.refresh_from_db()
    assert event.status == "failed" and "database hiccup" in event.error
    assert PaymentTransaction.objects.count() == 0
    call_command("reprocess_webhook_events", "--id", str(event.pk))
    call_command("reprocess_webhook_events", "--id", str(event.pk))
    event.refresh_from_db()
    assert event.status == "processed"
    assert PaymentTransaction.objects.get().status == "completed"


def test_prune_keeps_recent_and_failed(settings):
    settings.WEBHOOK_RETENTION_DAYS = 180
    invoice = make_invoice(CustomerFactory(), "499.00")
    old = _event(invoice, "OLD")
    failed = _event(invoice, "FAILED")
    recent = _event(invoice, "NEW")
    long_ago = timezone.now() - timedelta(days=200)
    WebhookEvent.objects.filter(pk=old.pk).update(status="processed", received_at=long_ago)
    WebhookEvent.objects.filter(pk=failed.pk).update(status="failed", received_at=long_ago)
    WebhookEvent.objects.filter(pk=recent.pk).update(status="processed")
    assert webhook_events_prune() == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {failed.pk, recent.pk}
