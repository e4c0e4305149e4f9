"""A customer keeps at most PAYMENT_METHODS_MAX_PER_CUSTOMER saved payment methods, whichever way they
are added: the service (cards, debit orders), the Billing page, the dashboard API, the payments API
(Stripe cards). At the limit nothing is written and no provider is called; removing one frees a place."""

import pytest
import responses
from django.db import connection
from rest_framework.test import APIClient

from payments.errors import PaymentMethodLimitReached
from payments.models import Mandate, PaymentMethod
from payments.services import stripe_payments
from payments.services.methods import payment_method_add_card, payment_method_add_debit_order, payment_method_delete
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory
from tests.portal.factories import customer_with_login, payment_method

STRIPE = "https://api.stripe.com/v1"
WS = "https://ws.netcash.example/NIWS/niws_nif.svc"
LIMIT = 3
MESSAGE = "You can save at most 3 payment methods. Remove one to add another."
CARD = {"brand": "Visa", "last_four": "4242", "expiry_month": 12, "expiry_year": 2030, "token": "tok_new"}
DEBIT_ORDER = {"account_holder": "T Mokoena", "account_number": "62001234567", "branch_code": "250655",
               "bank_name": "FNB"}
PAGE_FORM = {**DEBIT_ORDER, "account_type": "current", "make_primary": "on", "consent": "on"}


@pytest.fixture(autouse=True)
def limit(settings):
    settings.PAYMENT_METHODS_MAX_PER_CUSTOMER = LIMIT
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "WS_URL": WS}
    return settings


def at_limit(customer):
    """The customer's LIMIT methods (the first primary), plus a removed one that does not count."""
    payment_method_delete(method=payment_method(customer, last_four="0000"))
    return [payment_method(customer, primary=i == 0, last_four=f"100{i}") for i in range(LIMIT)]


def live_methods(customer):
    return sorted(PaymentMethod.objects.filter(customer=customer, deleted_at__isnull=True).values_list("pk", flat=True))


# --- the service -------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("add", [
    lambda c: payment_method_add_card(customer=c, make_primary=True, **CARD),
    lambda c: payment_method_add_debit_order(customer=c, **DEBIT_ORDER),
], ids=["card", "debit_order"])
def test_at_the_limit_the_add_is_refused_and_nothing_is_written(add):
    customer = CustomerFactory()
    methods = at_limit(customer)
    payment_method(CustomerFactory())  # another customer's methods do not count towards this one's

    with pytest.raises(PaymentMethodLimitReached) as refused:
        add(customer)

    assert (refused.value.message, refused.value.extra, refused.value.status_code) == (MESSAGE, {"limit": 3}, 409)
    assert live_methods(customer) == [m.pk for m in methods]
    assert PaymentMethod.objects.filter(customer=customer).count() == LIMIT + 1  # + the removed one
    assert list(PaymentMethod.objects.filter(customer=customer, is_primary=True)) == [methods[0]]


@pytest.mark.django_db
def test_below_the_limit_the_add_succeeds():
    customer = CustomerFactory()
    payment_method_delete(method=payment_method(customer, last_four="0000"))  # removed: does not count
    existing = [payment_method(customer, last_four=f"100{i}") for i in range(LIMIT - 1)]

    card = payment_method_add_card(customer=customer, **CARD)

    assert live_methods(customer) == sorted([m.pk for m in existing] + [card.pk])
    assert (card.display_name, card.provider_token) == ("Visa ***4242", "tok_new")


@pytest.mark.django_db
def test_removing_one_lets_another_be_added():
    customer = CustomerFactory()
    methods = at_limit(customer)
    with pytest.raises(PaymentMethodLimitReached):
        payment_method_add_card(customer=customer, **CARD)

    payment_method_delete(method=methods[1])
    card = payment_method_add_card(customer=customer, **CARD)

    assert live_methods(customer) == sorted([methods[0].pk, methods[2].pk, card.pk])
    with pytest.raises(PaymentMethodLimitReached):
        payment_method_add_card(customer=customer, **CARD)


@pytest.mark.django_db
def test_default_limit_is_ten(settings):
    from circletel import settings_test as configured

    settings.PAYMENT_METHODS_MAX_PER_CUSTOMER = configured.PAYMENT_METHODS_MAX_PER_CUSTOMER  # the default (no env)
    customer = CustomerFactory()
    for i in range(10):
        payment_method(customer, last_four=f"{i:04d}")

    with pytest.raises(PaymentMethodLimitReached) as refused:
        payment_method_add_card(customer=customer, **CARD)

    assert refused.value.message == "You can save at most 10 payment methods. Remove one to add another."
    assert PaymentMethod.objects.filter(customer=customer).count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_never_pass_the_limit():
    """Eight adds at once for the last place: the customer row lock lets exactly one in."""
    customer = CustomerFactory()
    for i in range(LIMIT - 1):
        payment_method(customer, last_four=f"100{i}")

    outcomes = run_concurrently(lambda i: payment_method_add_card(customer=customer, **{**CARD, "token": f"tok_{i}"}),
                                [(i,) for i in range(8)])

    assert connection.vendor == "postgresql"
    assert sum(isinstance(o, PaymentMethod) for o in outcomes) == 1
    assert sum(isinstance(o, PaymentMethodLimitReached) for o in outcomes) == 7, outcomes
    assert len(live_methods(customer)) == LIMIT


# --- the Billing page and the dashboard API ------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)  # adding a debit order calls NetCash, which refuses to run in a transaction
@responses.activate
def test_billing_page_shows_the_limit_and_saves_nothing(client):
    customer = customer_with_login()
    methods = at_limit(customer)
    client.force_login(customer.user)

    response = client.post("/dashboard/billing/methods/debit-order/", PAGE_FORM)

    assert response.status_code == 400
    assert MESSAGE in response.content.decode()
    assert live_methods(customer) == [m.pk for m in methods]
    assert not Mandate.objects.exists()
    assert len(responses.calls) == 0  # no mandate request went to NetCash


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_dashboard_api_answers_409_with_the_message_for_cards_and_debit_orders(client):
    customer = customer_with_login()
    methods = at_limit(customer)
    client.force_login(customer.user)

    card = client.post("/api/dashboard/payment-methods", {"method_type": "card", **CARD},
                       content_type="application/json")
    debit = client.post("/api/dashboard/payment-methods", {"method_type": "debit_order", **DEBIT_ORDER},
                        content_type="application/json")

    assert (card.status_code, card.json()) == (409, {"message": MESSAGE, "extra": {"limit": 3}})
    assert (debit.status_code, debit.json()) == (409, {"message": MESSAGE, "extra": {"limit": 3}})
    assert live_methods(customer) == [m.pk for m in methods]
    assert not Mandate.objects.exists() and len(responses.calls) == 0


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_dashboard_api_adds_below_the_limit(client):
    customer = customer_with_login()
    client.force_login(customer.user)

    response = client.post("/api/dashboard/payment-methods", {"method_type": "card", **CARD},
                           content_type="application/json")

    assert response.status_code == 201, response.content
    assert live_methods(customer) == [response.json()["id"]]


# --- the payments API (cards tokenised by Stripe.js) ----------------------------------------------------------

def _stripe_attach_mocks(pm="pm_visa123"):
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_9", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_methods/{pm}/attach", json={
        "id": pm, "object": "payment_method", "customer": "cus_9",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2030}})
    responses.add(responses.POST, f"{STRIPE}/payment_methods/{pm}/detach", json={
        "id": pm, "object": "payment_method", "customer": None, "card": {"brand": "visa", "last4": "4242"}})


def _api_client(customer):
    api = APIClient()
    api.force_authenticate(customer.user)
    return api


@pytest.mark.django_db
@responses.activate
def test_payments_api_refuses_a_stripe_card_at_the_limit_without_calling_stripe(stripe_on):
    customer = customer_with_login()
    methods = at_limit(customer)
    _stripe_attach_mocks()

    response = _api_client(customer).post("/api/payments/methods", {"stripe_payment_method_id": "pm_visa123"},
                                          format="json")

    assert (response.status_code, response.json()) == (409, {"message": MESSAGE, "extra": {"limit": 3}})
    assert live_methods(customer) == [m.pk for m in methods]
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_payments_api_saves_a_stripe_card_below_the_limit(stripe_on):
    customer = customer_with_login()
    _stripe_attach_mocks()

    response = _api_client(customer).post("/api/payments/methods", {"stripe_payment_method_id": "pm_visa123"},
                                          format="json")

    assert response.status_code == 201, response.content
    assert PaymentMethod.objects.get(customer=customer).provider_token == "pm_visa123"


@pytest.mark.django_db
@responses.activate
def test_stripe_card_that_loses_the_last_place_is_detached_again(stripe_on, monkeypatch):
    """The early check passed, then another add took the last place while Stripe attached the card:
    the locked check refuses it and the card is detached at Stripe, not left there."""
    customer = customer_with_login()
    methods = at_limit(customer)
    _stripe_attach_mocks()
    monkeypatch.setattr(stripe_payments, "payment_method_limit_check", lambda *, customer: None)

    response = _api_client(customer).post("/api/payments/methods", {"stripe_payment_method_id": "pm_visa123"},
                                          format="json")

    assert response.status_code == 409
    assert live_methods(customer) == [m.pk for m in methods]
    assert [c.request.url for c in responses.calls] == [
        f"{STRIPE}/customers", f"{STRIPE}/payment_methods/pm_visa123/attach",
        f"{STRIPE}/payment_methods/pm_visa123/detach"]
