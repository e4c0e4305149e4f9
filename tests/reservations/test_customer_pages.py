"""Issue 18, reservation pages: an unpaid hold reads "on hold until 14:35" (local time) on the list and
the puppy's page; the deposit success page says what happens next; a declined or cancelled payment
offers to try again (the browser drives the same in tests/reservations/test_customer_pages_browser.py)."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from reservations.models import Puppy, Reservation
from tests.reservations.factories import PuppyFactory, ReservationFactory

pytestmark = pytest.mark.django_db

FORM = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}
SAST = timezone.get_default_timezone()


def _held_until(puppy, hh, mm, **kwargs):
    """A pending hold ending today at hh:mm Johannesburg time (stored in UTC)."""
    local = datetime.combine(timezone.localdate(), datetime.min.time()).replace(hour=hh, minute=mm, tzinfo=SAST)
    return ReservationFactory(puppy=puppy, expires_at=local, **kwargs)


def test_an_unpaid_hold_reads_on_hold_until_local_time(client):
    puppy = PuppyFactory(slug="bella", name="Bella", status=Puppy.Status.RESERVED)
    _held_until(puppy, 14, 35)
    detail = client.get("/puppies/bella/").content.decode()
    assert "On hold until 14:35" in detail and "Bella is on hold until 14:35" in detail
    assert "another family" not in detail
    listing = client.get("/puppies/").content.decode()
    assert 'data-testid="status-bella">On hold until 14:35</span>' in listing


def test_positive_control_a_paid_deposit_reads_reserved(client):
    puppy = PuppyFactory(slug="rex", name="Rex", status=Puppy.Status.RESERVED)
    _held_until(puppy, 14, 35, status=Reservation.Status.PAID, amount_paid=puppy.deposit_amount)
    detail = client.get("/puppies/rex/").content.decode()
    assert "Rex is reserved by another family" in detail and "On hold" not in detail
    assert 'data-testid="status-rex">Reserved</span>' in client.get("/puppies/").content.decode()


def test_success_page_says_what_happens_next(client, no_providers):
    PuppyFactory(slug="bella", name="Bella", price=Decimal("8000.00"), deposit_amount=Decimal("500.00"))
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    body = client.post(checkout, {"action": "approve"}, follow=True).content.decode()
    assert "What happens next" in body
    assert "The breeder will contact you at thandi@example.co.za or 082 123 4567" in body
    assert "You pay the balance of R 7,500.00" in body


def test_success_page_while_waiting_says_the_hold_lasts(client):
    r = ReservationFactory(puppy=PuppyFactory(slug="bella", name="Bella", status=Puppy.Status.RESERVED))
    body = client.get(f"/puppies/checkout/{r.reference}/success/").content.decode()
    until = timezone.localtime(r.expires_at).strftime("%H:%M")
    assert "Payment processing" in body and f"Bella stays on hold for you until {until}" in body


def test_a_declined_payment_offers_to_try_again_with_the_details_kept(client, no_providers):
    PuppyFactory(slug="bella", name="Bella")
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    declined = client.post(checkout, {"action": "decline"}, follow=True).content.decode()
    r = Reservation.objects.get()
    assert r.status == "cancelled"
    assert "no money was taken" in declined
    retry = f"/puppies/bella/?retry={r.reference}#reserve"
    assert f'href="{retry}" id="try-again">Try again</a>' in declined
    form = client.get(retry.split("#")[0]).content.decode()
    assert 'value="Thandi Nkosi"' in form and 'value="thandi@example.co.za"' in form and "Reserve with card" in form
    # another browser with the same link learns nothing about the buyer
    stranger = Client().get(retry.split("#")[0]).content.decode()
    assert "Thandi Nkosi" not in stranger and "thandi@example.co.za" not in stranger


def test_a_cancelled_checkout_while_the_hold_lasts_offers_the_same_checkout_again(client, no_providers):
    PuppyFactory(slug="bella", name="Bella")
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    r = Reservation.objects.get()
    body = client.get(f"/puppies/checkout/{r.reference}/cancelled/").content.decode()
    assert f'href="{checkout}" id="try-again">Try paying again</a>' in body
    # another browser (no remembered hold) is sent back to the puppy's page instead of the checkout
    other = Client().get(f"/puppies/checkout/{r.reference}/cancelled/").content.decode()
    assert "Try paying again" not in other and 'href="/puppies/bella/" id="try-again"' in other


def test_no_try_again_once_the_puppy_is_taken(client, no_providers):
    puppy = PuppyFactory(slug="bella", name="Bella")
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    client.post(checkout, {"action": "decline"})
    r = Reservation.objects.get()
    ReservationFactory(puppy=puppy, buyer_email="someone@example.co.za")
    Puppy.objects.filter(pk=puppy.pk).update(status=Puppy.Status.RESERVED)
    body = client.get(f"/puppies/checkout/{r.reference}/cancelled/").content.decode()
    assert 'id="try-again"' not in body and "Bella is no longer available" in body
