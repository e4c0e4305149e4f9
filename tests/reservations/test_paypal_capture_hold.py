"""Issue 19, item 1: a PayPal deposit is captured only while the buyer still holds the puppy, checked
under the reservation's row lock; after the hold lapsed the order is abandoned (never captured), the
buyer is told, and no money moves (reservations.services.deposit_checkout.reservation_paypal_capture)."""

import json
import threading
import time
from datetime import timedelta

import pytest
import responses
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import NotificationLog
from reservations.errors import HoldLapsed
from reservations.models import Puppy, Reservation
from reservations.services import expire_reservations, reservation_paypal_capture, reserve
from tests.reservations.factories import PuppyFactory
from tests.reservations.test_paypal import BUYER, PP

ORDER = "5O190127TN364715T"
CAPTURE_URL = f"{PP}/v2/checkout/orders/{ORDER}/capture"


def _paypal_capture_answers(reference: str):
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    return responses.post(CAPTURE_URL, status=201, json={
        "id": ORDER, "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": reference,
            "amount": {"currency_code": "USD", "value": "500.00"}}]}}]})


def _approved(**changes) -> Reservation:
    """A PayPal reservation whose buyer approved order ORDER."""
    r = reserve(PuppyFactory(currency="USD").pk, **BUYER)
    Reservation.objects.filter(pk=r.pk).update(checkout_id=ORDER, **changes)
    r.refresh_from_db()
    return r


@pytest.mark.django_db
@responses.activate
def test_a_held_reservation_is_captured_and_paid(paypal_settings):
    """Positive control: the hold is still the buyer's, so the order is captured and the deposit booked."""
    r = _approved()
    capture = _paypal_capture_answers(r.reference)

    paid = reservation_paypal_capture(order_id=ORDER)

    assert capture.call_count == 1
    assert (paid.status, paid.external_payment_id) == ("paid", "3C679366HH908993F")


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("status", ["expired", "cancelled"])
def test_an_approval_after_the_hold_lapsed_is_never_captured(paypal_settings, status):
    r = _approved(status=status)
    Puppy.objects.filter(pk=r.puppy_id).update(status="available")
    capture = _paypal_capture_answers(r.reference)

    with pytest.raises(HoldLapsed) as refused:
        reservation_paypal_capture(order_id=ORDER)

    assert capture.call_count == 0  # nothing sent to PayPal: no money moves
    assert refused.value.extra["code"] == "hold_lapsed"
    r.refresh_from_db()
    assert (r.status, r.external_payment_id, r.refund_state) == (status, None, "")
    assert r.status_reason.startswith(f"PayPal order {ORDER} approved after the hold lapsed: not captured")
    mail = NotificationLog.objects.get(event="deposit_not_captured")
    assert mail.recipient == "thandi@example.co.za" and "No money was taken" in mail.body


@pytest.mark.django_db
@responses.activate
def test_a_pending_hold_whose_time_passed_is_expired_not_captured(paypal_settings):
    """The sweep has not run yet: the capture path expires the hold itself instead of charging."""
    r = _approved(expires_at=timezone.now() - timedelta(seconds=1))
    capture = _paypal_capture_answers(r.reference)

    with pytest.raises(HoldLapsed):
        reservation_paypal_capture(order_id=ORDER)

    r.refresh_from_db()
    assert capture.call_count == 0
    assert (r.status, r.puppy.status) == ("expired", "available")


@pytest.mark.django_db
@responses.activate
def test_another_buyer_holds_the_puppy_now_so_the_late_approval_is_not_captured(paypal_settings):
    r = _approved(status="expired")
    Puppy.objects.filter(pk=r.puppy_id).update(status="available")
    other = reserve(r.puppy_id, name="Sipho", email="sipho@example.co.za", phone="083 555 1234", provider="stripe")
    capture = _paypal_capture_answers(r.reference)

    with pytest.raises(HoldLapsed):
        reservation_paypal_capture(order_id=ORDER)

    assert capture.call_count == 0
    assert Reservation.objects.get(pk=other.pk).status == "pending"


@pytest.mark.django_db
@responses.activate
def test_the_hold_is_kept_while_the_capture_is_in_flight(paypal_settings):
    """Between our check and PayPal's answer the expiry sweep must not lapse the hold (else the buyer is
    charged and then refunded): the check keeps the hold for CAPTURE_GRACE."""
    r = _approved(expires_at=timezone.now() + timedelta(seconds=5))
    responses.post(f"{PP}/v1/oauth2/token", json={"access_token": "A21AA-token", "expires_in": 32400})
    swept = []

    def capture_while_the_sweep_runs(request):
        swept.append(expire_reservations(now=timezone.now() + timedelta(minutes=1)).expired)
        return 201, {}, json.dumps({"id": ORDER, "status": "COMPLETED", "purchase_units": [{"payments": {
            "captures": [{"id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": r.reference,
                          "amount": {"currency_code": "USD", "value": "500.00"}}]}}]})

    responses.add_callback(responses.POST, CAPTURE_URL, callback=capture_while_the_sweep_runs)

    paid = reservation_paypal_capture(order_id=ORDER)

    assert swept == [0]
    assert paid.status == "paid"


@pytest.mark.django_db
@responses.activate
def test_the_paypal_return_page_tells_the_buyer_nothing_was_taken(client, paypal_settings):
    r = _approved(status="expired")
    Puppy.objects.filter(pk=r.puppy_id).update(status="available")
    capture = _paypal_capture_answers(r.reference)

    response = client.get(f"/puppies/checkout/{r.reference}/paypal-return/", {"token": ORDER}, follow=True)

    assert capture.call_count == 0
    assert response.redirect_chain[-1][0] == f"/puppies/{r.puppy.slug}/"
    assert "we did not take the money" in response.content.decode()


@pytest.mark.django_db
@responses.activate
def test_the_capture_api_answers_409_hold_lapsed(client, paypal_settings):
    r = _approved(status="expired")
    capture = _paypal_capture_answers(r.reference)

    response = client.post("/api/paypal/capture", {"order_id": ORDER}, content_type="application/json")

    assert capture.call_count == 0
    assert response.status_code == 409 and response.json()["extra"]["code"] == "hold_lapsed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@responses.activate
def test_the_hold_check_waits_for_the_reservation_row_lock(paypal_settings):
    """The expiry sweep holds the reservation's row lock while it lapses the hold; a capture arriving at
    that moment waits for the lock, then sees the hold gone and never calls PayPal. Without the lock it
    would read `pending` and capture (the buyer charged, then refunded)."""
    r = _approved()
    capture = _paypal_capture_answers(r.reference)
    locked, outcome = threading.Event(), {}

    def sweep():
        try:
            with transaction.atomic():
                row = Reservation.objects.select_for_update().get(pk=r.pk)
                locked.set()
                time.sleep(1.0)  # the capture request arrives while the sweep holds the row
                row.status, row.status_reason = "expired", "hold of 30 minutes passed without payment"
                row.save(update_fields=["status", "status_reason", "updated_at"])
                Puppy.objects.filter(pk=r.puppy_id).update(status="available")
        finally:
            connection.close()

    def buyer_returns():
        locked.wait(10)
        try:
            outcome["result"] = reservation_paypal_capture(order_id=ORDER)
        except Exception as exc:  # asserted below
            outcome["result"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep), threading.Thread(target=buyer_returns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert isinstance(outcome["result"], HoldLapsed)
    assert capture.call_count == 0
    r.refresh_from_db()
    assert (r.status, r.external_payment_id) == ("expired", None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@responses.activate
def test_a_held_capture_under_the_lock_still_goes_through_on_postgres(paypal_settings):
    """Positive control for the lock test: with nobody lapsing the hold the capture proceeds."""
    r = _approved()
    capture = _paypal_capture_answers(r.reference)

    paid = reservation_paypal_capture(order_id=ORDER)

    assert capture.call_count == 1 and paid.status == "paid"
