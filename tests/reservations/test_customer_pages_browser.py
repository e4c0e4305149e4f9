"""Issue 18, reservations in a real browser (Playwright + Debian Chromium against the live server): another
buyer sees an unpaid hold as "On hold until 14:35" (local time); a declined deposit offers "Try again"
with the details kept; the success page says what happens next. Screenshots: artifacts/screenshots/18-r*.png."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reservations.models import Reservation
from tests.browser import BROWSER_MARKS
from tests.reservations.factories import PuppyFactory

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(sandbox_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    return sandbox_page


def _reserve(page):
    page.fill("#id_name", "Thandi Nkosi")
    page.fill("#id_email", "thandi@example.co.za")
    page.fill("#id_phone", "082 123 4567")
    page.click("#reserve-stripe")
    page.wait_for_url("**/sandbox/")


def test_hold_declined_try_again_and_what_happens_next(page, live_server):
    PuppyFactory(name="Bella", slug="bella", breed="Beagle", price=Decimal("8000.00"),
                 deposit_amount=Decimal("500.00"))
    page.goto("/puppies/bella/")
    _reserve(page)
    hold = Reservation.objects.get()
    until = timezone.localtime(hold.expires_at).strftime("%H:%M")

    other = page.context.browser.new_context(base_url=live_server.url)  # another buyer's browser
    try:
        stranger = other.new_page()
        stranger.goto("/puppies/bella/")
        card = stranger.locator("#unavailable")
        expect(card.locator("h2")).to_have_text(f"On hold until {until}")
        assert "another family" not in card.inner_text()
        stranger.goto("/puppies/")
        expect(stranger.get_by_test_id("status-bella")).to_have_text(f"On hold until {until}")
        stranger.screenshot(path=str(SHOTS / "18-r1-on-hold-until.png"), full_page=True)
    finally:
        other.close()

    page.click("#decline")  # the payment is declined: the hold is released
    page.wait_for_url("**/cancelled/")
    expect(page.get_by_text("no money was taken")).to_be_visible()
    page.screenshot(path=str(SHOTS / "18-r2-declined-try-again.png"), full_page=True)
    page.click("#try-again")
    page.wait_for_url("**/puppies/bella/?retry=*")
    expect(page.locator("#id_name")).to_have_value("Thandi Nkosi")  # the details are kept
    expect(page.locator("#id_email")).to_have_value("thandi@example.co.za")
    page.click("#reserve-stripe")
    page.wait_for_url("**/sandbox/")
    page.click("#approve")
    page.wait_for_url("**/success/")
    steps = page.locator("#next-steps")
    expect(steps).to_contain_text("The breeder will contact you at thandi@example.co.za or 082 123 4567")
    expect(steps).to_contain_text("You pay the balance of R 7,500.00")
    page.screenshot(path=str(SHOTS / "18-r3-success-next-steps.png"), full_page=True)
    assert Reservation.objects.filter(status="paid").count() == 1
