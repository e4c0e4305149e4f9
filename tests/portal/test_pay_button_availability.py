"""The dashboard offers a Pay button only when an online payment can be made (the same refusals as
`invoice_checkout`, plus the sandbox's notify token); otherwise a disabled button with the reason and
the EFT details. The public and dashboard pay pages show the amount in the house format (R 1,870.59)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import BillingAccount
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client):
    user = UserFactory()
    customer = CustomerFactory(user=user)
    invoice = make_invoice(customer, "1870.59")
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal("1870.59"))  # owed: the card asks to pay
    client.force_login(user)
    return customer, invoice


@pytest.fixture
def sandbox_only(settings):
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": "", "PAYNOW_HMAC_SECRET": "h" * 32,
                        "NOTIFY_TOKEN": "t" * 40}
    return settings


@pytest.mark.parametrize("missing", ["PAYNOW_HMAC_SECRET", "NOTIFY_TOKEN"])
def test_no_pay_button_when_the_sandbox_lacks_a_secret(client, owner, sandbox_only, missing):
    _customer, invoice = owner
    sandbox_only.NETCASH = {**sandbox_only.NETCASH, missing: ""}
    home = client.get(reverse("dashboard:home")).content.decode()
    assert 'data-testid="pay-balance"' not in home
    assert reverse("dashboard:invoice_pay", args=[invoice.number]) not in home
    assert 'data-testid="pay-balance-disabled">Pay R 1,870.59</button>' in home
    assert "Online payments are not available right now. Pay by EFT to" in home
    assert f"reference {invoice.number}." in home
    detail = client.get(reverse("dashboard:invoice", args=[invoice.pk])).content.decode()
    assert reverse("dashboard:invoice_pay", args=[invoice.number]) not in detail
    assert "Online payments are not available right now. Pay by EFT to" in detail


def test_no_pay_button_when_neither_netcash_nor_the_sandbox_is_on(client, owner, sandbox_only):
    sandbox_only.SANDBOX_GATEWAY_ENABLED = False
    home = client.get(reverse("dashboard:home")).content.decode()
    assert 'data-testid="pay-balance"' not in home and 'data-testid="pay-balance-disabled"' in home


def test_positive_control_the_pay_button_leads_to_a_working_checkout(client, owner, sandbox_only):
    _customer, invoice = owner
    pay = reverse("dashboard:invoice_pay", args=[invoice.number])
    home = client.get(reverse("dashboard:home")).content.decode()
    assert f'href="{pay}" data-testid="pay-balance">Pay R 1,870.59</a>' in home
    assert "not available" not in home
    detail = client.get(reverse("dashboard:invoice", args=[invoice.pk])).content.decode()
    assert f'href="{pay}">Pay now R 1,870.59</a>' in detail
    page = client.get(pay)
    assert page.status_code == 200 and page.context["form"].fields["p4"] == "1870.59"
    body = page.content.decode()
    assert "<strong>R 1,870.59</strong>" in body and "Pay R 1,870.59 now" in body and "R 1870.59" not in body


def test_public_pay_page_shows_the_amount_in_the_house_format(client, sandbox_only):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "1870.59")
    page = client.post("/pay/", {"invoice_number": invoice.number, "account_number": customer.account_number})
    assert page.status_code == 200 and page.context["amount"] == Decimal("1870.59")
    body = page.content.decode()
    assert f"Amount due on {invoice.number}: <strong>R 1,870.59</strong>" in body
    assert "Pay R 1,870.59 now" in body and "R 1870.59" not in body
