"""The one mapping from provider errors to our codes and customer words, and the places where a
provider's own text could reach a customer (it must not: it is kept for staff)."""

import pytest
import responses
from rest_framework.test import APIClient

from circletel.errors import PROVIDER_REFUSED_MESSAGE, PROVIDER_UNAVAILABLE_MESSAGE, drf_exception_handler
from circletel.http import PermanentProviderError, ProviderTimeoutError, RateLimitedError, RetryableProviderError
from payments.models import PaymentMethod, PaymentTransaction, StripeCustomer
from payments.provider_errors import MESSAGES, classify, classify_netcash_reason, classify_stripe_error
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice

STRIPE = "https://api.stripe.com/v1"
LEAKY = "Invalid API Key provided: sk_live_****abcd"


# --- the table ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("error, code", [
    ({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}, "insufficient_funds"),
    ({"type": "card_error", "code": "expired_card"}, "expired_card"),
    ({"type": "card_error", "code": "incorrect_cvc"}, "incorrect_card_details"),
    ({"type": "card_error", "code": "authentication_required"}, "authentication_required"),
    ({"type": "card_error", "code": "card_declined", "decline_code": "do_not_honor"}, "card_declined"),
    ({"type": "card_error", "code": "card_declined", "decline_code": "some_new_code"}, "card_declined"),
    ({"type": "invalid_request_error", "message": LEAKY}, "payment_rejected"),
    (None, "payment_rejected"),
])
def test_stripe_errors_map_to_our_codes(error, code):
    info = classify_stripe_error(error)
    assert (info.code, info.message, info.retryable) == (code, *MESSAGES[code])
    if error and error.get("message"):
        assert LEAKY not in info.message and LEAKY in info.raw


@pytest.mark.parametrize("exc, code, retryable", [
    (RateLimitedError("stripe rate limited the request", provider="stripe", http_status=429), "rate_limited", True),
    (RetryableProviderError("paypal is unavailable (503)", provider="paypal", http_status=503),
     "provider_unavailable", True),
    (ProviderTimeoutError("stripe timed out", provider="stripe"), "provider_unavailable", True),
    (PermanentProviderError("paypal rejected the request (422)", provider="paypal", http_status=422,
                            raw='{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"INSTRUMENT_DECLINED"}]}'),
     "card_declined", False),
    (PermanentProviderError("paypal rejected the request (422)", provider="paypal", http_status=422,
                            raw='{"details":[{"issue":"PAYER_ACTION_REQUIRED"}]}'), "authentication_required", False),
    (PermanentProviderError("stripe rejected the request (402)", provider="stripe", http_status=402,
                            raw='{"error":{"type":"card_error","code":"expired_card"}}'), "expired_card", False),
    (PermanentProviderError("stripe rejected the request (401)", provider="stripe", http_status=401,
                            raw='{"error":{"type":"invalid_request_error","message":"' + LEAKY + '"}}'),
     "payment_rejected", False),
])
def test_typed_provider_errors_map_to_code_and_retryable_flag(exc, code, retryable):
    info = classify(exc)
    assert (info.code, info.retryable) == (code, retryable)
    assert info.message == MESSAGES[code][0]
    assert "sk_live" not in info.message


@pytest.mark.parametrize("reason, code", [
    ("Insufficient funds (51)", "insufficient_funds"),
    ("Card expired", "expired_card"),
    ("3D Secure authentication failed", "authentication_required"),
    ("Invalid CVV", "incorrect_card_details"),
    ("Do not honour", "card_declined"),
    ("", "card_declined"),
    (None, "card_declined"),
])
def test_netcash_decline_reasons_map_to_our_codes(reason, code):
    info = classify_netcash_reason(reason)
    assert (info.code, info.message) == (code, MESSAGES[code][0])
    assert info.raw == ((reason or "").strip() or "Declined")


# --- provider text never reaches a customer --------------------------------------------------------------
def _saved_card_customer():
    user = UserFactory()
    customer = CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)
    invoice = make_invoice(customer, "120.00")
    method = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                          last_four="4242", provider_token="pm_card_4242")
    return client, invoice, method


def _stripe_401():
    responses.add(responses.POST, f"{STRIPE}/customers", status=401, json={"error": {
        "type": "invalid_request_error", "message": LEAKY}})


@pytest.mark.django_db
@responses.activate
def test_saved_card_pay_when_stripe_refuses_our_key_answers_in_our_words(stripe_on):
    client, invoice, method = _saved_card_customer()
    _stripe_401()

    response = client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                     "payment_method_id": method.pk}, format="json")

    assert response.status_code == 402
    body = response.json()
    assert body["message"] == MESSAGES["payment_rejected"][0]
    assert body["extra"] == {"code": "payment_rejected", "message": MESSAGES["payment_rejected"][0],
                             "retryable": False}
    assert "sk_live" not in response.content.decode() and "API Key" not in response.content.decode()
    assert not PaymentTransaction.objects.exists() and not StripeCustomer.objects.exists()
    assert [c.request.url for c in responses.calls] == [f"{STRIPE}/customers"]  # no intent was attempted


@pytest.mark.django_db
@responses.activate
def test_saving_a_card_when_stripe_refuses_our_key_answers_in_our_words(stripe_on):
    user = UserFactory()
    customer = CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)
    _stripe_401()

    response = client.post("/api/payments/methods", {"stripe_payment_method_id": "pm_card_visa"}, format="json")

    assert response.status_code == 402, response.content
    assert "sk_live" not in response.content.decode() and "API Key" not in response.content.decode()
    assert response.json()["extra"]["code"] == "payment_rejected"
    assert not PaymentMethod.objects.filter(customer=customer).exists()


@pytest.mark.parametrize("exc, message", [
    (PermanentProviderError(f"stripe rejected the request: {LEAKY}", provider="stripe", http_status=401, raw=LEAKY),
     PROVIDER_REFUSED_MESSAGE),
    (RetryableProviderError("paypal is unavailable (503)", provider="paypal", http_status=503, raw="upstream 503"),
     PROVIDER_UNAVAILABLE_MESSAGE),
])
def test_a_provider_error_escaping_to_the_api_is_answered_generically(exc, message):
    response = drf_exception_handler(exc, {})
    assert response.status_code == 502
    assert response.data == {"message": message, "extra": {"retryable": exc.retryable}}
    assert "sk_live" not in str(response.data)


def test_other_application_errors_keep_their_message():
    from payments.errors import PaymentError

    response = drf_exception_handler(PaymentError("This invoice has nothing left to pay.", {"invoice": "INV-1"}), {})
    assert (response.status_code, response.data["message"]) == (400, "This invoice has nothing left to pay.")
    assert response.data["extra"] == {"invoice": "INV-1"}



@pytest.mark.django_db
@responses.activate
def test_stripe_client_keeps_stripes_words_out_of_the_message(stripe_on):
    from circletel.http import PermanentProviderError as Permanent
    from payments.clients import stripe as stripe_client

    _stripe_401()
    with pytest.raises(Permanent) as info:
        stripe_client.customer_create(email="a@example.co.za", name="A", reference="CT-2026-00001",
                                      idempotency_key="customer:1")
    assert info.value.message == "stripe rejected the request (401)"
    assert LEAKY in info.value.raw  # for staff


# --- a saved card the bank wants confirmed: the customer can finish it ----------------------------------
@pytest.mark.django_db
@responses.activate
def test_saved_card_needing_3ds_hands_back_the_client_secret(stripe_on):
    client, invoice, method = _saved_card_customer()
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_1", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json={
        "id": "pi_3ds", "object": "payment_intent", "amount": 12000, "currency": "zar", "status": "requires_action",
        "client_secret": "pi_3ds_secret_abc", "latest_charge": None, "metadata": {}})

    response = client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                     "payment_method_id": method.pk}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["payment"]["status"] == "pending"
    assert (body["next_action"], body["client_secret"], body["payment_intent"]) == (
        "authenticate", "pi_3ds_secret_abc", "pi_3ds")
