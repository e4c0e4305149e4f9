"""The cancelled-checkout page says what the database says: a reservation that is paid (its webhook
came before the buyer's browser) reads as paid with a link to its success page, and "Release my
reservation now" changes nothing on it and says so. Positive controls: a pending hold still reads
"no money was taken" and is released by the POST."""

import pytest

from reservations.models import Puppy, Reservation
from tests.reservations.factories import PuppyFactory, ReservationFactory

pytestmark = pytest.mark.django_db


def _paid():
    puppy = PuppyFactory(slug="rex", name="Rex", status=Puppy.Status.RESERVED)
    return ReservationFactory(puppy=puppy, status=Reservation.Status.PAID, amount_paid=puppy.deposit_amount)


def test_the_cancelled_page_of_a_paid_reservation_says_it_is_paid(client):
    r = _paid()
    body = client.get(f"/puppies/checkout/{r.reference}/cancelled/").content.decode()
    assert f"Reservation {r.reference} is paid" in body
    assert f'href="/puppies/checkout/{r.reference}/success/" id="see-reservation"' in body
    assert "no money was taken" not in body and "Release my reservation" not in body and "try-again" not in body


def test_releasing_a_paid_reservation_changes_nothing_and_says_so(client):
    r = _paid()
    response = client.post(f"/puppies/checkout/{r.reference}/cancelled/")
    assert response.status_code == 302 and response["Location"] == f"/puppies/checkout/{r.reference}/success/"
    r.refresh_from_db()
    r.puppy.refresh_from_db()
    assert (r.status, r.puppy.status) == (Reservation.Status.PAID, Puppy.Status.RESERVED)
    body = client.get(response["Location"]).content.decode()
    assert f"Reservation {r.reference} is paid, so it was not released: nothing changed." in body
    assert "Your reservation was released." not in body


def test_releasing_an_expired_reservation_says_nothing_changed(client):
    r = ReservationFactory(puppy=PuppyFactory(slug="bella", name="Bella"), status=Reservation.Status.EXPIRED)
    body = client.post(f"/puppies/checkout/{r.reference}/cancelled/", follow=True).content.decode()
    assert f"Reservation {r.reference} is already expired: nothing changed." in body
    assert "Your reservation was released." not in body
    r.refresh_from_db()
    assert r.status == Reservation.Status.EXPIRED


def test_positive_control_a_pending_hold_is_released_and_reads_no_money_taken(client):
    puppy = PuppyFactory(slug="bella", name="Bella", status=Puppy.Status.RESERVED)
    r = ReservationFactory(puppy=puppy)
    body = client.get(f"/puppies/checkout/{r.reference}/cancelled/").content.decode()
    assert "no money was taken" in body and "Release my reservation now" in body and "is paid" not in body
    response = client.post(f"/puppies/checkout/{r.reference}/cancelled/")
    assert response["Location"] == "/puppies/bella/"
    assert "Your reservation was released." in client.get(response["Location"]).content.decode()
    r.refresh_from_db()
    puppy.refresh_from_db()
    assert (r.status, puppy.status) == (Reservation.Status.CANCELLED, Puppy.Status.AVAILABLE)
