from decimal import Decimal

import pytest

from reservations import services
from reservations.models import Puppy, Reservation
from reservations.services import AlreadyReserved, InvalidReservation, reserve
from tests.concurrency import run_concurrently
from tests.reservations.factories import PuppyFactory, ReservationFactory

BUYER = {"name": "Thandi Nkosi", "email": " Thandi@Example.co.za ", "phone": "082 123 4567", "provider": "stripe"}


@pytest.mark.django_db
def test_reserve_takes_the_puppy_and_creates_a_pending_reservation(settings):
    settings.RESERVATIONS = {**settings.RESERVATIONS, "HOLD_MINUTES": 45}
    puppy = PuppyFactory(deposit_amount=Decimal("750.00"))

    r = reserve(puppy.pk, **BUYER)

    puppy.refresh_from_db()
    assert puppy.status == Puppy.Status.RESERVED
    assert (r.status, r.deposit_amount, r.buyer_email, r.provider) == ("pending", Decimal("750.00"),
                                                                       "thandi@example.co.za", "stripe")
    assert r.reference.startswith("RSV-") and len(r.reference) == 16
    assert round((r.expires_at - r.created_at).total_seconds() / 60) == 45


@pytest.mark.django_db
def test_second_buyer_gets_already_reserved_and_nothing_changes():
    puppy = PuppyFactory()
    first = reserve(puppy.pk, **BUYER)

    with pytest.raises(AlreadyReserved) as exc:
        reserve(puppy.pk, **{**BUYER, "email": "other@example.co.za"})

    assert exc.value.status_code == 409
    assert list(Reservation.objects.values_list("pk", flat=True)) == [first.pk]
    assert Puppy.objects.get(pk=puppy.pk).status == "reserved"


@pytest.mark.django_db
def test_sold_puppy_cannot_be_reserved():
    puppy = PuppyFactory(status=Puppy.Status.SOLD)
    with pytest.raises(AlreadyReserved):
        reserve(puppy.pk, **BUYER)
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
def test_invalid_input_is_refused_before_anything_changes():
    puppy = PuppyFactory()
    with pytest.raises(InvalidReservation) as exc:
        reserve(puppy.pk, name="", email="not-an-email", phone="12", provider="bitcoin")
    assert set(exc.value.extra["fields"]) == {"name", "email", "phone", "provider"}
    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
def test_unknown_puppy_is_not_found():
    with pytest.raises(services.PuppyNotFound):
        reserve(987654, **BUYER)


@pytest.mark.django_db
def test_failure_after_the_puppy_update_rolls_everything_back(monkeypatch):
    puppy = PuppyFactory()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Reservation.objects, "create", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        reserve(puppy.pk, **BUYER)

    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
def test_constraint_violation_after_update_rolls_back_and_reports_already_reserved():
    # Inconsistent data injected: the puppy says available but an active reservation exists.
    stale = ReservationFactory(puppy=PuppyFactory(status=Puppy.Status.AVAILABLE))
    with pytest.raises(AlreadyReserved):
        reserve(stale.puppy_id, **BUYER)
    assert Puppy.objects.get(pk=stale.puppy_id).status == "available"
    assert list(Reservation.objects.values_list("pk", flat=True)) == [stale.pk]


@pytest.mark.django_db
def test_partial_unique_constraint_allows_one_active_reservation_per_puppy():
    from django.db import IntegrityError, transaction

    r = ReservationFactory()
    ReservationFactory(puppy=r.puppy, status=Reservation.Status.EXPIRED)  # inactive ones are fine
    with pytest.raises(IntegrityError), transaction.atomic():
        ReservationFactory(puppy=r.puppy, status=Reservation.Status.PAID)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_reservations_exactly_one_wins():
    puppy = PuppyFactory()
    n = 50
    outcomes = run_concurrently(
        lambda i: reserve(puppy.pk, name=f"Buyer {i}", email=f"buyer{i}@example.co.za", phone="082 123 4567",
                          provider="stripe").pk,
        [(i,) for i in range(n)])
    results = [o for o in outcomes if not isinstance(o, Exception)]
    errors = ["already" if isinstance(o, AlreadyReserved) else repr(o) for o in outcomes if isinstance(o, Exception)]

    assert len(results) == 1
    assert errors == ["already"] * 49
    assert Puppy.objects.get(pk=puppy.pk).status == "reserved"
    assert list(Reservation.objects.values_list("pk", "status")) == [(results[0], "pending")]
