"""Browser tests: Playwright driving Debian Chromium (headless) against pytest-django's live server.

Each test saves a screenshot of the page it checks to artifacts/screenshots/.

A click that navigates returns before the next page has loaded, and `wait_for_load_state()` straight
after it may answer for the page being left. So every check after a navigation either waits for the
new URL (`wait_for_url`, which also waits for its load event) or is a retrying `expect(...)`
assertion; database checks come after such a wait, once the server has answered.
"""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import BillingAccount
from tests.browser import BROWSER_MARKS, live_page, sign_in
from tests.factories import CustomerServiceFactory, UserFactory
from tests.portal.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    LedgerEntryFactory,
    PaymentFactory,
    UsageFactory,
    customer_with_login,
    payment_method,
)

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser, live_server, settings):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_page(browser, live_server, settings, accept_downloads=True) as pg:
        yield pg


@pytest.fixture
def customer():
    c = customer_with_login(first_name="Thandi", last_name="Mokoena")
    svc = CustomerServiceFactory(customer=c, status="active", data_cap_gb=100, package_name="Fibre 100/50")
    inv = InvoiceFactory(customer=c, service=svc, total=Decimal("1234.50"), subtotal=Decimal("1073.48"),
                         vat_amount=Decimal("161.02"))
    InvoiceLineFactory(invoice=inv, unit_price=Decimal("1234.50"), amount=Decimal("1234.50"))
    inv.pdf.save(f"{inv.number}.pdf", ContentFile(b"%PDF-1.7\n% test invoice\n"), save=True)
    InvoiceFactory(customer=c, status="paid", amount_paid=Decimal("899.00"), issue_date=date(2026, 10, 1))
    PaymentFactory(customer=c, amount=Decimal("899.00"), method="eft", reference="PAY-EFT-1")
    UsageFactory(service=svc, date=timezone.localdate(), cycle_start=timezone.localdate().replace(day=1))
    BillingAccount.objects.filter(customer=c).update(balance=Decimal("1234.50"))
    LedgerEntryFactory(customer=c, amount=Decimal("1234.50"), effective_date=date(2026, 1, 10))
    return c


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_lands_on_dashboard(page, customer):
    sign_in(page, customer.user)
    assert page.url.endswith("/dashboard/")
    assert page.locator("h1").inner_text() == "Hello, Thandi"
    assert page.get_by_test_id("amount-due").inner_text() == "R 1,234.50"
    shot(page, "01-dashboard-home")


def test_dashboard_lists_services_and_recent_activity(page, customer):
    sign_in(page, customer.user)
    assert page.get_by_role("link", name="Fibre 100/50").first.is_visible()
    assert page.locator("text=PAY-EFT-1").is_visible()
    assert page.get_by_role("link", name="Dashboard").is_visible()
    shot(page, "02-dashboard-activity")


def test_services_and_service_detail_chart(page, customer):
    sign_in(page, customer.user, "/dashboard/services/")
    assert "50 Mbps down / 50 Mbps up" in page.content()
    assert "Billing day" in page.content()
    shot(page, "03-services")
    page.get_by_role("link", name="Fibre 100/50").first.click()
    page.wait_for_url(re.compile(r"/dashboard/services/\d+/$"))
    expect(page.locator("svg.chart rect.bar").first).to_be_attached()
    shot(page, "04-service-detail")


def test_open_invoice_and_download_pdf(page, customer):
    sign_in(page, customer.user, "/dashboard/invoices/")
    number = customer.invoices.filter(status="unpaid").get().number
    page.get_by_role("link", name=number).click()
    expect(page.get_by_test_id("invoice-due")).to_have_text("R 1,234.50")
    shot(page, "05-invoice-detail")
    with page.expect_download() as info:
        page.get_by_test_id("download-pdf").click()
    download = info.value
    assert download.suggested_filename == f"{number}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")


def test_invoice_status_filter(page, customer):
    sign_in(page, customer.user, "/dashboard/invoices/")
    page.select_option("#id_status", "paid")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=paid"))
    expect(page.locator("table.rtable tbody tr")).to_have_count(1)
    expect(page.locator(".badge-paid")).to_have_count(1)
    shot(page, "06-invoices-filtered")


def test_set_primary_payment_method(page, customer):
    payment_method(customer, primary=True, last_four="4242")
    second = payment_method(customer, last_four="1111", brand="Mastercard")
    sign_in(page, customer.user, "/dashboard/billing/")
    page.get_by_test_id(f"method-{second.pk}").get_by_role("button", name="Make primary").click()
    expect(page.get_by_text("Mastercard ***1111 is now your primary payment method.")).to_be_visible()
    second.refresh_from_db()
    assert second.is_primary is True
    shot(page, "07-billing-primary")


def test_remove_payment_method(page, customer):
    method = payment_method(customer, last_four="9999", brand="Amex")
    sign_in(page, customer.user, "/dashboard/billing/")
    page.get_by_test_id(f"method-{method.pk}").get_by_role("link", name="Remove").click()
    page.get_by_test_id("confirm-remove").click()  # removal asks first
    expect(page.get_by_test_id(f"method-{method.pk}")).to_have_count(0)
    method.refresh_from_db()
    assert method.deleted_at is not None


def test_add_debit_order_without_netcash_then_retry_button(page, customer, settings):
    from payments.models import PaymentMethod

    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": ""}
    sign_in(page, customer.user, "/dashboard/billing/")
    page.fill("#id_account_holder", "T Mokoena")
    page.select_option("#id_bank_name", "Standard Bank")
    page.fill("#id_account_number", "10012345678")
    page.fill("#id_branch_code", "051001")
    page.click("text=Add debit order")
    expect(page.get_by_text("Tick the box to authorise CircleTel to debit this account.")).to_be_visible()
    assert not PaymentMethod.objects.exists()
    page.fill("#id_account_number", "10012345678")  # never echoed back, so typed again
    page.check("#id_consent")
    page.click("text=Add debit order")
    expect(page.get_by_text("the debit-order mandate request could not be sent right now")).to_be_visible()
    method = PaymentMethod.objects.get()
    assert (method.display_name, method.mandate_status) == ("Standard Bank ***5678", "pending")
    row = page.get_by_test_id(f"method-{method.pk}")
    assert row.get_by_role("button", name="Send mandate request").count() == 1
    assert "10012345678" not in page.content()
    shot(page, "07b-billing-debit-order")


def test_change_notification_preferences(page, customer):
    sign_in(page, customer.user, "/dashboard/billing/")
    page.uncheck("#id_notify_sms")
    page.click("text=Save preferences")
    expect(page.get_by_text("Your billing preferences were saved.")).to_be_visible()
    account = BillingAccount.objects.get(customer=customer)
    assert (account.notify_email, account.notify_sms, account.auto_pay) == (True, False, False)
    shot(page, "08-billing-preferences")


def test_statement_shows_totals_and_downloads_pdf(page, customer):
    sign_in(page, customer.user, "/dashboard/statement/")
    page.fill("#id_date_from", "2026-01-01")
    page.fill("#id_date_to", "2026-12-31")
    page.click("text=Show")
    page.wait_for_url(re.compile(r"date_from=2026-01-01"))
    expect(page.get_by_test_id("opening")).to_have_text("R 0.00")
    expect(page.get_by_test_id("closing")).to_have_text("R 1,234.50")
    shot(page, "09-statement")
    with page.expect_download() as info:
        page.click("text=Download PDF")
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF")


def test_usage_and_payments_pages(page, customer):
    sign_in(page, customer.user, "/dashboard/usage/")
    assert page.locator("svg.chart").count() == 2
    shot(page, "10-usage")
    page.goto("/dashboard/payments/?method=eft")
    assert page.locator("text=PAY-EFT-1").is_visible()
    shot(page, "11-payments")


def test_profile_edit(page, customer):
    sign_in(page, customer.user, "/dashboard/profile/")
    page.fill("#id_city", "Durban")
    page.click("text=Save details")
    expect(page.get_by_text("Your contact details were saved.")).to_be_visible()
    customer.refresh_from_db()
    assert customer.city == "Durban"
    shot(page, "12-profile")


def test_mobile_layout_has_no_horizontal_scroll(page, customer):
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, customer.user, "/dashboard/invoices/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "13-mobile-invoices")


def test_sign_out(page, customer):
    sign_in(page, customer.user)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/dashboard/" not in url)
    page.goto("/dashboard/")
    assert "/accounts/login/" in page.url
    shot(page, "14-signed-out")


def test_staff_admin_index_reports(page, customer):
    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in(page, staff, "/admin/")
    assert page.locator("text=Accounts receivable aging").is_visible()
    assert page.locator(".ar-row").count() >= 5
    shot(page, "15-admin-reports")


def test_recent_activity_fits_its_cards_at_1280px(page, customer):
    invoice = customer.invoices.filter(status="unpaid").get()
    PaymentFactory(customer=customer, invoice=invoice, amount=Decimal("12345.67"), method="card",
                   reference="PAY-CARD-LONG-REFERENCE-1", status="failed", failure_reason="Insufficient funds")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, customer.user)
    cards = page.locator(".cols.recent > .card")
    expect(cards).to_have_count(2)
    for i in range(2):  # no scrolling inside a card: every column (Amount, Receipt) is in view
        assert cards.nth(i).evaluate("el => el.scrollWidth - el.clientWidth") <= 0
    amounts = cards.nth(1).locator("td[data-label=Amount] .cell")
    expect(amounts.first).to_be_visible()
    # "R" and its figure on one line: the amount's text is a single line box.
    lines = amounts.evaluate_all("""els => els.map(el => {
        const range = document.createRange(); range.selectNodeContents(el.firstChild);
        return range.getClientRects().length; })""")
    assert lines and all(n == 1 for n in lines), lines
    shot(page, "16-dashboard-1280")


def test_mobile_failed_badge_keeps_its_size_beside_the_reason(page, customer):
    PaymentFactory(customer=customer, amount=Decimal("899.00"), status="failed",
                   failure_reason="The bank declined the card: insufficient funds on the account")
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, customer.user, "/dashboard/payments/")
    badge = page.locator(".badge-failed").first
    expect(badge).to_be_visible()
    text_height = page.locator("td[data-label=Date]").first.bounding_box()["height"]
    assert badge.bounding_box()["height"] <= text_height  # one line tall, not stretched to the reason's height
    shot(page, "17-mobile-failed-payment")
