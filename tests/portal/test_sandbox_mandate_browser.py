"""Browser: a customer adds a debit order, signs its eMandate on the sandbox's stand-in for NetCash's
signing page, and sees the method usable (issue 18, "the sandbox can simulate the customer signing")."""

import pytest
from playwright.sync_api import expect

from notifications.models import NotificationLog
from payments.models import Mandate, PaymentMethod
from tests.browser import BROWSER_MARKS, live_page, sign_in
from tests.portal.factories import customer_with_login, payment_method

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser, live_server, settings, tasks_run_inline):
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": ""}  # no NetCash: the sandbox signs
    with live_page(browser, live_server, settings, timeout_ms=15_000) as pg:
        yield pg


def _add_debit_order(page):
    page.fill("#id_account_holder", "T Mokoena")
    page.select_option("#id_bank_name", "Standard Bank")
    page.fill("#id_account_number", "10012345678")
    page.fill("#id_branch_code", "051001")
    page.select_option("#id_account_type", "savings")
    page.uncheck("#id_make_primary")  # it takes the primary place only once signed (the existing rule)
    page.check("#id_consent")
    page.click("text=Add debit order")


def test_add_a_debit_order_sign_it_in_the_sandbox_and_it_is_usable(page):
    customer = customer_with_login(first_name="Thandi", last_name="Mokoena")
    expired = payment_method(customer, primary=True, last_four="1111")
    PaymentMethod.objects.filter(pk=expired.pk).update(card_expiry_year=2020)  # the primary cannot be collected from
    sign_in(page, customer.user, "/dashboard/billing/")
    _add_debit_order(page)
    debit = PaymentMethod.objects.get(method_type="debit_order")
    row = page.get_by_test_id(f"method-{debit.pk}")
    expect(row).to_contain_text("mandate pending")
    expect(page.get_by_test_id(f"primary-refusal-{debit.pk}")).to_be_visible()  # not usable yet
    assert PaymentMethod.objects.get(pk=expired.pk).is_primary is True  # nothing signed yet: unchanged

    page.get_by_test_id(f"sandbox-mandate-link-{debit.pk}").click()
    expect(page.get_by_test_id("mandate-account")).to_contain_text("Standard Bank ***5678")
    expect(page.get_by_test_id("mandate-amount")).to_contain_text("R 1,000.00")
    assert "10012345678" not in page.content()
    assert Mandate.objects.get().status == "pending"  # opening the page changes nothing
    page.get_by_test_id("mandate-sign").click()

    page.wait_for_url("**/dashboard/billing/**")
    expect(page.get_by_text("The mandate for Standard Bank ***5678 is signed", exact=False)).to_be_visible()
    row = page.get_by_test_id(f"method-{debit.pk}")
    expect(row).to_contain_text("mandate active")
    expect(row.locator(".badge", has_text="Primary")).to_be_visible()
    expect(page.get_by_test_id(f"sandbox-mandate-link-{debit.pk}")).to_have_count(0)
    expect(page.get_by_test_id(f"primary-refusal-{debit.pk}")).to_have_count(0)
    assert PaymentMethod.objects.get(pk=expired.pk).is_primary is False  # the unusable card gave way
    debit.refresh_from_db()
    assert (debit.mandate_status, debit.is_primary) == ("active", True)
    assert Mandate.objects.get().status == "active"
    assert NotificationLog.objects.filter(event="mandate_accepted").count() == 1
