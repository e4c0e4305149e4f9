import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import cache

from circletel.http import PermanentProviderError, RateLimitedError, RetryableProviderError
from payments.clients import paypal
from payments.clients import stripe as stripe_client

PP = "https://api-m.sandbox.paypal.com"


def token(rsps, expires_in=32400):
    return rsps.post(f"{PP}/v1/oauth2/token", json={"scope": "x", "access_token": "A21AA-token", "token_type": "Bearer",
                                                    "app_id": "APP-80W284485P519543T", "expires_in": expires_in})


@responses.activate
def test_stripe_checkout_session_create_sends_cents_zar_metadata_and_idempotency_key(stripe_settings):
    call = responses.post("https://api.stripe.com/v1/checkout/sessions", json={
        "id": "cs_test_a1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_a1",
        "status": "open", "payment_status": "unpaid", "payment_intent": None, "client_reference_id": "RSV-ABC",
        "amount_total": 150050, "currency": "zar", "metadata": {"kind": "reservation_deposit", "reference": "RSV-ABC"}})

    session = stripe_client.checkout_session_create(
        amount=Decimal("1500.50"), description="Deposit: Bella", reference="RSV-ABC", kind="reservation_deposit",
        success_url="https://x/s", cancel_url="https://x/c", customer_email="a@b.co.za", expires_at=1900000000,
        idempotency_key="reservation:7:checkout")

    assert session.id == "cs_test_a1" and session.url.endswith("cs_test_a1") and session.amount_total == 150050
    request = call.calls[0].request
    form = parse_qs(request.body)
    assert form["line_items[0][price_data][unit_amount]"] == ["150050"]
    assert form["line_items[0][price_data][currency]"] == ["zar"]
    assert form["client_reference_id"] == ["RSV-ABC"] and form["mode"] == ["payment"]
    assert form["metadata[reference]"] == ["RSV-ABC"] and form["payment_intent_data[metadata][kind]"] == [
        "reservation_deposit"]
    assert form["expires_at"] == ["1900000000"]
    assert request.headers["Idempotency-Key"] == "reservation:7:checkout"
    assert request.headers["Authorization"] == "Bearer sk_test_123"


@pytest.mark.parametrize("status,error", [(400, PermanentProviderError), (429, RateLimitedError),
                                          (503, RetryableProviderError)])
@responses.activate
def test_stripe_errors_are_typed(stripe_settings, status, error):
    responses.post("https://api.stripe.com/v1/refunds", status=status,
                   json={"error": {"type": "invalid_request_error", "message": "No such payment_intent"}})
    with pytest.raises(error):
        stripe_client.refund_create(payment_intent="pi_x", idempotency_key="k")


def test_stripe_not_configured_is_clear(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": ""}
    with pytest.raises(ImproperlyConfigured, match="STRIPE_SECRET_KEY"):
        stripe_client.checkout_session_retrieve("cs_1")


@responses.activate
def test_paypal_token_is_cached_and_order_created(paypal_settings):
    t = token(responses)
    call = responses.post(f"{PP}/v2/checkout/orders", status=201, json={
        "id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED",
        "links": [{"href": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T", "rel": "payer-action",
                   "method": "GET"}]})

    for _ in range(2):  # a deposit on a listing priced in USD (PayPal takes no ZAR, ADR 0014)
        order = paypal.order_create(amount=Decimal("500"), currency="USD", reference="RSV-ABC", description="Deposit",
                                    return_url="https://x/r", cancel_url="https://x/c", request_id="reservation-1-order")

    assert (order.id, order.approve_url) == ("5O190127TN364715T",
                                             "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T")
    assert t.call_count == 1 and call.call_count == 2
    assert responses.calls[0].request.body == "grant_type=client_credentials"
    assert responses.calls[0].request.headers["Authorization"] == "Basic Y2lkOmNzZWNyZXQ="
    req = call.calls[0].request
    assert req.headers["PayPal-Request-Id"] == "reservation-1-order"
    assert req.headers["Authorization"] == "Bearer A21AA-token"
    body = json.loads(req.body)
    assert body["intent"] == "CAPTURE"
    assert body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "500.00"}
    assert body["purchase_units"][0]["custom_id"] == "RSV-ABC"


@responses.activate
def test_paypal_order_in_zar_is_refused_before_any_request(paypal_settings):
    """PayPal takes no ZAR (CONTRACTS 4 "Currency (2026-12)"): the client refuses it without asking PayPal,
    not even for a token. The control is the USD order above."""
    token(responses)
    call = responses.post(f"{PP}/v2/checkout/orders", status=201, json={"id": "5O190127TN364715T"})

    with pytest.raises(paypal.CurrencyNotSupported):
        paypal.order_create(amount=Decimal("500"), currency="ZAR", reference="RSV-ABC", description="Deposit",
                            return_url="https://x/r", cancel_url="https://x/c", request_id="reservation-1-order")

    assert call.call_count == 0 and len(responses.calls) == 0


@responses.activate
def test_paypal_capture_and_refund(paypal_settings):
    token(responses)
    responses.post(f"{PP}/v2/checkout/orders/5O190127TN364715T/capture", status=201, json={
        "id": "5O190127TN364715T", "status": "COMPLETED",
        "purchase_units": [{"reference_id": "RSV-ABC", "payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": "RSV-ABC",
            "amount": {"currency_code": "ZAR", "value": "500.00"}, "final_capture": True}]}}]})
    refund = responses.post(f"{PP}/v2/payments/captures/3C679366HH908993F/refund", status=201,
                            json={"id": "1JU08902781691411", "status": "COMPLETED"})

    capture = paypal.order_capture(order_id="5O190127TN364715T", request_id="reservation-1-capture")
    result = paypal.capture_refund(capture_id=capture.capture_id, request_id="reservation-1-refund")

    assert (capture.capture_id, capture.capture_status, capture.amount, capture.custom_id) == (
        "3C679366HH908993F", "COMPLETED", Decimal("500.00"), "RSV-ABC")
    assert (result.id, result.status) == ("1JU08902781691411", "COMPLETED")
    assert json.loads(refund.calls[0].request.body) == {}


@responses.activate
def test_paypal_401_drops_the_cached_token(paypal_settings):
    token(responses)
    responses.post(f"{PP}/v2/checkout/orders/X/capture", status=401, json={"error": "invalid_token"})
    with pytest.raises(PermanentProviderError):
        paypal.order_capture(order_id="X", request_id="r")
    assert cache.get("paypal:access_token") is None
