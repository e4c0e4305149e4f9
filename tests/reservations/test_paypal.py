import json
from decimal import Decimal

import pytest
import responses

from inbox.models import WebhookEvent
from reservations.models import Puppy, Reservation
from reservations.services import reserve
from tests.reservations.factories import PuppyFactory, ReservationFactory
from tests.webhooks import deliver, event_status

PP = "https://api-m.sandbox.paypal.com"
BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "paypal"}
HEADERS = {"HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA", "HTTP_PAYPAL_CERT_URL": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
           "HTTP_PAYPAL_TRANSMISSION_ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
           "HTTP_PAYPAL_TRANSMISSION_SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==",
           "HTTP_PAYPAL_TRANSMISSION_TIME": "2026-11-23T09:30:00Z"}


def capture_event(r, event_id="WH-2WR32451HC0233532-67976317FL4543714", event_type="PAYMENT.CAPTURE.COMPLETED",
                  capture_id="3C679366HH908993F", value=None):
    return {"id": event_id, "event_version": "1.0", "create_time": "2026-11-23T09:30:00.000Z",
            "resource_type": "capture", "event_type": event_type, "summary": "Payment completed",
            "resource": {"id": capture_id, "status": "COMPLETED", "custom_id": r.reference, "final_capture": True,
                         "amount": {"currency_code": r.currency, "value": value or f"{r.deposit_amount:.2f}"},
                         "links": [{"href": f"{PP}/v2/payments/captures/{capture_id}", "rel": "self"}]}}


@pytest.fixture(autouse=True)
def _tasks_inline(tasks_run_inline):
    """The webhook's apply task runs inline (see tests/conftest.py)."""


def post(client, payload_or_body, **headers):
    body = payload_or_body if isinstance(payload_or_body, str) else json.dumps(payload_or_body)
    return deliver(client, "/api/paypal/webhook", body, **headers)


def mock_paypal(rsps, status="SUCCESS"):
    rsps.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    return rsps.post(f"{PP}/v1/notifications/verify-webhook-signature", json={"verification_status": status})


@pytest.mark.django_db
@responses.activate
def test_verified_capture_completed_confirms_once(client, paypal_settings):
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    verify = mock_paypal(responses)
    body = json.dumps(capture_event(r))

    first = post(client, body, **HEADERS)
    second = post(client, body, **HEADERS)

    assert (first.status_code, first.json()) == (200, {"status": "queued"})
    assert second.json() == {"status": "duplicate"}
    assert event_status("WH-2WR32451HC0233532-67976317FL4543714") == "processed"
    r.refresh_from_db()
    assert (r.status, r.external_payment_id, r.amount_paid) == ("paid", "3C679366HH908993F", Decimal("500.00"))
    sent = json.loads(verify.calls[0].request.body)
    assert sent["webhook_id"] == "WH-ID-1" and sent["auth_algo"] == "SHA256withRSA"
    assert sent["transmission_id"] == "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
    assert sent["webhook_event"] == json.loads(body)


@pytest.mark.django_db
@responses.activate
def test_failed_verification_is_refused_and_nothing_stored(client, paypal_settings):
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    mock_paypal(responses, status="FAILURE")
    response = client.post("/api/paypal/webhook", data=json.dumps(capture_event(r)), content_type="application/json",
                           **HEADERS)
    assert (response.status_code, response.json()["message"]) == (400, "PayPal signature verification failed")
    assert WebhookEvent.objects.count() == 0
    assert Reservation.objects.get(pk=r.pk).status == "pending"


@pytest.mark.django_db
@responses.activate
def test_missing_transmission_headers_fail_without_calling_paypal(client, paypal_settings):
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    response = client.post("/api/paypal/webhook", data=json.dumps(capture_event(r)), content_type="application/json")
    assert response.status_code == 400 and len(responses.calls) == 0
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_unconfigured_paypal_webhook_fails_closed(client, settings):
    settings.PAYPAL = {**settings.PAYPAL, "WEBHOOK_ID": ""}
    response = client.post("/api/paypal/webhook", data="{}", content_type="application/json")
    assert response.status_code == 503


@pytest.mark.django_db
@responses.activate
def test_denied_capture_cancels_and_refunded_capture_frees_the_puppy(client, paypal_settings):
    denied = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    paid = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    mock_paypal(responses)
    post(client, capture_event(denied, event_id="WH-D", event_type="PAYMENT.CAPTURE.DENIED",
                               capture_id="7XH40123ABCD4567K"), **HEADERS)
    post(client, capture_event(paid, event_id="WH-C"), **HEADERS)
    refund = {"id": "WH-R", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource_type": "refund",
              "resource": {"id": "1JU08902781691411", "status": "COMPLETED",
                           "amount": {"currency_code": "USD", "value": "500.00"},
                           "links": [{"href": f"{PP}/v2/payments/captures/3C679366HH908993F", "rel": "up"}]}}
    post(client, refund, **HEADERS)

    denied.refresh_from_db()
    paid.refresh_from_db()
    assert (denied.status, denied.puppy.status) == ("cancelled", "available")
    assert (paid.status, paid.refund_id, paid.puppy.status) == ("refunded", "1JU08902781691411", "available")
    assert dict(WebhookEvent.objects.values_list("event_id", "status")) == {
        "WH-D": "processed", "WH-C": "processed", "WH-R": "processed"}


@pytest.mark.django_db
@responses.activate
def test_create_order_and_capture_endpoints(client, paypal_settings):
    """A deposit on a listing priced in USD: the order is made in USD (PayPal takes no ZAR), captured,
    and the deposit booked. The control of `test_create_order_for_a_rand_deposit_is_refused_before_any_call`."""
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    assert r.currency == "USD"
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    order = responses.post(f"{PP}/v2/checkout/orders", status=201, json={
        "id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED",
        "links": [{"href": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T", "rel": "payer-action"}]})
    responses.post(f"{PP}/v2/checkout/orders/5O190127TN364715T/capture", status=201, json={
        "id": "5O190127TN364715T", "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": r.reference,
            "amount": {"currency_code": "USD", "value": "500.00"}}]}}]})

    created = client.post("/api/paypal/create-order", {"reference": r.reference}, content_type="application/json")
    bad = client.post("/api/paypal/capture", {"order_id": "abc"}, content_type="application/json")
    captured = client.post("/api/paypal/capture", {"order_id": "5O190127TN364715T"}, content_type="application/json")

    assert created.status_code == 201
    assert created.json() == {"id": "5O190127TN364715T", "reference": r.reference,
                              "approve_url": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"}
    assert bad.status_code == 400 and "order_id" in bad.json()["extra"]["fields"]
    assert captured.json() == {"reference": r.reference, "status": "paid", "refund_state": ""}
    assert json.loads(order.calls[0].request.body)["purchase_units"][0]["amount"] == {
        "currency_code": "USD", "value": "500.00"}
    paid = Reservation.objects.get(pk=r.pk)
    assert (paid.external_payment_id, paid.amount_paid, paid.currency) == ("3C679366HH908993F", Decimal("500.00"), "USD")


@pytest.mark.django_db
@responses.activate
def test_create_order_for_a_rand_deposit_is_refused_before_any_call(client, paypal_settings):
    """A PayPal hold on a rand listing (made before PayPal was refused for rand; `reserve` no longer makes
    one): create-order answers 400 `provider_not_offered`, PayPal is never called, the hold is released."""
    r = ReservationFactory(provider="paypal")  # the puppy is priced in rand
    assert r.currency == "ZAR"

    refused = client.post("/api/paypal/create-order", {"reference": r.reference}, content_type="application/json")

    assert refused.status_code == 400
    assert refused.json()["extra"]["code"] == "provider_not_offered"
    assert refused.json()["extra"]["offered"] == ["stripe"]
    assert "priced in ZAR" in refused.json()["message"]
    assert len(responses.calls) == 0
    r.refresh_from_db()
    assert (r.status, r.checkout_id, r.puppy.status) == ("cancelled", "", "available")


@pytest.mark.django_db
def test_reserving_a_rand_listing_with_paypal_is_refused_and_nothing_is_held(paypal_settings):
    from reservations.services import ProviderNotOffered

    puppy = PuppyFactory()  # priced in rand
    with pytest.raises(ProviderNotOffered) as refused:
        reserve(puppy.pk, **BUYER)

    assert refused.value.status_code == 400 and refused.value.extra["code"] == "provider_not_offered"
    assert not Reservation.objects.exists()
    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    # Controls: the same listing by card, and PayPal on a listing priced in USD.
    assert reserve(puppy.pk, **(BUYER | {"provider": "stripe"})).currency == "ZAR"
    assert reserve(PuppyFactory(currency="USD").pk, **BUYER).provider == "paypal"


@pytest.mark.django_db
@responses.activate
def test_paypal_return_page_captures_and_shows_success(client, paypal_settings):
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    Reservation.objects.filter(pk=r.pk).update(checkout_id="5O190127TN364715T")
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    capture = responses.post(f"{PP}/v2/checkout/orders/5O190127TN364715T/capture", status=201, json={
        "id": "5O190127TN364715T", "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": r.reference,
            "amount": {"currency_code": "USD", "value": "500.00"}}]}}]})

    response = client.get(f"/puppies/checkout/{r.reference}/paypal-return/", {"token": "5O190127TN364715T"},
                          follow=True)

    assert response.redirect_chain[-1][0] == f"/puppies/checkout/{r.reference}/success/"
    assert 'data-status="paid"' in response.content.decode()
    assert capture.calls[0].request.headers["PayPal-Request-Id"] == f"reservation-{r.pk}-capture"


def _paid_paypal_deposit_refund_requested():
    from reservations import services
    from reservations.services import reservation_confirm_payment

    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="paypal", external_payment_id="3C679366HH908993F",
                                amount=Decimal("500.00"), currency="USD")
    services.reservation_request_refund(reservation_id=r.pk, reason="litter cancelled")
    return r


@pytest.mark.django_db
@responses.activate
def test_a_paypal_deposit_refund_paypal_fails_is_owed_again_and_retried_under_a_new_request_id(paypal_settings):
    from reservations.tasks import refund_reservation

    r = _paid_paypal_deposit_refund_requested()
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    url = f"{PP}/v2/payments/captures/3C679366HH908993F/refund"
    responses.post(url, status=201, json={"id": "1FAILED0001", "status": "FAILED"})

    refund_reservation(r.pk)

    r.refresh_from_db()
    assert (r.status, r.refund_state, r.refund_id, r.refunded_at) == ("paid", "failed", "1FAILED0001", None)

    responses.replace(responses.POST, url, status=201, json={"id": "1DONE00002", "status": "COMPLETED"})
    refund_reservation(r.pk)

    r.refresh_from_db()
    assert (r.status, r.refund_state, r.refund_id) == ("refunded", "succeeded", "1DONE00002")
    ids = [c.request.headers["PayPal-Request-Id"] for c in responses.calls if c.request.url == url]
    assert ids == [f"reservation-{r.pk}-refund", f"reservation-{r.pk}-refund-after-1FAILED0001"]
