"""`POST /api/webhooks/stripe` for invoice payments: signatures (real SDK signing), apply once,
out-of-order delivery, refunds reported by Stripe."""

import time
from decimal import Decimal

import pytest

from billing.models import LedgerEntry
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Refund, WebhookEvent
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice
from tests.payments.payments2_helpers import WHSEC, charge_refunded, event, intent, post_event, signed


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "sk_test_123", "WEBHOOK_SECRET": WHSEC}
    return settings


@pytest.fixture
def pending(db):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "500.00")
    return PaymentTransaction.objects.create(
        customer=customer, invoice=invoice, amount=Decimal("500.00"), method="stripe", provider="stripe",
        reference=f"{invoice.number}-ABC123", provider_transaction_id="pi_3TestIntent0001", status="pending")


def _events(client, *payloads):
    return [post_event(client, p) for p in payloads]


@pytest.mark.django_db
def test_succeeded_completes_allocates_and_notifies_once(client, stripe_on, pending, django_capture_on_commit_callbacks):
    payload = event("evt_ok_1", "payment_intent.succeeded", intent(pending))
    with django_capture_on_commit_callbacks(execute=False):
        first, again = _events(client, payload, payload)

    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate", "event_status": "processed"})
    pending.refresh_from_db()
    pending.invoice.refresh_from_db()
    assert (pending.status, pending.provider_method, pending.raw_response["latest_charge"]) == (
        "completed", "Card (Stripe)", "ch_3TestCharge0001")
    assert (pending.invoice.status, pending.invoice.amount_paid) == ("paid", Decimal("500.00"))
    assert list(LedgerEntry.objects.filter(payment=pending).values_list("reference", "amount")) == [
        (f"payment:{pending.pk}", Decimal("-500.00"))]
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    assert pending.zoho_sync_status == "pending"


@pytest.mark.django_db
def test_same_intent_under_a_second_event_id_applies_once(client, stripe_on, pending):
    _events(client, event("evt_a", "payment_intent.succeeded", intent(pending)),
            event("evt_b", "payment_intent.succeeded", intent(pending)))

    assert LedgerEntry.objects.filter(payment=pending).count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    assert WebhookEvent.objects.filter(status="processed").count() == 2


@pytest.mark.django_db
def test_late_failed_after_succeeded_does_not_move_the_payment_back(client, stripe_on, pending):
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
             "message": "Your card has insufficient funds."}
    ok, late = _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)),
                       event("evt_f", "payment_intent.payment_failed",
                             intent(pending, status="requires_payment_method", error=error)))

    assert late.json() == {"status": "ignored"}
    pending.refresh_from_db()
    assert (pending.status, pending.failure_reason, pending.needs_review) == ("completed", "", False)
    assert NotificationLog.objects.filter(event="payment_failed").count() == 0
    assert "late payment_failed ignored" in WebhookEvent.objects.get(event_id="evt_f").error


@pytest.mark.django_db
def test_failed_then_succeeded_completes(client, stripe_on, pending):
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
             "message": "Your card has insufficient funds. (raw stripe text)"}
    _events(client, event("evt_f", "payment_intent.payment_failed",
                          intent(pending, status="requires_payment_method", error=error)))
    pending.refresh_from_db()
    assert pending.status == "failed"
    assert pending.failure_reason == ("Your card has insufficient funds. Please use another card or payment method.")
    assert pending.raw_response["error_code"] == "insufficient_funds"
    assert "raw stripe text" in pending.raw_response["provider_error"]  # staff only
    log = NotificationLog.objects.get(event="payment_failed")
    assert "raw stripe text" not in str(log.context)

    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    pending.refresh_from_db()
    assert pending.status == "completed"
    assert LedgerEntry.objects.filter(payment=pending).count() == 1


@pytest.mark.django_db
def test_reservation_intents_are_ignored(client, stripe_on, pending):
    response = post_event(client, event("evt_r", "payment_intent.succeeded",
                                        intent(pending, kind="reservation_deposit")))

    assert response.json() == {"status": "ignored"}
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_amount_mismatch_fails_the_event_and_changes_nothing(client, stripe_on, pending):
    response = post_event(client, event("evt_m", "payment_intent.succeeded", intent(pending, amount_cents=100)))

    assert response.json() == {"status": "failed"}
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert LedgerEntry.objects.filter(payment=pending).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "stale", "missing"])
def test_bad_signatures_are_refused_and_nothing_is_stored(client, stripe_on, pending, case):
    payload = event("evt_bad", "payment_intent.succeeded", intent(pending))
    if case == "wrong_secret":
        body, header = signed(payload, secret="whsec_other")
    elif case == "stale":
        body, header = signed(payload, timestamp=int(time.time()) - 301)
    else:
        body, header = signed(payload)
    if case == "tampered":
        body = body.replace('"amount": 50000', '"amount": 1')
    extra = {} if case == "missing" else {"HTTP_STRIPE_SIGNATURE": header}

    response = client.post("/api/webhooks/stripe", data=body, content_type="application/json", **extra)

    assert response.status_code == 400
    assert response.json()["message"] == "invalid Stripe signature"
    assert WebhookEvent.objects.count() == 0
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_charge_refunded_books_each_refund_once(client, stripe_on, pending):
    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    partial = event("evt_r1", "charge.refunded", charge_refunded(pending, refunds=[("re_1", 20000)]))
    both = event("evt_r2", "charge.refunded", charge_refunded(pending, refunds=[("re_1", 20000), ("re_2", 5000)]))

    _events(client, partial, both, partial)

    pending.refresh_from_db()
    pending.invoice.refresh_from_db()
    assert (pending.status, pending.amount_refunded) == ("partially_refunded", Decimal("250.00"))
    assert sorted(Refund.objects.values_list("provider_refund_id", "amount", "status", "source")) == [
        ("re_1", Decimal("200.00"), "succeeded", "webhook"), ("re_2", Decimal("50.00"), "succeeded", "webhook")]
    assert sorted(LedgerEntry.objects.filter(entry_type="refund").values_list("amount", flat=True)) == [
        Decimal("50.00"), Decimal("200.00")]
    assert (pending.invoice.amount_paid, pending.invoice.status) == (Decimal("250.00"), "partial")
    assert NotificationLog.objects.filter(event="refund_issued").count() == 2


@pytest.mark.django_db
def test_charge_refunded_without_expanded_refunds_books_the_difference(client, stripe_on, pending):
    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    _events(client, event("evt_r", "charge.refunded", charge_refunded(pending, amount_refunded=50000)))

    pending.refresh_from_db()
    assert (pending.status, pending.amount_refunded) == ("refunded", Decimal("500.00"))
    refund = Refund.objects.get()
    assert (refund.provider_refund_id, refund.amount) == ("ch_3TestCharge0001:50000", Decimal("500.00"))
