"""Adding a debit order from the Billing page / API: the method is saved masked, then its NetCash
eMandate is requested outside any transaction (NetCash mocked at its SOAP URL with `responses`)."""

from decimal import Decimal

import pytest
import responses

from payments.models import Mandate, PaymentMethod
from portal.services import debit_order_mandate_amount
from tests.factories import CustomerServiceFactory
from tests.portal.factories import customer_with_login

# adding a debit order calls NetCash, which refuses to run inside a transaction
pytestmark = pytest.mark.django_db(transaction=True)

WS = "https://ws.netcash.example/NIWS/niws_nif.svc"
OK = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
      '<AddMandateResponse xmlns="http://tempuri.org/"><AddMandateResult><ErrorCode>000</ErrorCode>'
      '<MandateUrl>https://mandate.example/abc</MandateUrl></AddMandateResult></AddMandateResponse>'
      "</s:Body></s:Envelope>")
REFUSED = OK.replace("<ErrorCode>000</ErrorCode>", "<ErrorCode>100</ErrorCode>").replace(
    "<MandateUrl>https://mandate.example/abc</MandateUrl>", "")
FORM = {"account_holder": "T Mokoena", "bank_name": "FNB", "account_number": "62001234567", "branch_code": "250655",
        "account_type": "current", "make_primary": "on", "consent": "on"}
ADD = "/dashboard/billing/methods/debit-order/"


@pytest.fixture
def netcash(settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "WS_URL": WS}
    return settings


@pytest.fixture
def no_netcash(settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "", "WS_URL": WS}
    return settings


@pytest.fixture
def customer(client):
    c = customer_with_login()
    CustomerServiceFactory(customer=c, status="active", monthly_price=Decimal("899.00"))
    CustomerServiceFactory(customer=c, status="pending", monthly_price=Decimal("399.00"))
    CustomerServiceFactory(customer=c, status="cancelled", monthly_price=Decimal("5000.00"))
    client.force_login(c.user)
    return c


def test_mandate_amount_is_twice_the_live_monthly_total_with_a_floor(customer):
    assert debit_order_mandate_amount(customer=customer) == Decimal("2596.00")  # 2 x (899 + 399), cancelled left out
    other = customer_with_login()
    assert debit_order_mandate_amount(customer=other) == Decimal("1000.00")
    CustomerServiceFactory(customer=other, status="active", monthly_price=Decimal("499.00"))
    assert debit_order_mandate_amount(customer=other) == Decimal("1000.00")  # 998.00 is under the floor


@responses.activate
def test_page_adds_method_masked_and_shows_the_mandate_link(client, customer, netcash):
    responses.post(WS, body=OK)
    response = client.post(ADD, FORM, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    method = PaymentMethod.objects.get(customer=customer)
    assert (method.method_type, method.display_name, method.last_four) == ("debit_order", "FNB ***4567", "4567")
    assert (method.mandate_status, method.is_primary) == ("pending", True)
    assert "62001234567" not in method.display_name and "62001234567" not in body
    mandate = Mandate.objects.get()
    assert (mandate.payment_method_id, mandate.mandate_url, mandate.mandate_amount) == (
        method.pk, "https://mandate.example/abc", Decimal("2596.00"))
    assert len(responses.calls) == 1
    sent = responses.calls[0].request.body.decode()
    assert "<tem:MandateAmount>2596.00</tem:MandateAmount>" in sent
    assert "<tem:BankAccountNumber>62001234567</tem:BankAccountNumber>" in sent
    assert "<tem:ServiceKey>DO-KEY</tem:ServiceKey>" in sent
    assert 'href="https://mandate.example/abc"' in body and "Sign your debit-order mandate" in body
    assert "Sign your debit-order mandate to start paying FNB ***4567 by debit order." in body
    assert "Send mandate request" not in body


@responses.activate
def test_netcash_not_configured_keeps_method_then_retry_succeeds(client, customer, settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "", "WS_URL": WS}
    responses.post(WS, body=OK)
    body = client.post(ADD, FORM, follow=True).content.decode()
    method = PaymentMethod.objects.get(customer=customer)
    assert (method.display_name, method.mandate_status) == ("FNB ***4567", "pending")
    assert Mandate.objects.get().mandate_url == ""
    assert len(responses.calls) == 0  # nothing was sent
    assert "FNB ***4567 was saved, but the debit-order mandate request could not be sent right now." in body
    assert f'action="/dashboard/billing/methods/{method.pk}/mandate/"' in body
    assert "Send mandate request" in body and "Sign your debit-order mandate</a>" not in body

    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY"}
    body = client.post(f"/dashboard/billing/methods/{method.pk}/mandate/", follow=True).content.decode()
    assert len(responses.calls) == 1
    assert Mandate.objects.count() == 1  # the same mandate (same AccountReference), now with its link
    assert Mandate.objects.get().mandate_url == "https://mandate.example/abc"
    assert PaymentMethod.objects.count() == 1
    assert 'href="https://mandate.example/abc"' in body and "Send mandate request" not in body

    # once a link exists, a retry is refused and NetCash is not called again
    body = client.post(f"/dashboard/billing/methods/{method.pk}/mandate/", follow=True).content.decode()
    assert "does not need to be requested again" in body
    assert len(responses.calls) == 1


@responses.activate
def test_netcash_refusal_keeps_method_with_retry(client, customer, netcash):
    responses.post(WS, body=REFUSED)
    body = client.post(ADD, FORM, follow=True).content.decode()
    method = PaymentMethod.objects.get(customer=customer)
    assert method.mandate_status == "pending"
    assert len(responses.calls) == 1
    assert Mandate.objects.get().decline_reason.startswith("request failed: NetCash AddMandate failed: 100")
    assert "could not be sent right now" in body and "Send mandate request" in body


@pytest.mark.parametrize(("field", "value", "error"), [
    ("account_number", "12-34", "Enter a valid bank account number (6 to 16 digits)."),
    ("branch_code", "12", "Enter a valid branch code (5 or 6 digits)."),
])
@responses.activate
def test_bad_bank_details_show_on_the_form_and_save_nothing(client, customer, netcash, field, value, error):
    response = client.post(ADD, {**FORM, field: value})
    assert response.status_code == 400
    body = response.content.decode()
    assert error in body
    assert 'value="12-34"' not in body and 'value="62001234567"' not in body  # the account number is not echoed
    assert 'value="T Mokoena"' in body  # the rest of the form is kept
    assert not PaymentMethod.objects.exists() and not Mandate.objects.exists()
    assert len(responses.calls) == 0


@responses.activate
def test_consent_is_required(client, customer, netcash):
    data = {k: v for k, v in FORM.items() if k != "consent"}
    response = client.post(ADD, data)
    assert response.status_code == 400
    assert "Tick the box to authorise CircleTel to debit this account." in response.content.decode()
    assert not PaymentMethod.objects.exists() and not Mandate.objects.exists()
    assert len(responses.calls) == 0


def test_bank_must_be_one_of_the_list(client, customer, netcash):
    response = client.post(ADD, {**FORM, "bank_name": "Bank of Nowhere"})
    assert response.status_code == 400
    assert not PaymentMethod.objects.exists()


def test_other_bank_is_shown_as_bank(client, customer, no_netcash):
    client.post(ADD, {**FORM, "bank_name": "Other"})
    assert PaymentMethod.objects.get().display_name == "Bank ***4567"


@responses.activate
def test_retry_on_another_customers_method_is_404(client, customer, no_netcash):
    other = customer_with_login()
    client.force_login(other.user)
    client.post(ADD, FORM)
    theirs = PaymentMethod.objects.get(customer=other)
    client.force_login(customer.user)
    netcash_settings = {**no_netcash.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY"}
    no_netcash.NETCASH = netcash_settings
    responses.post(WS, body=OK)
    assert client.post(f"/dashboard/billing/methods/{theirs.pk}/mandate/").status_code == 404
    assert len(responses.calls) == 0
    assert Mandate.objects.get().mandate_url == ""


def test_add_and_retry_need_post_and_sign_in(client, customer, no_netcash):
    assert client.get(ADD).status_code == 405
    client.logout()
    response = client.post(ADD, FORM)
    assert response.status_code == 302 and "/login" in response["Location"]
    assert not PaymentMethod.objects.exists()


def test_card_methods_have_no_retry(client, customer, no_netcash):
    from tests.portal.factories import payment_method

    card = payment_method(customer, primary=True)
    response = client.post(f"/dashboard/billing/methods/{card.pk}/mandate/", follow=True)
    assert "does not need to be requested again" in response.content.decode()
    assert not Mandate.objects.exists()


def test_add_requires_csrf(customer, no_netcash):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(customer.user)
    assert c.post(ADD, FORM).status_code == 403
    assert not PaymentMethod.objects.exists()


@responses.activate
def test_api_post_debit_order_starts_the_mandate(client, customer, netcash):
    responses.post(WS, body=OK)
    response = client.post("/api/dashboard/payment-methods", {
        "method_type": "debit_order", "account_holder": "T Mokoena", "account_number": "62001234567",
        "branch_code": "250655", "bank_name": "Capitec"}, content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    method = PaymentMethod.objects.get(customer=customer)
    assert data == {
        "id": method.pk, "method_type": "debit_order", "display_name": "Capitec ***4567", "last_four": "4567",
        "card_expiry_month": None, "card_expiry_year": None, "mandate_status": "pending", "is_primary": False,
        "created_at": data["created_at"], "mandate_url": "https://mandate.example/abc",
        "message": "Sign your debit-order mandate to start paying Capitec ***4567 by debit order."}
    assert "62001234567" not in response.content.decode()
    assert len(responses.calls) == 1
    assert "<tem:MandateAmount>2596.00</tem:MandateAmount>" in responses.calls[0].request.body.decode()


@responses.activate
def test_api_bad_account_number_is_400_and_saves_nothing(client, customer, netcash):
    response = client.post("/api/dashboard/payment-methods", {
        "method_type": "debit_order", "account_holder": "T Mokoena", "account_number": "123",
        "branch_code": "250655"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "Enter a valid bank account number (6 to 16 digits)."
    assert not PaymentMethod.objects.exists() and not Mandate.objects.exists()
    assert len(responses.calls) == 0
