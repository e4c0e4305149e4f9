"""Real concurrency on PostgreSQL: the same notify posted by 10 threads at once applies once."""

from urllib.parse import urlencode

import pytest
from django.test import Client

from billing.models import Invoice, LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.models import PaymentTransaction
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice, notify_fields, notify_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _hammer(bodies):
    def post(body):
        return Client().post(notify_url(), data=body,
                             content_type="application/x-www-form-urlencoded").status_code

    statuses = run_concurrently(post, [(b,) for b in bodies])
    return statuses


def test_same_notify_ten_times_concurrently_gives_one_payment():
    invoice = make_invoice(CustomerFactory(), "499.00")
    body = urlencode(notify_fields(f"{invoice.number}-CONC01", "499.00"))
    statuses = _hammer([body] * 10)
    assert statuses == [200] * 10
    payment = PaymentTransaction.objects.get()
    assert payment.status == "completed"
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    assert WebhookEvent.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, payment.amount)


def test_return_and_notify_with_different_traces_concurrently_apply_once():
    invoice = make_invoice(CustomerFactory(), "499.00")
    ref = f"{invoice.number}-CONC02"
    bodies = [urlencode(notify_fields(ref, "499.00", trace=f"T-{i}")) for i in range(6)]
    statuses = _hammer(bodies)
    assert statuses == [200] * 6
    assert PaymentTransaction.objects.count() == 1
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    invoice.refresh_from_db()
    assert invoice.amount_paid == invoice.total
    assert WebhookEvent.objects.filter(status="processed").count() == 6


def test_queued_notify_applied_by_racing_workers_once(monkeypatch):
    """Deferred mode: ten identical notifies at once record one event and queue one task; four
    workers (the task redelivered, plus the sweep) then run it at once and apply it once."""
    from django_q.conf import Conf

    from payments.tasks import issue_receipt, process_webhook_event

    monkeypatch.setattr(Conf, "SYNC", False)
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, args)))
    invoice = make_invoice(CustomerFactory(), "499.00")
    body = urlencode(notify_fields(f"{invoice.number}-CONC03", "499.00"))
    assert _hammer([body] * 10) == [200] * 10
    event = WebhookEvent.objects.get()
    assert queued == [("inbox.tasks.process_webhook_event", (event.pk,))]
    assert PaymentTransaction.objects.count() == 0

    outcomes = run_concurrently(process_webhook_event, [(event.pk,)] * 4)
    assert "processed" in outcomes and len(outcomes) == 4
    payment = PaymentTransaction.objects.get()
    assert payment.status == "completed"
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    # The receipt is a follow-up row (issue 20), rung once: the apply step committed once.
    from circletel.models import FollowUp

    receipts = FollowUp.objects.filter(func="payments.tasks.issue_receipt")
    assert [row.args for row in receipts] == [[payment.pk]]
    assert queued.count(("circletel.tasks.run_follow_up", (receipts.get().pk,))) == 1
    assert run_concurrently(issue_receipt, [(payment.pk,)] * 3) == [payment.receipt.number] * 3
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, payment.amount)
