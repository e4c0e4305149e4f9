from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import responses
from django.utils import timezone

from notifications.models import NotificationLog
from reservations import services
from reservations.models import Puppy, Reservation
from reservations.services import expire_reservations, reservation_confirm_payment, reserve
from reservations.tasks import refund_reservation
from tests.queueing import queued_work
from tests.reservations.factories import PuppyFactory, ReservationFactory

BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}


def confirm(r, pi="pi_3PaidDeposit01", amount=None):
    return reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=pi,
                                       amount=amount if amount is not None else r.deposit_amount, currency="ZAR")


@pytest.mark.django_db
def test_confirm_marks_paid_tells_buyer_and_owner_and_queues_conversions(settings,
                                                                         django_capture_on_commit_callbacks):
    settings.RESERVATIONS = {**settings.RESERVATIONS, "OWNER_EMAIL": "breeder@example.co.za"}
    r = reserve(PuppyFactory(name="Bella", breed="Beagle", price=Decimal("9000.00")).pk, **BUYER)

    with mock.patch("django_q.tasks.async_task") as queued, django_capture_on_commit_callbacks(execute=True):
        paid = confirm(r)

    assert (paid.status, paid.external_payment_id, paid.amount_paid) == ("paid", "pi_3PaidDeposit01",
                                                                         Decimal("500.00"))
    assert paid.paid_at is not None
    logs = {(n.event, n.recipient, n.idempotency_key) for n in NotificationLog.objects.all()}
    assert logs == {("deposit_confirmed", "thandi@example.co.za", f"deposit_confirmed:{r.pk}"),
                    ("deposit_new_owner", "breeder@example.co.za", f"deposit_new_owner:{r.pk}")}
    buyer_mail = NotificationLog.objects.get(event="deposit_confirmed")
    assert "Bella (Beagle)" in buyer_mail.subject and "R 8,500.00" in buyer_mail.body
    assert ("reservations.tasks.send_conversions", (r.pk,)) in queued_work(queued)  # a follow-up, rung on commit


@pytest.mark.django_db
def test_confirm_twice_with_the_same_payment_changes_nothing_the_second_time(django_capture_on_commit_callbacks):
    r = reserve(PuppyFactory().pk, **BUYER)
    first = confirm(r)
    with mock.patch("django_q.tasks.async_task") as queued, django_capture_on_commit_callbacks(execute=True):
        again = confirm(r)

    assert again.pk == first.pk and again.status == "paid" and again.updated_at == first.updated_at
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1
    queued.assert_not_called()


@pytest.mark.django_db
def test_underpayment_is_not_booked_and_leaves_the_reservation_pending():
    """Issue 19, item 2: recorded for an automatic refund (tests/reservations/test_unmatched_payments.py)."""
    r = reserve(PuppyFactory().pk, **BUYER)
    same = confirm(r, amount=Decimal("499.99"))
    r.refresh_from_db()
    assert same.pk == r.pk and (r.status, r.external_payment_id) == ("pending", None)
    assert r.unmatched_payments.get().kind == "underpaid"
    assert list(NotificationLog.objects.values_list("event", flat=True)) == ["deposit_payment_returned"]


@pytest.mark.django_db
def test_expiry_frees_the_puppy_only_after_the_hold(settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    assert expire_reservations(now=timezone.now() + timedelta(minutes=29)).expired == 0
    assert Puppy.objects.get(pk=r.puppy_id).status == "reserved"

    result = expire_reservations(now=timezone.now() + timedelta(minutes=31))

    r.refresh_from_db()
    assert (result.expired, r.status) == (1, "expired")
    assert Puppy.objects.get(pk=r.puppy_id).status == "available"
    assert expire_reservations(now=timezone.now() + timedelta(minutes=31)).expired == 0  # idempotent


@pytest.mark.django_db
def test_paid_reservations_never_expire():
    r = reserve(PuppyFactory().pk, **BUYER)
    confirm(r)
    assert expire_reservations(now=timezone.now() + timedelta(days=2)).expired == 0
    assert Reservation.objects.get(pk=r.pk).status == "paid"


@pytest.mark.django_db
def test_late_payer_gets_the_puppy_when_it_is_still_free():
    r = reserve(PuppyFactory().pk, **BUYER)
    expire_reservations(now=timezone.now() + timedelta(minutes=31))

    paid = confirm(r)

    assert paid.status == "paid" and paid.refund_state == ""
    assert Puppy.objects.get(pk=r.puppy_id).status == "reserved"


@pytest.mark.django_db
@responses.activate
def test_late_payer_is_refunded_when_someone_else_reserved_meanwhile(stripe_settings, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.RESERVATIONS = {**settings.RESERVATIONS, "OWNER_EMAIL": "breeder@example.co.za"}
    puppy = PuppyFactory()
    late = reserve(puppy.pk, **BUYER)
    expire_reservations(now=timezone.now() + timedelta(minutes=31))
    winner = reserve(puppy.pk, **{**BUYER, "email": "sipho@example.co.za"})
    refund_call = responses.post("https://api.stripe.com/v1/refunds", json={
        "id": "re_3Late01", "object": "refund", "amount": 50000, "currency": "zar", "status": "succeeded",
        "payment_intent": "pi_3LatePayer01", "charge": "ch_1", "metadata": {}})

    with mock.patch("django_q.tasks.async_task") as queued, django_capture_on_commit_callbacks(execute=True):
        owed = confirm(late, pi="pi_3LatePayer01")
    assert (owed.status, owed.refund_state, owed.amount_paid) == ("expired", "requested", Decimal("500.00"))
    assert queued_work(queued) == [("reservations.tasks.refund_reservation", (late.pk,))]  # a follow-up
    assert refund_call.call_count == 0  # never inside the webhook transaction

    refund_reservation(late.pk)

    late.refresh_from_db()
    assert (late.status, late.refund_state, late.refund_id) == ("refunded", "succeeded", "re_3Late01")
    assert refund_call.call_count == 1
    sent = responses.calls[0].request
    assert "payment_intent=pi_3LatePayer01" in sent.body and "reason=requested_by_customer" in sent.body
    assert sent.headers["Idempotency-Key"] == f"reservation:{late.pk}:refund"
    assert Reservation.objects.get(pk=winner.pk).status == "pending"
    assert Puppy.objects.get(pk=puppy.pk).status == "reserved"
    logs = set(NotificationLog.objects.values_list("event", "recipient"))
    assert logs == {("deposit_refunded", "thandi@example.co.za"), ("deposit_refunded_owner", "breeder@example.co.za")}
    assert "reserved by someone else" in NotificationLog.objects.get(event="deposit_refunded").body

    refund_reservation(late.pk)  # a second run does nothing
    assert refund_call.call_count == 1 and NotificationLog.objects.count() == 2


@pytest.mark.django_db
@responses.activate
def test_failed_refund_is_kept_for_the_sweep(stripe_settings):
    puppy = PuppyFactory()
    late = reserve(puppy.pk, **BUYER)
    expire_reservations(now=timezone.now() + timedelta(minutes=31))
    reserve(puppy.pk, **BUYER)
    confirm(late, pi="pi_3LatePayer02")
    responses.post("https://api.stripe.com/v1/refunds", status=500, json={"error": {"message": "boom"}})

    assert services.reservations_retry_refunds() == (0, 1)

    late.refresh_from_db()
    assert (late.status, late.refund_state, late.refund_id) == ("expired", "failed", "")
    assert "stripe is unavailable (500)" in late.refund_error
    assert NotificationLog.objects.count() == 0


@pytest.mark.django_db
def test_staff_refund_of_a_paid_sandbox_deposit_frees_the_puppy():
    r = ReservationFactory(status="paid", external_payment_id="pi_sandbox_X1", sandbox=True,
                           amount_paid=Decimal("500.00"))
    with pytest.raises(services.InvalidReservation):
        services.reservation_request_refund(reservation_id=r.pk, reason=" ")
    services.reservation_request_refund(reservation_id=r.pk, reason="buyer changed their mind")
    refunded = services.reservation_refund(reservation_id=r.pk)
    assert (refunded.status, refunded.refund_id) == ("refunded", f"re_sandbox_{r.reference}")
    assert Puppy.objects.get(pk=r.puppy_id).status == "available"


@pytest.mark.django_db
def test_mark_sold_refuses_a_puppy_with_a_pending_deposit_then_allows_after_payment():
    r = reserve(PuppyFactory().pk, **BUYER)
    with pytest.raises(services.InvalidTransition):
        services.puppy_mark_sold(puppy_id=r.puppy_id)
    confirm(r)
    assert services.puppy_mark_sold(puppy_id=r.puppy_id).status == "sold"


@pytest.mark.django_db
def test_expire_command_writes_a_job_run(capsys):
    from django.core.management import call_command

    from circletel.models import JobRun

    r = ReservationFactory(expires_at=timezone.now() - timedelta(minutes=1))
    call_command("expire_reservations")
    run = JobRun.objects.get(job_name="expire_reservations")
    assert (run.status, run.processed_count, run.triggered_by) == ("succeeded", 1, "command")
    assert run.details["expired"] == 1
    assert Reservation.objects.get(pk=r.pk).status == "expired"
    assert "expired 1 reservation(s)" in capsys.readouterr().out


def test_schedule_is_declared_every_five_minutes():
    from reservations.schedules import SCHEDULES

    assert [(s.name, s.func, s.cron) for s in SCHEDULES] == [
        ("expire_reservations", "reservations.tasks.expire_reservations_job", "*/5 * * * *")]


@pytest.mark.django_db
def test_summary_per_puppy():
    from reservations.selectors import puppy_summary

    puppy = PuppyFactory(name="Rex")
    ReservationFactory(puppy=puppy, status="expired")
    ReservationFactory(puppy=puppy, status="refunded", amount_paid=Decimal("500.00"))
    ReservationFactory(puppy=puppy, status="paid", amount_paid=Decimal("500.00"))
    s = puppy_summary(puppy_id=puppy.pk)
    assert s["by_status"] == {"pending": 0, "paid": 1, "expired": 1, "cancelled": 0, "refunded": 1}
    assert (s["total"], s["deposits_paid"], s["deposits_refunded"]) == (3, Decimal("500.00"), Decimal("500.00"))


