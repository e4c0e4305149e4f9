"""Refunds: rules (state, window, remaining amount), providers, ledger and invoice consistency."""

from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.core.management import call_command
from django.utils import timezone

from billing.models import BillingAccount, LedgerEntry
from billing.services.ledger import ledger_balance, ledger_post
from notifications.models import NotificationLog
from payments.models import PaymentAllocation, PaymentTransaction, Refund
from payments.services.payments import payment_complete
from payments.services.refunds import RefundError, refund_create
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

STRIPE_REFUNDS = "https://api.stripe.com/v1/refunds"


def _paid(provider="stripe", total="500.00", amount=None, txn="pi_3Refundable01"):
    customer = CustomerFactory()
    invoice = make_invoice(customer, total)
    ledger_post(customer=customer, entry_type="invoice", amount=invoice.total, reference=f"invoice:{invoice.pk}",
                description=invoice.number, invoice=invoice)
    payment = payment_complete(reference=f"{invoice.number}-R{provider[:4].upper()}", amount=Decimal(amount or total),
                               customer=customer, method="stripe" if provider == "stripe" else "eft",
                               provider=provider, invoice=invoice, provider_transaction_id=txn)
    return payment, invoice


def _stripe_refund_ok(rid="re_1", amount=20000):
    responses.add(responses.POST, STRIPE_REFUNDS, status=200, json={
        "id": rid, "object": "refund", "amount": amount, "charge": "ch_1", "payment_intent": "pi_3Refundable01",
        "currency": "zar", "status": "succeeded", "metadata": {}})


@pytest.mark.django_db
@responses.activate
def test_partial_stripe_refund_books_ledger_reopens_invoice_and_notifies(stripe_on):
    payment, invoice = _paid()
    _stripe_refund_ok()

    refund = refund_create(payment=payment, amount=Decimal("200.00"), reason="Service outage", actor="ops@circletel")

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (refund.status, refund.provider_refund_id, refund.amount) == ("succeeded", "re_1", Decimal("200.00"))
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("200.00"))
    assert (invoice.amount_paid, invoice.status) == (Decimal("300.00"), "partial")
    assert PaymentAllocation.objects.get(payment=payment).amount == Decimal("300.00")
    entry = LedgerEntry.objects.get(reference=f"refund:{refund.pk}")
    assert (entry.entry_type, entry.amount) == ("refund", Decimal("200.00"))
    assert BillingAccount.objects.get(customer=payment.customer).balance == Decimal("200.00")
    sent = responses.calls[0].request
    assert sent.headers["Idempotency-Key"] == f"refund:{refund.pk}"
    assert "amount=20000" in sent.body and "payment_intent=pi_3Refundable01" in sent.body
    assert NotificationLog.objects.filter(event="refund_issued").count() == 1
    assert payment.zoho_sync_status == "pending"


@pytest.mark.django_db
@responses.activate
def test_full_refund_takes_credit_first_then_allocations_and_check_ledger_passes(stripe_on):
    payment, invoice = _paid(total="300.00", amount="500.00")  # R 200 credit on the account
    _stripe_refund_ok(rid="re_a", amount=15000)
    refund_create(payment=payment, amount=Decimal("150.00"), reason="Overpaid", actor="ops")
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("300.00")  # came out of the credit, the invoice stays paid

    responses.add(responses.POST, STRIPE_REFUNDS, status=200, json={"id": "re_b", "object": "refund", "amount": 35000,
                                                                    "status": "succeeded"})
    rest = refund_create(payment=payment, reason="Cancelled", actor="ops")

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert rest.amount == Decimal("350.00")
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("500.00"))
    assert (invoice.amount_paid, invoice.status) == (Decimal("0.00"), "unpaid")
    assert PaymentAllocation.objects.filter(payment=payment).count() == 0
    assert ledger_balance(customer_id=payment.customer_id) == Decimal("300.00")
    assert "amount=35000" in responses.calls[1].request.body  # the rest, after an earlier partial refund
    call_command("check_ledger")  # raises CommandError on any difference


@pytest.mark.django_db
@responses.activate
def test_over_refund_is_refused_and_nothing_changes(stripe_on):
    payment, _ = _paid()

    with pytest.raises(RefundError, match="At most R 500.00"):
        refund_create(payment=payment, amount=Decimal("500.01"), reason="x", actor="ops")

    assert Refund.objects.count() == 0
    assert len(responses.calls) == 0
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 0


@pytest.mark.django_db
@responses.activate
def test_refund_after_the_window_is_refused(stripe_on, settings):
    payment, _ = _paid()
    PaymentTransaction.objects.filter(pk=payment.pk).update(completed_at=timezone.now() - timedelta(days=91))

    with pytest.raises(RefundError, match="within 90 days"):
        refund_create(payment=payment, reason="late", actor="ops")
    settings.REFUND_WINDOW_DAYS = 120
    _stripe_refund_ok(amount=50000)
    assert refund_create(payment=payment, reason="late", actor="ops").status == "succeeded"
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_refund_of_a_failed_payment_is_refused():
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")
    failed = PaymentTransaction.objects.create(customer=customer, invoice=invoice, amount=Decimal("100.00"),
                                               method="stripe", provider="stripe", reference="X-FAILED", status="failed")

    with pytest.raises(RefundError, match="Only a completed payment"):
        refund_create(payment=failed, reason="x", actor="ops")
    assert Refund.objects.count() == 0


@pytest.mark.django_db
@responses.activate
def test_provider_failure_leaves_the_refund_failed_and_books_nothing(stripe_on):
    payment, invoice = _paid()
    responses.add(responses.POST, STRIPE_REFUNDS, status=400, json={"error": {
        "type": "invalid_request_error", "code": "charge_already_refunded", "message": "Charge already refunded"}})

    refund = refund_create(payment=payment, amount=Decimal("100.00"), reason="x", actor="ops")

    payment.refresh_from_db()
    assert refund.status == "failed"
    assert "charge_already_refunded" in refund.failure_reason
    assert (payment.status, payment.amount_refunded) == ("completed", Decimal("0.00"))
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 0
    assert NotificationLog.objects.filter(event="refund_issued").count() == 0


@pytest.mark.django_db
def test_netcash_refund_is_recorded_for_manual_processing():
    payment, invoice = _paid(provider="netcash", txn="TRACE-9")

    refund = refund_create(payment=payment, amount=Decimal("500.00"), reason="Duplicate payment", actor="ops")

    payment.refresh_from_db()
    assert (refund.status, refund.provider_refund_id, refund.provider) == ("manual", None, "netcash")
    assert payment.status == "refunded"
    assert NotificationLog.objects.get(event="refund_issued").context["manual"] is True
    call_command("check_ledger")


@pytest.mark.django_db
@responses.activate
def test_pending_refunds_count_against_what_remains(stripe_on):
    payment, _ = _paid()
    Refund.objects.create(payment=payment, amount=Decimal("450.00"), reason="in flight", provider="stripe")

    with pytest.raises(RefundError, match="At most R 50.00"):
        refund_create(payment=payment, amount=Decimal("60.00"), reason="x", actor="ops")


@pytest.mark.django_db
@responses.activate
def test_a_refund_called_but_not_booked_is_booked_by_the_stripe_webhook(stripe_on, settings, client, monkeypatch):
    from tests.payments.stripe_helpers import WHSEC, charge_refunded, event, post_event

    settings.STRIPE = {**settings.STRIPE, "WEBHOOK_SECRET": WHSEC}
    payment, _ = _paid()
    _stripe_refund_ok(rid="re_crash", amount=10000)

    def crash(**kwargs):
        raise RuntimeError("worker died")

    with monkeypatch.context() as m, pytest.raises(RuntimeError):
        m.setattr("payments.services.refunds.refund_apply", crash)
        refund_create(payment=payment, amount=Decimal("100.00"), reason="x", actor="ops")
    pending = Refund.objects.get()
    assert (pending.status, pending.provider_refund_id) == ("pending", "re_crash")

    post_event(client, event("evt_rc", "charge.refunded", charge_refunded(payment, refunds=[("re_crash", 10000)])))

    pending.refresh_from_db()
    payment.refresh_from_db()
    assert (pending.status, payment.amount_refunded) == ("succeeded", Decimal("100.00"))
    assert Refund.objects.count() == 1
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 1
