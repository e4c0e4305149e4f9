"""Stripe and PayPal calls that are safe to repeat (reads, and POSTs carrying our idempotency key)
are retried while `classify(exc).retryable` says so; keyless POSTs and declines run exactly once.
Providers are mocked at the HTTP boundary; the clients' `sleep` is replaced so nothing waits."""

from decimal import Decimal

import pytest
import responses

from circletel.http import PermanentProviderError, RateLimitedError, RetryableProviderError
from payments.clients import paypal as paypal_client
from payments.clients import stripe as stripe_client
from payments.services.refunds import refund_create
from tests.payments.stripe_helpers import STRIPE_API
from tests.payments.test_paypal_invoices import API as PAYPAL_API
from tests.payments.test_paypal_invoices import _token
from tests.payments.test_refunds import _paid

REFUNDS = f"{STRIPE_API}/v1/refunds"
INTENTS = f"{STRIPE_API}/v1/payment_intents"
SESSION = f"{STRIPE_API}/v1/checkout/sessions/cs_test_1"
ATTACH = f"{STRIPE_API}/v1/payment_methods/pm_1/attach"
CAPTURE_REFUND = f"{PAYPAL_API}/v2/payments/captures/3C679366HH908993F/refund"
STRIPE_500 = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
REFUND_OK = {"id": "re_1", "object": "refund", "amount": 10000, "payment_intent": "pi_3Refundable01",
             "currency": "zar", "status": "succeeded", "metadata": {}}


@pytest.fixture
def sleeps(monkeypatch):
    """Waits the clients asked for, in seconds; nothing really sleeps."""
    waits: list[float] = []
    monkeypatch.setattr(stripe_client, "sleep", waits.append)
    monkeypatch.setattr(paypal_client, "sleep", waits.append)
    return waits


@pytest.fixture
def paypal_on(settings, db):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": PAYPAL_API}


def _keys(header: str) -> list[str]:
    return [call.request.headers.get(header) for call in responses.calls]


# --- Stripe ------------------------------------------------------------------------------------------


@responses.activate
def test_stripe_refund_500_then_200_retries_once_with_the_same_idempotency_key(stripe_on, sleeps):
    responses.add(responses.POST, REFUNDS, status=500, json=STRIPE_500)
    responses.add(responses.POST, REFUNDS, status=200, json=REFUND_OK)

    refund = stripe_client.refund_create(payment_intent="pi_3Refundable01", amount=Decimal("100.00"),
                                         idempotency_key="refund:42")

    assert (refund.id, refund.status, refund.amount) == ("re_1", "succeeded", 10000)
    assert _keys("Idempotency-Key") == ["refund:42", "refund:42"]
    assert responses.calls[0].request.body == responses.calls[1].request.body
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5  # full jitter within BASE_SECONDS


@responses.activate
def test_stripe_429_then_200_retries(stripe_on, sleeps):
    responses.add(responses.POST, REFUNDS, status=429, json={"error": {
        "type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}})
    responses.add(responses.POST, REFUNDS, status=200, json=REFUND_OK)

    assert stripe_client.refund_create(payment_intent="pi_3Refundable01", idempotency_key="refund:43").id == "re_1"

    assert _keys("Idempotency-Key") == ["refund:43", "refund:43"]
    assert len(sleeps) == 1


@responses.activate
def test_stripe_card_declined_402_is_not_retried(stripe_on, sleeps):
    responses.add(responses.POST, INTENTS, status=402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Declined"}})

    with pytest.raises(PermanentProviderError) as info:
        stripe_client.payment_intent_create(amount=Decimal("120.00"), reference="PAY-1", customer="cus_1",
                                            payment_method="pm_1", confirm=True,
                                            idempotency_key="payment:1")

    assert info.value.http_status == 402
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_stripe_read_is_retried_on_503(stripe_on, sleeps):
    responses.add(responses.GET, SESSION, status=503, json=STRIPE_500)
    responses.add(responses.GET, SESSION, json={"id": "cs_test_1", "object": "checkout.session", "status": "complete",
                                                "payment_status": "paid", "metadata": {}})

    assert stripe_client.checkout_session_retrieve("cs_test_1").payment_status == "paid"

    assert len(responses.calls) == 2 and len(sleeps) == 1


@responses.activate
def test_stripe_keyless_post_is_called_once_on_500(stripe_on, sleeps):
    responses.add(responses.POST, ATTACH, status=500, json=STRIPE_500)
    responses.add(responses.POST, ATTACH, json={"id": "pm_1", "object": "payment_method", "customer": "cus_1",
                                               "card": {"brand": "visa", "last4": "4242"}})

    with pytest.raises(RetryableProviderError):
        stripe_client.payment_method_attach(payment_method_id="pm_1", customer="cus_1")

    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_stripe_gives_up_after_the_configured_attempts(stripe_on, sleeps):
    stripe_on.PROVIDER_RETRY = {"ATTEMPTS": 2, "BASE_SECONDS": 0.1, "CAP_SECONDS": 1}
    responses.add(responses.POST, REFUNDS, status=502, json=STRIPE_500)

    with pytest.raises(RetryableProviderError) as info:
        stripe_client.refund_create(payment_intent="pi_3Refundable01", idempotency_key="refund:44")

    assert info.value.http_status == 502
    assert len(responses.calls) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.1


@pytest.mark.django_db
@responses.activate
def test_a_refund_survives_one_stripe_500(stripe_on, sleeps):
    payment, _ = _paid()
    responses.add(responses.POST, REFUNDS, status=500, json=STRIPE_500)
    responses.add(responses.POST, REFUNDS, status=200, json=REFUND_OK)

    refund = refund_create(payment=payment, amount=Decimal("100.00"), reason="Service outage", actor="ops")

    payment.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == ("succeeded", "re_1")
    assert payment.amount_refunded == Decimal("100.00")
    assert _keys("Idempotency-Key") == [f"refund:{refund.pk}"] * 2
    assert len(sleeps) == 1


# --- PayPal ------------------------------------------------------------------------------------------


@responses.activate
def test_paypal_capture_refund_503_then_201_retries_with_the_same_request_id(paypal_on, sleeps):
    _token()
    responses.add(responses.POST, CAPTURE_REFUND, status=503, json={"name": "SERVICE_UNAVAILABLE"})
    responses.add(responses.POST, CAPTURE_REFUND, status=201, json={"id": "1JU08902781691411", "status": "COMPLETED"})

    refund = paypal_client.capture_refund(capture_id="3C679366HH908993F", amount=Decimal("2.50"), currency="USD",
                                          request_id="refund-7")

    assert (refund.id, refund.status) == ("1JU08902781691411", "COMPLETED")
    refund_calls = [c for c in responses.calls if c.request.url == CAPTURE_REFUND]
    assert [c.request.headers["PayPal-Request-Id"] for c in refund_calls] == ["refund-7", "refund-7"]
    assert refund_calls[0].request.body == refund_calls[1].request.body
    assert len(sleeps) == 1


@responses.activate
def test_paypal_429_waits_as_told_capped(paypal_on, sleeps):
    capture = f"{PAYPAL_API}/v2/checkout/orders/5O190127TN364715T/capture"
    _token()
    responses.add(responses.POST, capture, status=429, headers={"Retry-After": "2"})
    responses.add(responses.POST, capture, status=429, headers={"Retry-After": "60"})
    responses.add(responses.POST, capture, status=201, json={"id": "5O190127TN364715T", "status": "COMPLETED"})

    assert paypal_client.order_capture(order_id="5O190127TN364715T", request_id="capture-9").order_status == "COMPLETED"

    assert sleeps == [2.0, 5.0]  # Retry-After honoured, capped at CAP_SECONDS


@responses.activate
def test_paypal_instrument_declined_is_not_retried(paypal_on, sleeps):
    capture = f"{PAYPAL_API}/v2/checkout/orders/5O190127TN364715T/capture"
    _token()
    responses.add(responses.POST, capture, status=422, json={
        "name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "INSTRUMENT_DECLINED"}]})

    with pytest.raises(PermanentProviderError):
        paypal_client.order_capture(order_id="5O190127TN364715T", request_id="capture-10")

    assert len([c for c in responses.calls if c.request.url == capture]) == 1 and sleeps == []


@responses.activate
def test_paypal_keyless_post_is_called_once_on_500(paypal_on, sleeps):
    verify = f"{PAYPAL_API}/v1/notifications/verify-webhook-signature"
    _token()
    responses.add(responses.POST, verify, status=500)
    responses.add(responses.POST, verify, json={"verification_status": "SUCCESS"})
    headers = {"PAYPAL-AUTH-ALGO": "SHA256withRSA", "PAYPAL-CERT-URL": f"{PAYPAL_API}/cert.pem",
               "PAYPAL-TRANSMISSION-ID": "tx-1", "PAYPAL-TRANSMISSION-SIG": "sig",
               "PAYPAL-TRANSMISSION-TIME": "2026-08-01T10:00:00Z"}

    with pytest.raises(RetryableProviderError):
        paypal_client.webhook_verify(headers=headers, event={"id": "WH-1"})

    assert len([c for c in responses.calls if c.request.url == verify]) == 1 and sleeps == []


@responses.activate
def test_paypal_rate_limit_on_the_last_attempt_is_raised(paypal_on, sleeps):
    _token()
    responses.add(responses.POST, CAPTURE_REFUND, status=429)

    with pytest.raises(RateLimitedError):
        paypal_client.capture_refund(capture_id="3C679366HH908993F", request_id="refund-8")

    assert len([c for c in responses.calls if c.request.url == CAPTURE_REFUND]) == 3  # default ATTEMPTS
    assert len(sleeps) == 2
