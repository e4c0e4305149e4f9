"""Issue 15: PayPal takes no ZAR, so PayPal is offered for a deposit only on a listing priced in a PayPal
currency (ADR 0014). One rule (`reservations.selectors.deposit_provider_offered`) decides for the puppy
page, the reservations API and the checkout service. Each refusal has its control beside it: the same
request on a listing priced in USD offers PayPal and creates the PayPal order (in USD)."""

import json
from decimal import Decimal

import pytest
import responses

from reservations import selectors
from reservations.models import Puppy, Reservation
from reservations.services import ProviderNotOffered, reservation_start_checkout
from tests.reservations.factories import PuppyFactory, ReservationFactory

PP = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
APPROVE = f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER}"
FORM = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "paypal"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def both_providers(stripe_settings, paypal_settings, settings):
    """Stripe and PayPal configured, no sandbox: what the page offers is decided by the listing alone."""
    settings.SANDBOX_GATEWAY_ENABLED = False


def _paypal_order():
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    return responses.post(f"{PP}/v2/checkout/orders", status=201, json={
        "id": ORDER, "status": "PAYER_ACTION_REQUIRED", "links": [{"href": APPROVE, "rel": "payer-action"}]})


# --- the rule ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider,currency,offered", [
    ("paypal", "ZAR", False), ("paypal", "zar", False), ("paypal", "", False), ("paypal", "XYZ", False),
    ("paypal", "USD", True), ("paypal", "EUR", True), ("paypal", "GBP", True),
    ("stripe", "ZAR", True), ("stripe", "USD", True), ("other", "USD", False)])
def test_the_one_rule(provider, currency, offered):
    assert selectors.deposit_provider_offered(provider, currency=currency) is offered


# --- the puppy page ------------------------------------------------------------------------------------

@responses.activate
def test_page_of_a_rand_listing_offers_card_only(client, both_providers):
    PuppyFactory(slug="bella", deposit_amount=Decimal("500.00"))

    html = client.get("/puppies/bella/").content.decode()

    assert 'id="reserve-stripe"' in html and "Reserve with card" in html
    assert 'id="reserve-paypal"' not in html and "Reserve with PayPal" not in html
    assert "R 500.00" in html
    assert len(responses.calls) == 0


@responses.activate
def test_page_of_a_usd_listing_offers_paypal_and_card(client, both_providers):
    """Control: PayPal is offered where the listing is priced in a PayPal currency; prices read in USD."""
    PuppyFactory(slug="milo", price=Decimal("950.00"), deposit_amount=Decimal("150.00"), currency="USD")

    html = client.get("/puppies/milo/").content.decode()

    assert 'id="reserve-paypal"' in html and 'id="reserve-stripe"' in html
    assert "Price: USD 950.00" in html and "Deposit to reserve: <strong>USD 150.00" in html
    assert "R 150.00" not in html


def test_sandbox_follows_the_same_rule(client, no_providers):
    """The local sandbox gateway stands in for both providers, and still never offers PayPal for rand."""
    PuppyFactory(slug="bella")
    PuppyFactory(slug="milo", currency="USD")

    rand = client.get("/puppies/bella/").content.decode()
    usd = client.get("/puppies/milo/").content.decode()

    assert 'id="reserve-stripe"' in rand and 'id="reserve-paypal"' not in rand
    assert 'id="reserve-stripe"' in usd and 'id="reserve-paypal"' in usd


def test_a_rand_listing_when_only_paypal_is_configured_offers_nothing(client, paypal_settings, settings):
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": ""}
    PuppyFactory(slug="bella")
    PuppyFactory(slug="milo", currency="USD")

    rand = client.get("/puppies/bella/").content.decode()
    usd = client.get("/puppies/milo/").content.decode()

    assert "Online deposits are not available right now." in rand and "<button" not in rand.split('id="reserve"')[1]
    assert 'id="reserve-paypal"' in usd and 'id="reserve-stripe"' not in usd


@responses.activate
def test_posting_paypal_on_a_rand_listing_page_is_refused_and_nothing_is_held(client, both_providers):
    """A stale page or a crafted post: 400 with the reason on the page, no hold, no PayPal call."""
    puppy = PuppyFactory(slug="bella")

    response = client.post("/puppies/bella/reserve", FORM)

    assert response.status_code == 400
    html = response.content.decode()
    assert "PayPal is not available for this puppy: it is priced in ZAR" in html
    assert 'id="reserve-paypal"' not in html and 'id="reserve-stripe"' in html  # the card is still offered
    assert not Reservation.objects.exists()
    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    assert len(responses.calls) == 0


@responses.activate
def test_posting_paypal_on_a_usd_listing_page_goes_to_paypal(client, both_providers):
    """Control: the PayPal order is created in USD and the buyer sent to approve it."""
    PuppyFactory(slug="milo", deposit_amount=Decimal("150.00"), currency="USD")
    orders = _paypal_order()

    response = client.post("/puppies/milo/reserve", FORM)

    assert (response.status_code, response["Location"]) == (302, APPROVE)
    r = Reservation.objects.get()
    assert (r.provider, r.currency, r.deposit_amount, r.checkout_id) == ("paypal", "USD", Decimal("150.00"), ORDER)
    body = json.loads(orders.calls[0].request.body)
    assert body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "150.00"}


# --- the reservations API ------------------------------------------------------------------------------

@responses.activate
def test_api_paypal_on_a_rand_listing_is_a_400_with_a_stable_code(client, both_providers):
    puppy = PuppyFactory(slug="bella")

    response = client.post("/api/reservations/", {**FORM, "puppy": "bella"}, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["code"] == "provider_not_offered"
    assert (body["extra"]["provider"], body["extra"]["currency"], body["extra"]["offered"]) == (
        "paypal", "ZAR", ["stripe"])
    assert body["extra"]["fields"]["provider"] == [body["message"]]
    assert not Reservation.objects.exists()
    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    assert len(responses.calls) == 0


@responses.activate
def test_api_paypal_on_a_usd_listing_creates_the_paypal_order(client, both_providers):
    """Control of the refusal above."""
    PuppyFactory(slug="milo", deposit_amount=Decimal("150.00"), currency="USD")
    orders = _paypal_order()

    response = client.post("/api/reservations/", {**FORM, "puppy": "milo"}, content_type="application/json")

    assert response.status_code == 201
    assert (response.json()["checkout_url"], response.json()["currency"]) == (APPROVE, "USD")
    assert response.json()["deposit_amount"] == "150.00"
    assert orders.call_count == 1
    assert json.loads(orders.calls[0].request.body)["purchase_units"][0]["amount"] == {
        "currency_code": "USD", "value": "150.00"}
    assert Reservation.objects.get().status == "pending"


@responses.activate
def test_api_card_on_a_rand_listing_is_still_accepted(client, no_providers):
    """Control: the refusal is PayPal's only; a card deposit on the same rand listing is taken."""
    PuppyFactory(slug="bella")

    response = client.post("/api/reservations/", {**FORM, "provider": "stripe", "puppy": "bella"},
                           content_type="application/json")

    assert response.status_code == 201 and response.json()["currency"] == "ZAR"


# --- the checkout service ------------------------------------------------------------------------------

def _urls():
    return {"success_url": "https://x/s", "cancel_url": "https://x/c", "sandbox_url": "https://x/sb",
            "paypal_return_url": "https://x/r"}


@responses.activate
@pytest.mark.parametrize("sandbox_only", [False, True])
def test_checkout_of_a_rand_paypal_hold_is_refused_before_any_call(paypal_settings, settings, sandbox_only):
    """A PayPal hold on a rand listing made before the rule: refused (not even the sandbox takes it), the
    hold cancelled, nothing sent."""
    settings.SANDBOX_GATEWAY_ENABLED = True
    if sandbox_only:
        settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "", "CLIENT_SECRET": ""}
    r = ReservationFactory(provider="paypal")

    with pytest.raises(ProviderNotOffered):
        reservation_start_checkout(reservation=r, **_urls())

    r.refresh_from_db()
    assert (r.status, r.sandbox, r.checkout_id, r.puppy.status) == ("cancelled", False, "", "available")
    assert "PayPal does not take ZAR" in r.status_reason
    assert len(responses.calls) == 0


@responses.activate
def test_checkout_of_a_usd_paypal_hold_creates_the_order(paypal_settings):
    """Control of the refusal above."""
    orders = _paypal_order()
    r = ReservationFactory(provider="paypal", puppy__currency="USD")

    assert reservation_start_checkout(reservation=r, **_urls()) == APPROVE

    r.refresh_from_db()
    assert (r.status, r.checkout_id) == ("pending", ORDER)
    assert json.loads(orders.calls[0].request.body)["purchase_units"][0]["amount"]["currency_code"] == "USD"


# --- the listing itself --------------------------------------------------------------------------------

def test_a_listing_currency_outside_the_list_is_refused_by_the_database():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        PuppyFactory(currency="ZWL")
    assert PuppyFactory(currency="USD").currency == "USD"  # control


def test_the_list_shows_each_listing_in_its_own_currency(client):
    PuppyFactory(name="Bella", price=Decimal("12500.00"), deposit_amount=Decimal("500.00"))
    PuppyFactory(name="Milo", price=Decimal("950.00"), deposit_amount=Decimal("150.00"), currency="USD")

    html = client.get("/puppies/").content.decode()

    assert "R 12,500.00" in html and "(deposit R 500.00)" in html
    assert "USD 950.00" in html and "(deposit USD 150.00)" in html


def test_the_demo_path_a_usd_listing_paid_through_the_sandbox_paypal(client, no_providers, tasks_run_inline):
    """What `make run` shows on Milo: PayPal through the sandbox gateway, booked in the listing's USD."""
    PuppyFactory(slug="milo", deposit_amount=Decimal("150.00"), currency="USD")

    checkout = client.post("/puppies/milo/reserve", FORM)
    page = client.get(checkout["Location"]).content.decode()
    client.post(checkout["Location"], {"action": "approve"})

    assert "Pay deposit USD 150.00" in page
    r = Reservation.objects.get()
    assert (r.provider, r.sandbox, r.status, r.amount_paid, r.currency) == (
        "paypal", True, "paid", Decimal("150.00"), "USD")
    assert "USD 150.00 deposit" in client.get(f"/puppies/checkout/{r.reference}/success/").content.decode()
