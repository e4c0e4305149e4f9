"""Issue 19, item 2 (ADR 0013): payments that do not match a reservation are never silently lost and
never fail the event 8 times. Underpaid and duplicate payments are refunded automatically through the
one refund engine with the buyer told why; a payment naming no reservation goes on the staff list with
one alert. Each refusal has its positive control beside it."""

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses

from notifications.models import NotificationLog
from reservations import services
from reservations.models import Reservation, UnmatchedPayment
from reservations.services import reservation_confirm_payment, reserve
from reservations.services.unmatched import unmatched_refund_update
from reservations.tasks import refund_unmatched_payment
from tests.reservations.conftest import checkout_completed_event, signed
from tests.reservations.factories import PuppyFactory
from tests.reservations.test_deposit_refund_pending import BUYER, STRIPE_REFUNDS
from tests.webhooks import deliver, event_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks_inline(tasks_run_inline):
    """The webhook's apply task (and the refund task it queues) run inline."""


@pytest.fixture
def ops(settings):
    settings.OPS_EMAIL = "ops@example.co.za"


def _post(client, payload):
    body, header = signed(payload)
    return deliver(client, "/api/webhooks/stripe", body, HTTP_STRIPE_SIGNATURE=header)


def _refund_answer(rid="re_3Unmatched01", status="succeeded", pi="pi_3Second01"):
    return responses.post(STRIPE_REFUNDS, json={
        "id": rid, "object": "refund", "amount": 100, "charge": "ch_3U", "payment_intent": pi, "currency": "zar",
        "status": status, "reason": "requested_by_customer", "metadata": {}})


def _sent(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


# --- underpaid ------------------------------------------------------------------------------------------------
@responses.activate
def test_an_underpayment_is_refunded_automatically_and_the_buyer_told_why(client, stripe_settings, ops):
    r = reserve(PuppyFactory().pk, **BUYER)
    refund = _refund_answer(pi="pi_3Under01")

    response = _post(client, checkout_completed_event(r, event_id="evt_under", pi="pi_3Under01", amount_cents=100))

    assert response.status_code == 200
    assert event_status("evt_under") == "processed"  # not failed: never retried 8 times
    u = UnmatchedPayment.objects.get()
    assert (u.kind, u.outcome, u.amount, u.reservation_id) == ("underpaid", "refund", Decimal("1.00"), r.pk)
    assert (u.refund_state, u.refund_id) == ("succeeded", "re_3Unmatched01")
    sent = _sent(refund.calls[0])
    assert sent["payment_intent"] == "pi_3Under01" and "amount" not in sent  # the whole payment back
    assert refund.calls[0].request.headers["Idempotency-Key"] == f"unmatched:{u.pk}:refund"
    mail = NotificationLog.objects.get(event="deposit_payment_returned")
    assert mail.recipient == "thandi@example.co.za"
    assert "did not cover the deposit of R 500.00" in mail.body and "R 1.00" in mail.body
    r.refresh_from_db()
    assert (r.status, r.external_payment_id) == ("pending", None)  # the hold goes on; the buyer may pay in full
    assert not NotificationLog.objects.filter(event="ops_alert").exists()  # refunded: nothing for staff


@responses.activate
def test_the_full_deposit_is_still_booked_positive_control(client, stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    _post(client, checkout_completed_event(r, event_id="evt_full"))
    r.refresh_from_db()
    assert r.status == "paid" and not UnmatchedPayment.objects.exists()
    assert len(responses.calls) == 0


# --- duplicate ------------------------------------------------------------------------------------------------
@responses.activate
def test_a_second_payment_on_a_paid_reservation_is_refunded_and_the_first_kept(client, stripe_settings, ops):
    r = reserve(PuppyFactory().pk, **BUYER)
    _post(client, checkout_completed_event(r, event_id="evt_first", pi="pi_3First01"))
    refund = _refund_answer(pi="pi_3Second01")

    _post(client, checkout_completed_event(r, event_id="evt_second", pi="pi_3Second01"))
    _post(client, checkout_completed_event(r, event_id="evt_second_again", pi="pi_3Second01"))  # redelivered

    assert event_status("evt_second") == "processed" and event_status("evt_second_again") == "processed"
    r.refresh_from_db()
    assert (r.status, r.external_payment_id) == ("paid", "pi_3First01")
    u = UnmatchedPayment.objects.get()
    assert (u.kind, u.external_payment_id, u.refund_state) == ("duplicate", "pi_3Second01", "succeeded")
    assert refund.call_count == 1 and _sent(refund.calls[0])["payment_intent"] == "pi_3Second01"
    mail = NotificationLog.objects.get(event="deposit_payment_returned")
    assert "had already been paid" in mail.body


@responses.activate
def test_the_same_payment_twice_is_a_replay_not_a_duplicate_positive_control(client, stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    _post(client, checkout_completed_event(r, event_id="evt_a", pi="pi_3Same01"))
    _post(client, checkout_completed_event(r, event_id="evt_b", pi="pi_3Same01"))
    assert not UnmatchedPayment.objects.exists() and len(responses.calls) == 0


# --- unknown reservation --------------------------------------------------------------------------------------
@responses.activate
def test_a_checkout_session_for_an_unknown_reservation_goes_to_staff_with_one_alert(client, stripe_settings, ops):
    ghost = Reservation(reference="RSV-000000GHOST0", deposit_amount=Decimal("500.00"))
    payload = checkout_completed_event(ghost, event_id="evt_ghost", pi="pi_3Ghost01")
    payload["data"]["object"]["customer_details"] = {"email": "someone@example.co.za", "name": "Someone"}

    _post(client, payload)
    again = json.loads(json.dumps(payload))
    again["id"] = "evt_ghost_retry"  # the same payment in another event (async_payment_succeeded, say)
    _post(client, again)

    assert event_status("evt_ghost") == "processed" and event_status("evt_ghost_retry") == "processed"
    u = UnmatchedPayment.objects.get()
    assert (u.kind, u.outcome, u.refund_state, u.reference) == ("unknown_reservation", "staff", "",
                                                                "RSV-000000GHOST0")
    assert (u.payer_email, u.amount) == ("someone@example.co.za", Decimal("500.00"))
    alerts = NotificationLog.objects.filter(event="ops_alert")
    assert alerts.count() == 1 and "matches no reservation" in alerts.get().subject + alerts.get().body
    assert len(responses.calls) == 0  # nobody's money is refunded on a guess
    assert not NotificationLog.objects.filter(event="deposit_payment_returned").exists()


@responses.activate
def test_staff_refund_a_listed_payment_through_the_engine(client, stripe_settings, ops):
    ghost = Reservation(reference="RSV-000000GHOST0", deposit_amount=Decimal("500.00"))
    _post(client, checkout_completed_event(ghost, event_id="evt_ghost", pi="pi_3Ghost01"))
    u = UnmatchedPayment.objects.get()
    refund = _refund_answer(pi="pi_3Ghost01")

    services.unmatched_payment_request_refund(unmatched_id=u.pk, reason="test payment from staging")
    refund_unmatched_payment(u.pk)

    u.refresh_from_db()
    assert (u.refund_state, u.refund_id) == ("succeeded", "re_3Unmatched01")
    assert _sent(refund.calls[0])["metadata[kind]"] == "reservation_unmatched_payment"
    with pytest.raises(services.InvalidTransition):
        services.unmatched_payment_request_refund(unmatched_id=u.pk, reason="again")
    assert refund.call_count == 1


def test_staff_close_a_listed_payment_with_a_note(stripe_settings, ops):
    u = services.unmatched_payment_record(
        provider="stripe", external_payment_id="pi_3Ghost02", kind="unknown_reservation", reference="RSV-X",
        amount=Decimal("500.00"), currency="ZAR", detail="no reservation has the reference 'RSV-X'")
    with pytest.raises(services.ReservationError):
        services.unmatched_payment_resolve(unmatched_id=u.pk, note="  ")
    done = services.unmatched_payment_resolve(unmatched_id=u.pk, note="booked by hand on RSV-Y")
    assert done.resolved_at is not None and done.resolution == "booked by hand on RSV-Y"


# --- the refund's own outcomes (the engine's policy) ---------------------------------------------------------
def _underpaid(r, pi="pi_3Under01"):
    return reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=pi,
                                       amount=Decimal("1.00"), currency="ZAR")


@responses.activate
def test_a_refund_stripe_refuses_for_good_alerts_once_and_is_never_retried(stripe_settings, ops, queued):
    r = reserve(PuppyFactory().pk, **BUYER)
    _underpaid(r)
    u = UnmatchedPayment.objects.get()
    responses.post(STRIPE_REFUNDS, status=400, json={"error": {
        "type": "invalid_request_error", "code": "charge_disputed", "message": "This charge is disputed."}})

    with pytest.raises(Exception):  # noqa: B017 - the task raises the provider error
        refund_unmatched_payment(u.pk)
    for _ in range(3):
        assert services.unmatched_payments_retry_refunds() == (0, 0)

    u.refresh_from_db()
    assert u.refund_state == "refused" and "charge_disputed" in u.refund_error
    assert len(responses.calls) == 1
    keys = sorted(NotificationLog.objects.filter(idempotency_key__startswith=f"unmatched_refund_refused:{u.pk}")
                  .values_list("event", "recipient"))
    assert keys == [("deposit_refund_refused", "thandi@example.co.za"), ("ops_alert", "ops@example.co.za")]


@responses.activate
def test_a_refund_with_no_answer_is_asked_again_with_the_same_key(stripe_settings, queued):
    r = reserve(PuppyFactory().pk, **BUYER)
    _underpaid(r)
    u = UnmatchedPayment.objects.get()
    responses.post(STRIPE_REFUNDS, status=503, json={"error": {"type": "api_error", "message": "down"}})

    with pytest.raises(Exception):  # noqa: B017
        refund_unmatched_payment(u.pk)
    u.refresh_from_db()
    assert u.refund_state == "failed" and u.refund_unanswered_since is not None

    responses.replace(responses.POST, STRIPE_REFUNDS, json={
        "id": "re_3Later01", "object": "refund", "amount": 100, "payment_intent": "pi_3Under01", "currency": "zar",
        "status": "succeeded", "metadata": {}})
    assert services.unmatched_payments_retry_refunds() == (1, 0)
    u.refresh_from_db()
    assert (u.refund_state, u.refund_id) == ("succeeded", "re_3Later01")
    keys = {c.request.headers["Idempotency-Key"] for c in responses.calls}
    assert keys == {f"unmatched:{u.pk}:refund"}


@responses.activate
def test_a_pending_stripe_refund_is_finished_by_its_refund_event(client, stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    _underpaid(r)
    u = UnmatchedPayment.objects.get()
    _refund_answer(rid="re_3Pend01", status="pending", pi="pi_3Under01")
    refund_unmatched_payment(u.pk)
    u.refresh_from_db()
    assert (u.refund_state, u.refund_id) == ("pending", "re_3Pend01")

    event = {"id": "evt_refund_done", "object": "event", "type": "refund.updated", "created": 1,
             "data": {"object": {"id": "re_3Pend01", "object": "refund", "status": "succeeded",
                                 "payment_intent": "pi_3Under01",
                                 "metadata": {"kind": "reservation_unmatched_payment", "unmatched": str(u.pk)}}}}
    _post(client, event)

    assert event_status("evt_refund_done") == "processed"
    u.refresh_from_db()
    assert (u.refund_state, u.refunded_at is not None) == ("succeeded", True)
    assert unmatched_refund_update(provider_refund_id="re_3Pend01", status="failed", raw={}) is True
    u.refresh_from_db()
    assert u.refund_state == "succeeded"  # a late word changes nothing


def test_a_wrong_provider_payment_goes_to_staff(stripe_settings, ops):
    r = reserve(PuppyFactory(currency="USD").pk, **(BUYER | {"provider": "paypal"}))  # PayPal: a USD listing
    same = reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id="pi_3Wrong01",
                                       amount=Decimal("500.00"), currency="USD")
    assert same.status == "pending"
    u = UnmatchedPayment.objects.get()
    assert (u.kind, u.outcome) == ("wrong_provider", "staff")
    assert NotificationLog.objects.filter(event="ops_alert").count() == 1


def test_the_admin_lists_unmatched_payments(admin_client, stripe_settings):
    services.unmatched_payment_record(
        provider="stripe", external_payment_id="pi_3Ghost03", kind="unknown_reservation", reference="RSV-Z",
        amount=Decimal("500.00"), currency="ZAR", detail="no reservation has the reference 'RSV-Z'")
    listing = admin_client.get("/admin/reservations/unmatchedpayment/?open=yes")
    assert listing.status_code == 200 and "pi_3Ghost03" in listing.content.decode()
    closed = admin_client.get("/admin/reservations/unmatchedpayment/?open=no")
    assert "pi_3Ghost03" not in closed.content.decode()

