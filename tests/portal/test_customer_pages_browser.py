"""Issue 18 in a real browser (Playwright + Debian Chromium, headless, against the live server): the
balance card's "Pay R 1,798.00" through the sandbox gateway to the success page's receipt and invoice
links; the public pay page from the home page; dates and states; the sign-in error; removing a
payment method (asks first, promotes another) and the debit-order form's errors beside their fields.
Screenshots go to artifacts/screenshots/ (18-*.png)."""

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import BillingAccount
from payments.models import PaymentMethod, PaymentTransaction
from tests.browser import BROWSER_MARKS, live_page, sign_in
from tests.factories import CustomerServiceFactory
from tests.portal.factories import InvoiceFactory, customer_with_login, payment_method

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser, live_server, settings, tasks_run_inline):
    settings.SANDBOX_GATEWAY_ENABLED = True
    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_page(browser, live_server, settings, timeout_ms=15_000, accept_downloads=True) as pg:
        yield pg


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"18-{name}.png"), full_page=True)


def _invoice(customer, total, **kwargs):
    total = Decimal(total)
    vat = (total * 15 / 115).quantize(Decimal("0.01"))
    return InvoiceFactory(customer=customer, total=total, subtotal=total - vat, vat_amount=vat, **kwargs)


@pytest.fixture
def customer():
    c = customer_with_login(first_name="Thandi", last_name="Mokoena")
    BillingAccount.objects.filter(customer=c).update(balance=Decimal("1798.00"))
    return c


def test_pay_from_the_balance_card_to_the_receipt_and_the_invoice(page, customer):
    today = timezone.localdate()
    invoice = _invoice(customer, "1798.00", issue_date=today - timedelta(days=2), due_date=today + timedelta(days=5))
    sign_in(page, customer.user)
    button = page.get_by_test_id("pay-balance")
    expect(button).to_have_text("Pay R 1,798.00")
    shot(page, "01-balance-card-pay")
    button.click()  # our page auto-submits the Pay Now form: here to the sandbox gateway
    page.wait_for_url("**/payments/sandbox/checkout")
    expect(page.get_by_role("heading", name="Pay R 1798.00")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/payments/result/"))
    expect(page.get_by_test_id("payment-state")).to_have_attribute("data-state", "paid")
    receipt = page.get_by_test_id("receipt-link")
    expect(receipt).to_be_visible()
    shot(page, "02-payment-success-links")
    with page.expect_download() as info:
        receipt.click()
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF")
    page.get_by_test_id("invoice-link").click()
    page.wait_for_url(f"**/dashboard/invoices/{invoice.pk}/")
    expect(page.locator("h1")).to_contain_text(f"Invoice {invoice.number}")
    expect(page.locator("h1 .badge")).to_have_text("Paid")
    assert PaymentTransaction.objects.get().status == "completed"


def test_nothing_owed_no_pay_button_and_the_public_pay_page_from_home(page):
    settled = customer_with_login()
    sign_in(page, settled.user)
    expect(page.get_by_test_id("balance")).to_be_visible()
    expect(page.get_by_test_id("pay-balance")).to_have_count(0)
    page.context.clear_cookies()
    page.goto("/")
    page.get_by_test_id("home-pay-link").get_by_role("link").click()
    page.wait_for_url("**/pay/")
    expect(page.get_by_role("heading", name="Pay your invoice")).to_be_visible()
    shot(page, "03-public-pay-from-home")


def test_dates_and_states_read_the_same_everywhere(page, customer):
    today = timezone.localdate()
    service = CustomerServiceFactory(customer=customer, status="active", package_name="Fibre 100/50",
                                     next_billing_date=date(2027, 1, 1))
    suspended = CustomerServiceFactory(customer=customer, status="suspended", package_name="LTE 20",
                                       next_billing_date=date(2027, 1, 1))
    late = _invoice(customer, "1798.00", service=service, issue_date=today - timedelta(days=20),
                    due_date=today - timedelta(days=1), period_start=date(2026, 12, 1), period_end=date(2027, 1, 1))
    sign_in(page, customer.user, "/dashboard/invoices/")
    row = page.locator("table.rtable tbody tr", has_text=late.number)
    expect(row.locator("td[data-label=Status]")).to_have_text("Overdue")
    expect(row.locator("td[data-label=Period]")).to_have_text("1-31 Dec 2026")
    shot(page, "04-invoices-overdue-period")
    row.get_by_role("link", name=late.number).click()
    page.wait_for_url(f"**/dashboard/invoices/{late.pk}/")
    expect(page.get_by_test_id("invoice-period")).to_have_text("1-31 Dec 2026")
    expect(page.get_by_test_id("overdue")).to_be_visible()
    page.goto("/dashboard/services/")
    expect(page.get_by_test_id(f"next-billing-{service.pk}")).to_have_text("1 Jan 2027")
    expect(page.get_by_test_id(f"next-billing-{suspended.pk}")).to_have_text("None while suspended")
    shot(page, "05-services-suspended")


def test_sign_in_error_says_email(page, customer):
    page.goto("/accounts/login/")
    page.fill("#id_username", customer.user.email)
    page.fill("#id_password", "not-the-password")
    page.click("main button[type=submit]")
    error = page.get_by_test_id("login-error")
    expect(error).to_contain_text("email")
    assert "username" not in error.inner_text().lower()
    shot(page, "06-sign-in-error")


def test_remove_the_primary_asks_first_and_promotes_another(page, customer):
    primary = payment_method(customer, primary=True, last_four="4242")
    other = payment_method(customer, last_four="1111", brand="Mastercard")
    sign_in(page, customer.user, "/dashboard/billing/")
    page.get_by_test_id(f"method-{primary.pk}").get_by_role("link", name="Remove").click()
    expect(page.get_by_test_id("remove-outcome")).to_contain_text("Mastercard ***1111 becomes primary")
    shot(page, "07-remove-confirm")
    primary.refresh_from_db()
    assert primary.deleted_at is None  # asking changed nothing
    page.get_by_role("link", name="Keep it").click()
    page.wait_for_url("**/dashboard/billing/#payment-methods")
    page.get_by_test_id(f"method-{primary.pk}").get_by_role("link", name="Remove").click()
    page.get_by_test_id("confirm-remove").click()
    expect(page.get_by_text("Visa ***4242 was removed. Mastercard ***1111 is now your primary payment method.")
           ).to_be_visible()
    expect(page.get_by_test_id(f"method-{other.pk}").locator(".badge", has_text="Primary")).to_be_visible()
    shot(page, "08-removed-promoted")


def test_remove_the_last_method_says_auto_pay_is_off(page, customer):
    only = payment_method(customer, primary=True, last_four="4242")
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    sign_in(page, customer.user, "/dashboard/billing/")
    page.get_by_test_id(f"method-{only.pk}").get_by_role("link", name="Remove").click()
    expect(page.get_by_test_id("remove-outcome")).to_contain_text("auto-pay will be turned off")
    page.get_by_test_id("confirm-remove").click()
    expect(page.get_by_text(re.compile(r"Auto-pay is off"))).to_be_visible()
    expect(page.locator("#id_auto_pay")).not_to_be_checked()
    assert BillingAccount.objects.get(customer=customer).auto_pay is False


def test_debit_order_errors_beside_fields_and_a_pending_mandate_keeps_the_card_primary(page, customer, settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": ""}  # the mandate request cannot go out
    card = payment_method(customer, primary=True, last_four="4242")
    sign_in(page, customer.user, "/dashboard/billing/")
    page.fill("#id_account_holder", "T Mokoena")
    page.select_option("#id_bank_name", "Standard Bank")
    page.fill("#id_account_number", "10012345678")
    page.fill("#id_branch_code", "05")
    page.select_option("#id_account_type", "savings")
    page.check("#id_consent")
    page.click("text=Add debit order")
    error = page.get_by_test_id("error-branch_code")
    expect(error).to_have_text("Enter a valid branch code (5 or 6 digits).")
    # beside its field: inside the branch code's own block, right under the input
    assert error.evaluate("el => el.parentElement.querySelector('#id_branch_code') !== null")
    expect(page.locator("#id_account_holder")).to_have_value("T Mokoena")
    expect(page.locator("#id_bank_name")).to_have_value("Standard Bank")
    expect(page.locator("#id_branch_code")).to_have_value("05")
    expect(page.locator("#id_account_type")).to_have_value("savings")
    expect(page.locator("#id_consent")).to_be_checked()
    expect(page.locator("#id_account_number")).to_have_value("")  # the bank account number is never echoed back
    expect(page.get_by_test_id("retype-account-number")).to_be_visible()
    shot(page, "09-debit-order-field-error")
    page.fill("#id_account_number", "10012345678")
    page.fill("#id_branch_code", "051001")
    page.click("text=Add debit order")
    expect(page.get_by_text("Visa ***4242 stays your primary payment method until the mandate for "
                            "Standard Bank ***5678 is signed", exact=False)).to_be_visible()
    debit = PaymentMethod.objects.get(method_type="debit_order")
    assert debit.mandate_status == "pending" and debit.is_primary is False
    card.refresh_from_db()
    assert card.is_primary is True
    expect(page.get_by_test_id(f"method-{card.pk}").locator(".badge", has_text="Primary")).to_be_visible()
    shot(page, "10-pending-mandate-card-stays-primary")
