"""Browser tests: every kind of page works under our Content-Security-Policy (circletel/settings.py).

Chromium reports each blocked script, style, image, form post or worker as a console message naming
the "Content-Security-Policy"; a page is fine when, after it has done its work (scripts ran, the
Swagger UI drew the API, the Pay Now form posted itself to the sandbox gateway), no such message was
logged. Unknown Permissions-Policy features are console errors too, so they are collected the same way.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import BillingAccount
from payments.models import PaymentTransaction
from tests.browser import BROWSER_MARKS, live_page, sign_in
from tests.factories import CustomerServiceFactory, UserFactory
from tests.portal.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    UsageFactory,
    customer_with_login,
)
from tests.reservations.factories import PuppyFactory

POLICY_WORDS = re.compile(r"Content.Security.Policy|Permissions.Policy", re.IGNORECASE)

pytestmark = BROWSER_MARKS


@pytest.fixture
def violations():
    return []


@pytest.fixture
def page(browser, live_server, settings, violations):
    with live_page(browser, live_server, settings) as pg:
        pg.on("console", lambda msg: violations.append(f"{pg.url}: {msg.text}") if POLICY_WORDS.search(msg.text)
              else None)
        yield pg


@pytest.fixture
def customer():
    c = customer_with_login(first_name="Thandi", last_name="Mokoena")
    svc = CustomerServiceFactory(customer=c, status="active", data_cap_gb=100, package_name="Fibre 100/50")
    invoice = InvoiceFactory(customer=c, service=svc, total=Decimal("1234.50"), subtotal=Decimal("1073.48"),
                             vat_amount=Decimal("161.02"), amount_due=Decimal("1234.50"))
    InvoiceLineFactory(invoice=invoice, unit_price=Decimal("1234.50"), amount=Decimal("1234.50"))
    PaymentFactory(customer=c, amount=Decimal("899.00"), method="eft", reference="PAY-EFT-1")
    UsageFactory(service=svc)
    BillingAccount.objects.filter(customer=c).update(balance=Decimal("1234.50"))
    return c


def visit(page, path):
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    assert response.status == 200, (path, response.status)
    return response


def test_public_pages_work_under_the_policy(page, violations, customer):
    PuppyFactory(name="Bella", slug="bella", breed="Beagle", deposit_amount=Decimal("500.00"))
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/puppies/",
                 "/puppies/bella/", "/pay/"):
        response = visit(page, path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
    # The public pay page's second step: the Pay Now form (shown, not submitted).
    invoice = customer.invoices.get()
    page.fill("input[name=invoice_number]", invoice.number)
    page.fill("input[name=account_number]", customer.account_number)
    page.click("main button[type=submit]")
    expect(page.locator("#paynow-form")).to_be_attached()
    assert violations == [], "\n".join(violations)


def test_dashboard_pages_work_under_the_policy(page, violations, customer):
    sign_in(page, customer.user)
    service = customer.services.get()
    invoice = customer.invoices.get()
    for path in ("/dashboard/", "/dashboard/services/", f"/dashboard/services/{service.pk}/", "/dashboard/invoices/",
                 f"/dashboard/invoices/{invoice.pk}/", "/dashboard/payments/", "/dashboard/statement/",
                 "/dashboard/usage/", "/dashboard/billing/", "/dashboard/profile/"):
        visit(page, path)
    expect(page.locator("h1")).to_be_visible()
    assert violations == [], "\n".join(violations)


def test_pay_page_posts_itself_to_the_sandbox_gateway_under_the_policy(page, violations, customer):
    """The redirect page's inline script (with the nonce) submits the Pay Now form; form-action lets
    the post through; the sandbox approves and the result page shows the payment."""
    invoice = customer.invoices.get()
    sign_in(page, customer.user)
    page.goto(f"/billing/invoices/{invoice.number}/pay")
    page.wait_for_url("**/payments/sandbox/checkout")
    expect(page.locator("h2")).to_have_text("Pay R 1234.50")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/payments/result/"))
    expect(page.get_by_text("Payment received")).to_be_visible()
    assert PaymentTransaction.objects.get(invoice=invoice).status == "completed"
    assert violations == [], "\n".join(violations)


def test_admin_pages_work_under_the_policy(page, violations, customer):
    staff = UserFactory(is_staff=True, is_superuser=True)
    service = customer.services.get()
    invoice = customer.invoices.get()
    sign_in(page, staff, "/admin/")
    expect(page.locator(".ar-row").first).to_be_visible()  # the receivables widgets, styled by their <style>
    assert page.locator(".ar-card").first.evaluate("el => getComputedStyle(el).borderRadius") == "6px"
    for path in ("/admin/billing/invoice/", "/admin/billing/customer/", f"/admin/billing/customer/{customer.pk}/change/",
                 f"/admin/billing/invoice/{invoice.pk}/change/", f"/admin/billing/customerservice/{service.pk}/change/",
                 "/admin/billing/customerservice/add/", "/admin/payments/paymenttransaction/",
                 "/admin/zoho_sync/syncdashboard/", "/admin/billing/invoice/generate-invoices-now/"):
        visit(page, path)
    # An action page: "Suspend" asks for a reason on the admin's reason form.
    visit(page, "/admin/billing/customerservice/")
    page.locator(f"input[name=_selected_action][value='{service.pk}']").check()
    page.select_option("select[name=action]", "suspend")
    page.click("button[name=index]")
    expect(page.locator("textarea[name=reason], input[name=reason]").first).to_be_visible()
    # The change form's date shortcuts (admin JavaScript) were drawn.
    visit(page, f"/admin/billing/customerservice/{service.pk}/change/")
    assert violations == [], "\n".join(violations)


def test_api_docs_render_under_the_policy(page, violations, customer):
    sign_in(page, customer.user)
    visit(page, "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CircleTel Billing API")
    expect(page.locator(".opblock").first).to_be_visible()
    visit(page, "/api/redoc/")
    expect(page.locator("#redoc-container h1").first).to_contain_text("CircleTel Billing API")
    expect(page.locator("[role=search] input, input[placeholder=Search]").first).to_be_visible()
    assert violations == [], "\n".join(violations)
