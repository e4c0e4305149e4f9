"""The NetCash webhook's fast path: verify, record (one INSERT), queue the apply task on commit.

The task (`inbox.tasks.process_webhook_event`) applies the payment once; the reprocess sweep is
the safety net when the enqueue is lost; the sandbox and the customer's return apply inline.
"""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Invoice, LedgerEntry
from inbox.models import WebhookEvent
from inbox.services import webhook_events_reprocess
from inbox.tasks import process_webhook_event, reprocess_webhook_events
from notifications.models import NotificationLog
from payments.models import PaymentTransaction
from payments.tasks import issue_receipt
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice, notify_fields, post_notify

pytestmark = pytest.mark.django_db
TASK = "inbox.tasks.process_webhook_event"


@pytest.fixture
def invoice():
    return make_invoice(CustomerFactory(), "499.00")


def _one_payment_applied(invoice):
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.amount) == ("completed", Decimal("499.00"))
    assert LedgerEntry.objects.filter(reference=f"payment:{payment.pk}").count() == 1
    issue_receipt(payment.pk)  # the receipt task (queued after the payment's commit) sends the receipt email
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    return payment


def test_notify_is_recorded_and_queued_then_the_task_applies_it_once(client, invoice, queued):
    fields = notify_fields(f"{invoice.number}-FAST01", "499.00")
    # When: NetCash posts (the on-commit enqueue runs, the broker is a recorder here)
    resp = post_notify(client, fields)
    # Then: answered after recording only; nothing applied yet; one task queued for the event
    assert (resp.status_code, resp.content) == (200, b"OK queued")
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.event_type) == ("pending", 0, "paynow.accepted")
    assert queued == [(TASK, (event.pk,))]
    assert PaymentTransaction.objects.count() == 0 and LedgerEntry.objects.count() == 0
    # A redelivery before the worker ran: a no-op, nothing more queued
    again = post_notify(client, fields)
    assert (again.status_code, again.content) == (200, b"OK duplicate")
    assert queued == [(TASK, (event.pk,))] and WebhookEvent.objects.count() == 1
    # When: the worker runs the task, twice (at-least-once delivery of tasks)
    assert process_webhook_event(event.pk) == "processed"
    assert process_webhook_event(event.pk) == "processed"
    # Then: one payment, one ledger entry, one receipt
    payment = _one_payment_applied(invoice)
    assert payment.provider_transaction_id == "TRACE-1"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)


def test_bad_notify_is_refused_and_nothing_is_queued(client, invoice, queued):
    fields = notify_fields(f"{invoice.number}-FAST02", "499.00")
    fields["Amount"] = "100.00"
    resp = post_notify(client, fields)
    assert resp.status_code == 400
    assert queued == []
    assert WebhookEvent.objects.count() == 0 and PaymentTransaction.objects.count() == 0


def test_lost_enqueue_still_answers_200_and_the_sweep_applies_it(client, invoice, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    resp = post_notify(client, notify_fields(f"{invoice.number}-FAST03", "499.00"))
    assert (resp.status_code, resp.content) == (200, b"OK queued")
    event = WebhookEvent.objects.get()
    assert event.status == "pending" and PaymentTransaction.objects.count() == 0
    # Not yet due (the task may still come): the sweep leaves a fresh pending event alone
    assert webhook_events_reprocess()["processed"] == 0
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=3))
    assert reprocess_webhook_events(triggered_by="test") == {"processed": 1, "failed": 0, "ignored": 0,
                                                              "skipped": 0}
    _one_payment_applied(invoice)
    assert reprocess_webhook_events(triggered_by="test")["processed"] == 0


def test_sweep_catches_up_more_than_one_batch(client, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # every enqueue lost
    invoices = [make_invoice(CustomerFactory(), "100.00") for _ in range(5)]
    for i, inv in enumerate(invoices):
        post_notify(client, notify_fields(f"{inv.number}-SWEEP{i}", "100.00", trace=f"S-{i}"))
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=3))
    counts = webhook_events_reprocess(limit=2, max_batches=2)
    assert counts["processed"] == 4
    assert WebhookEvent.objects.filter(status="pending").count() == 1
    assert webhook_events_reprocess(limit=2, max_batches=5)["processed"] == 1
    assert PaymentTransaction.objects.filter(status="completed").count() == 5


def test_task_for_a_missing_event_is_harmless(db):
    assert process_webhook_event(987654) == "missing"


def test_customer_return_never_applies_a_still_queued_notify(client, invoice, queued):
    fields = notify_fields(f"{invoice.number}-FAST04", "499.00")
    post_notify(client, fields)  # queued, the worker has not run yet
    assert PaymentTransaction.objects.count() == 0
    resp = client.post("/payments/netcash/return", data=urlencode(fields),
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 302
    # The browser's post only displays: still nothing applied, the page says "confirming"
    assert PaymentTransaction.objects.count() == 0
    assert WebhookEvent.objects.get().status == "pending"
    assert client.get(resp["Location"]).context["state"] == "confirming"
    # The queued task applies it, once
    event = WebhookEvent.objects.get()
    assert process_webhook_event(event.pk) == "processed"
    _one_payment_applied(invoice)
    assert process_webhook_event(event.pk) == "processed"
    _one_payment_applied(invoice)


def test_apply_inline_setting_applies_in_the_request(client, invoice, settings, queued):
    settings.WEBHOOK_APPLY_INLINE = True
    resp = post_notify(client, notify_fields(f"{invoice.number}-FAST05", "499.00"), run_tasks=False)
    assert (resp.status_code, resp.content) == (200, b"OK processed")
    assert not any(func == TASK for func, _ in queued)
    _one_payment_applied(invoice)


def test_webhook_hot_path_queries(client, invoice, queued):
    """The request does: invoice check, event INSERT, (on commit) the enqueue. A duplicate: two."""
    fields = notify_fields(f"{invoice.number}-FAST06", "499.00")
    with CaptureQueriesContext(connection) as ctx:
        post_notify(client, fields)
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements  # the recorder broker writes nothing; the ORM broker adds 1 INSERT
    assert statements[0].startswith('SELECT "billing_invoice"."status"')
    assert statements[1].startswith('INSERT INTO "payments_webhookevent"')
    with CaptureQueriesContext(connection) as ctx:
        post_notify(client, fields)
    statements = [q["sql"] for q in ctx.captured_queries
                  if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]
    assert len(statements) == 2, statements
