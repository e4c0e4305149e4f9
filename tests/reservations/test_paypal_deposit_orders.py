"""`POST /api/paypal/create-order` for a deposit (issue 13 check): an order is made only for a
pending PayPal reservation's reference; anything else is refused without a PayPal call or a write."""

import json

import pytest
import responses

from reservations.models import Reservation
from reservations.services import reserve
from tests.reservations.factories import PuppyFactory, ReservationFactory
from tests.reservations.test_paypal import BUYER, PP

ORDER = "5O190127TN364715T"


def _paypal():
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    return responses.post(f"{PP}/v2/checkout/orders", status=201, json={
        "id": ORDER, "status": "PAYER_ACTION_REQUIRED",
        "links": [{"href": f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER}", "rel": "payer-action"}]})


def _create(client, reference):
    return client.post("/api/paypal/create-order", {"kind": "reservation_deposit", "reference": reference},
                       content_type="application/json")


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("status", ["paid", "expired", "cancelled", "refunded"])
def test_deposit_order_for_a_reservation_that_is_not_pending_is_refused(client, paypal_settings, status):
    orders = _paypal()
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    Reservation.objects.filter(pk=r.pk).update(status=status)

    refused = _create(client, r.reference)

    assert refused.status_code == 409
    assert orders.call_count == 0
    r.refresh_from_db()
    assert (r.status, r.checkout_id) == (status, "")


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("case", ["unknown", "stripe_reservation"])
def test_deposit_order_for_an_unknown_or_other_provider_reference_is_404(client, paypal_settings, case):
    orders = _paypal()
    reference = "RSV-000000000000"
    if case == "stripe_reservation":
        reference = reserve(PuppyFactory().pk, **(BUYER | {"provider": "stripe"})).reference

    refused = _create(client, reference)

    assert refused.status_code == 404
    assert orders.call_count == 0
    assert not Reservation.objects.exclude(checkout_id="").exists()


@pytest.mark.django_db
@responses.activate
def test_deposit_order_for_a_pending_reservation_is_created(client, paypal_settings):
    """The control of the refusals above and below: a listing priced in USD, sent to PayPal in USD."""
    orders = _paypal()
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)

    created = _create(client, r.reference)

    assert created.status_code == 201
    assert created.json()["id"] == ORDER
    assert orders.call_count == 1
    assert json.loads(orders.calls[0].request.body)["purchase_units"][0]["amount"] == {
        "currency_code": "USD", "value": "500.00"}
    r.refresh_from_db()
    assert (r.status, r.checkout_id) == ("pending", ORDER)


@pytest.mark.django_db
@responses.activate
def test_deposit_order_for_a_rand_deposit_is_refused_without_a_paypal_call(client, paypal_settings):
    """PayPal takes no ZAR (ADR 0014). A pending PayPal hold on a rand listing (one made before the rule;
    `reserve` refuses to make it now) gets 400 `provider_not_offered`: no token, no order, hold released."""
    orders = _paypal()
    r = ReservationFactory(provider="paypal")
    assert r.currency == "ZAR"

    refused = _create(client, r.reference)

    assert refused.status_code == 400 and refused.json()["extra"]["code"] == "provider_not_offered"
    assert orders.call_count == 0 and len(responses.calls) == 0
    r.refresh_from_db()
    assert (r.status, r.checkout_id, r.puppy.status) == ("cancelled", "", "available")
