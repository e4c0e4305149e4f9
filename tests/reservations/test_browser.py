"""Browser test: Playwright + Debian Chromium (headless) against the live server: open a puppy page,
start a reservation, pay the deposit at the sandbox checkout."""

from decimal import Decimal

import pytest

from reservations.models import Puppy, Reservation
from tests.browser import BROWSER_MARKS
from tests.reservations.factories import PuppyFactory

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "", "WEBHOOK_SECRET": ""}
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "", "CLIENT_SECRET": ""}
    context = browser.new_context(base_url=live_server.url)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def test_open_a_puppy_and_reserve_it_with_the_sandbox_card(page, live_server):
    puppy = PuppyFactory(name="Bella", slug="bella", breed="Beagle", deposit_amount=Decimal("500.00"))

    page.goto("/puppies/")
    page.click("text=Bella")
    page.wait_for_url("**/puppies/bella/")  # the click returns before the new page has loaded
    page.fill("#id_name", "Thandi Nkosi")
    page.fill("#id_email", "thandi@example.co.za")
    page.fill("#id_phone", "082 123 4567")
    page.click("#reserve-stripe")

    page.wait_for_url("**/sandbox/")
    assert "Pay deposit R 500.00" in page.inner_text("h1")
    reservation = Reservation.objects.get(puppy=puppy)
    assert reservation.status == "pending"
    assert Puppy.objects.get(pk=puppy.pk).status == "reserved"

    page.goto("/puppies/bella/")  # back on the puppy's page: it is their hold, with the way back to paying
    assert "You are reserving Bella: finish paying your deposit" in page.inner_text("#yours")
    page.click("#finish-paying")
    page.wait_for_url("**/sandbox/")

    page.click("#approve")
    page.wait_for_url("**/success/")
    assert page.get_attribute("#result", "data-status") == "paid"
    assert Reservation.objects.get(pk=reservation.pk).status == "paid"

    page.goto("/puppies/bella/")
    assert "You reserved Bella: your R 500.00 deposit is confirmed" in page.inner_text("#yours")
    assert page.locator("#reserve-stripe").count() == 0

    other = page.context.browser.new_context(base_url=live_server.url)  # another family's browser
    try:
        stranger = other.new_page()
        stranger.goto("/puppies/bella/")
        assert "is reserved by another family" in stranger.inner_text("#unavailable")
        assert stranger.locator("#reserve-stripe").count() == 0
    finally:
        other.close()
