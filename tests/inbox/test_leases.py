"""Issue 20: an event held by a worker that died is applied by the recovery sweep once its lease lapses
(seconds, not a 10-minute guess); a live worker's event is never taken from it; a pending event whose
task was lost is applied within the minute."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from circletel import leases
from inbox.models import WebhookEvent
from inbox.services import webhook_claim, webhook_events_recover, webhook_record
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice, notify_fields

pytestmark = pytest.mark.django_db


def _event(trace):
    invoice = make_invoice(CustomerFactory(), "499.00")
    ref = f"{invoice.number}-L{trace}"
    event, _ = webhook_record(provider="netcash", event_id=f"{trace}:{ref}", event_type="paynow.accepted",
                              body=urlencode(notify_fields(ref, "499.00", trace=trace)))
    return event


def test_a_claim_takes_a_lease_and_the_heartbeat_keeps_it():
    event = _event("H1")
    assert webhook_claim(event)
    event.refresh_from_db()
    assert event.lease_until > timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(lease_until=timezone.now() + timedelta(seconds=1))
    with leases.held(WebhookEvent, event.pk, status=WebhookEvent.Status.PROCESSING):
        assert leases.beat() == 1
    assert WebhookEvent.objects.get(pk=event.pk).lease_until > timezone.now() + timedelta(seconds=10)


def test_an_event_of_a_dead_worker_is_applied_once_and_a_live_workers_is_left_alone():
    dead, live = _event("D1"), _event("D2")
    assert webhook_claim(dead) and webhook_claim(live)  # both "processing" by workers
    WebhookEvent.objects.filter(pk=dead.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    counts = webhook_events_recover()

    assert counts["processed"] == 1
    assert WebhookEvent.objects.get(pk=dead.pk).status == "processed"
    assert WebhookEvent.objects.get(pk=live.pk).status == "processing"  # its worker is alive: not ours
    assert not webhook_claim(WebhookEvent.objects.get(pk=live.pk))
    assert PaymentTransaction.objects.count() == 1
    assert webhook_events_recover()["processed"] == 0  # once


def test_a_pending_event_whose_task_was_lost_is_applied_after_30_seconds_not_before():
    young, lost = _event("P1"), _event("P2")
    WebhookEvent.objects.filter(pk=lost.pk).update(received_at=timezone.now() - timedelta(seconds=31))
    assert webhook_events_recover()["processed"] == 1
    assert (WebhookEvent.objects.get(pk=young.pk).status, WebhookEvent.objects.get(pk=lost.pk).status) == (
        "pending", "processed")
