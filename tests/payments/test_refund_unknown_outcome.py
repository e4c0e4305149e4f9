"""A refund whose provider call ends with an unknown outcome (timeout / 5xx after the client's own
retries) stays reserved and unbooked, and `refunds_resolve_unknown` asks again with the same
idempotency key: booked once whether or not the first call had happened (refunds.py docstring)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from billing.models import LedgerEntry
from notifications.models import NotificationLog
from payments.models import Refund
from payments.services.refunds import UNKNOWN_OUTCOME, refund_create, refundable_amount, refunds_resolve_unknown
from tests.payments.stripe_helpers import charge_refunded, event, post_event
from tests.payments.test_refunds import STRIPE_REFUNDS, _paid
from tests.webhooks import event_status

PAYPAL = "https://api-m.sandbox.paypal.com"


def _stripe_down():
    responses.add(responses.POST, STRIPE_REFUNDS, status=503, json={"error": {"type": "api_error"}})


def _stripe_now_answers(rid, cents, status="succeeded"):
    """Stripe (back) answers the refunds endpoint with refund `rid` (a replay, or made now)."""
    responses.upsert(responses.POST, STRIPE_REFUNDS, status=200, json={
        "id": rid, "object": "refund", "amount": cents, "charge": "ch_3TestCharge0001",
        "payment_intent": "pi_3Refundable01", "currency": "zar", "status": status, "metadata": {}})


def _unknown_refund(amount="100.00"):
    """A completed R 500.00 Stripe payment and a refund of `amount` whose call Stripe never answered."""
    payment, _ = _paid()
    _stripe_down()
    return payment, refund_create(payment=payment, amount=Decimal(amount), reason="x", actor="ops")


def _later(minutes):
    return timezone.now() + timedelta(minutes=minutes)


def _refund_entries(payment):
    return list(LedgerEntry.objects.filter(payment=payment, entry_type="refund").values_list("reference", "amount"))


@pytest.mark.django_db
@responses.activate
def test_a_refund_whose_outcome_is_unknown_stays_reserved_and_is_booked_once_by_the_sweep(stripe_on, settings):
    settings.PROVIDER_RETRY = {"ATTEMPTS": 2}
    payment, _ = _paid()
    _stripe_down()

    refund = refund_create(payment=payment, amount=Decimal("200.00"), reason="Outage credit", actor="ops")

    payment.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == ("pending", None)
    assert refund.failure_reason.startswith(UNKNOWN_OUTCOME)
    assert (payment.status, payment.amount_refunded) == ("completed", Decimal("0.00"))
    assert refundable_amount(payment) == Decimal("300.00")  # reserved: a second refund cannot take it
    assert _refund_entries(payment) == []
    key = responses.calls[0].request.headers["Idempotency-Key"]
    assert key == f"refund:{refund.pk}"

    # A request may still be making the first call: the sweep leaves young rows alone.
    assert refunds_resolve_unknown()["booked"] == 0
    assert len(responses.calls) == 2

    _stripe_now_answers("re_late", 20000, "succeeded")
    assert refunds_resolve_unknown(now=_later(3)) == {"booked": 1, "pending": 0, "failed": 0, "unknown": 0,
                                                      "expired": 0}
    assert responses.calls[-1].request.headers["Idempotency-Key"] == key  # a replay, never a new refund

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.provider_refund_id, refund.failure_reason) == ("succeeded", "re_late", "")
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("200.00"))
    assert _refund_entries(payment) == [(f"refund:{refund.pk}", Decimal("200.00"))]
    calls = len(responses.calls)
    assert refunds_resolve_unknown(now=_later(20))["booked"] == 0
    assert len(responses.calls) == calls


@pytest.mark.django_db
@responses.activate
def test_the_providers_webhook_for_an_unknown_refund_waits_for_the_sweep_and_books_nothing_twice(client, stripe_on):
    payment, _ = _paid()
    _stripe_down()
    refund = refund_create(payment=payment, amount=Decimal("500.00"), reason="Duplicate", actor="ops")
    assert refund.status == "pending"

    # The first call had happened after all: Stripe's charge.refunded arrives before the sweep.
    payload = event("evt_unknown_1", "charge.refunded", charge_refunded(payment, refunds=[("re_first", 50000)]))
    post_event(client, payload)
    assert event_status("evt_unknown_1") == "failed"  # retried later
    assert _refund_entries(payment) == []

    _stripe_now_answers("re_first", 50000, "succeeded")
    assert refunds_resolve_unknown(now=_later(3))["booked"] == 1

    from inbox.models import WebhookEvent
    from inbox.services import webhook_process

    WebhookEvent.objects.filter(event_id="evt_unknown_1").update(next_attempt_at=timezone.now())
    webhook_process(event=WebhookEvent.objects.get(event_id="evt_unknown_1"))
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("500.00"))
    assert _refund_entries(payment) == [(f"refund:{refund.pk}", Decimal("500.00"))]
    assert Refund.objects.filter(payment=payment).count() == 1


@pytest.mark.django_db
@responses.activate
def test_the_sweep_fails_a_refund_the_provider_refuses(stripe_on):
    payment, refund = _unknown_refund()
    responses.replace(responses.POST, STRIPE_REFUNDS, status=400, json={"error": {
        "type": "invalid_request_error", "code": "charge_already_refunded", "message": "Charge already refunded."}})

    assert refunds_resolve_unknown(now=_later(3))["failed"] == 1

    refund.refresh_from_db()
    assert refund.status == "failed" and not refund.failure_reason.startswith(UNKNOWN_OUTCOME)
    assert refundable_amount(payment) == Decimal("500.00")


@pytest.mark.django_db
@responses.activate
def test_the_sweep_leaves_a_pending_answer_to_stripes_refund_events(stripe_on):
    payment, refund = _unknown_refund()
    _stripe_now_answers("re_slow", 10000, "pending")

    assert refunds_resolve_unknown(now=_later(3))["pending"] == 1

    refund.refresh_from_db()
    assert (refund.status, refund.provider_refund_id, refund.failure_reason) == ("pending", "re_slow", "")
    assert _refund_entries(payment) == []


@pytest.mark.django_db
@responses.activate
def test_a_key_the_provider_no_longer_keeps_is_not_replayed_ops_are_told_once(stripe_on, settings):
    settings.OPS_EMAIL = "ops@circletel.test"
    settings.OPS_WEBHOOK_URL = ""
    payment, refund = _unknown_refund()
    calls = len(responses.calls)

    assert refunds_resolve_unknown(now=_later(24 * 60))["expired"] == 1
    assert refunds_resolve_unknown(now=_later(24 * 60 + 10))["expired"] == 1

    assert len(responses.calls) == calls  # never called again: a replay could now make a second refund
    refund.refresh_from_db()
    assert refund.status == "pending"
    assert NotificationLog.objects.filter(event="ops_alert",
                                          idempotency_key=f"refund_unknown_expired:{refund.pk}").count() == 1


def _paypal_token():
    responses.add(responses.POST, f"{PAYPAL}/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})


@pytest.mark.django_db
@responses.activate
def test_a_paypal_refund_with_unknown_outcome_is_replayed_with_the_same_request_id(settings):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "cs", "API_BASE": PAYPAL}
    payment, _ = _paid(provider="paypal", txn="3C679366HH908993F")
    # Captured in USD at R 20.00 = USD 1 (PayPal takes no ZAR; issue 15): the refund is asked for in USD.
    type(payment).objects.filter(pk=payment.pk).update(raw_response={"paypal_quote": {
        "currency": "USD", "amount": "25.00", "source_currency": "ZAR", "source_amount": "500.00", "rate": "20.00"}})
    payment.refresh_from_db()
    _paypal_token()
    url = f"{PAYPAL}/v2/payments/captures/3C679366HH908993F/refund"
    responses.add(responses.POST, url, status=503, json={"name": "SERVICE_UNAVAILABLE"})

    refund = refund_create(payment=payment, amount=Decimal("50.00"), reason="x", actor="ops")
    assert refund.status == "pending" and refund.failure_reason.startswith(UNKNOWN_OUTCOME)

    responses.replace(responses.POST, url, status=201, json={"id": "1JU08902781691411", "status": "COMPLETED"})
    assert refunds_resolve_unknown(now=_later(3))["booked"] == 1

    refund.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == ("succeeded", "1JU08902781691411")
    request_ids = {c.request.headers.get("PayPal-Request-Id") for c in responses.calls if c.request.url == url}
    assert request_ids == {f"refund-{refund.pk}"}
    bodies = {c.request.body for c in responses.calls if c.request.url == url}
    assert [json.loads(body)["amount"] for body in bodies] == [{"currency_code": "USD", "value": "2.50"}]
    assert refund.amount == Decimal("50.00")  # the ledger refunds rands


@pytest.mark.django_db
@responses.activate
def test_a_refund_reserved_by_a_process_that_died_before_calling_stripe_is_made_once_by_the_sweep(stripe_on):
    from payments.services.refunds import refund_reserve

    payment, _ = _paid()
    refund = refund_reserve(payment=payment, amount=Decimal("100.00"), reason="x", actor="ops")  # then: killed
    _stripe_now_answers("re_after_crash", 10000)

    assert refunds_resolve_unknown(now=_later(3))["booked"] == 1

    refund.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == ("succeeded", "re_after_crash")
    assert [c.request.headers["Idempotency-Key"] for c in responses.calls] == [f"refund:{refund.pk}"]
