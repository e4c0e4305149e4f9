"""Deposit refunds Stripe has not finished (reservations/services/deposits.py, "Finality rule"): a
`pending` answer is not a refund; Stripe's refund events finish it (`deposit_refund_update`), each
delivered twice; a failed refund goes back to the sweep, which tries a new refund under a new key."""

import time
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses

from notifications.models import NotificationLog
from reservations import services
from reservations.models import Puppy, Reservation
from reservations.services import reservation_confirm_payment, reserve
from reservations.services.deposits import deposit_refund_update
from reservations.tasks import refund_reservation
from tests.reservations.conftest import signed
from tests.reservations.factories import PuppyFactory

STRIPE_REFUNDS = "https://api.stripe.com/v1/refunds"
BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}
PI = "pi_3DepositRefund01"


@pytest.fixture
def owner(settings):
    settings.RESERVATIONS = {**settings.RESERVATIONS, "OWNER_EMAIL": "breeder@example.co.za"}


def _stripe_answers(rid: str, status: str):
    return responses.post(STRIPE_REFUNDS, json={
        "id": rid, "object": "refund", "amount": 50000, "charge": "ch_3Dep01", "payment_intent": PI,
        "currency": "zar", "status": status, "reason": "requested_by_customer", "metadata": {}})


def _refund(r, rid: str, status: str, *, after: str = "", **extra) -> dict:
    """A Stripe Refund object (CONTRACTS 3.3) as `refund.updated` / `refund.failed` carry it; metadata as
    our refund_create sets it."""
    metadata = {"kind": "reservation_deposit", "reference": r.reference, **({"after": after} if after else {})}
    return {"id": rid, "object": "refund", "amount": 50000, "charge": "ch_3Dep01", "payment_intent": PI,
            "currency": "zar", "status": status, "reason": "requested_by_customer", "metadata": metadata,
            "balance_transaction": None, "created": 1700000100, **extra}


def _event(r, rid: str, status: str, **kw) -> bool:
    return deposit_refund_update(provider_refund_id=rid, status=status, raw=_refund(r, rid, status, **kw))


def _staff_refund_answered(status: str, rid: str = "re_3Pend01") -> tuple[Reservation, responses.BaseResponse]:
    """A paid Stripe deposit, refunded by staff; Stripe answers the create call with `status`."""
    r = reserve(PuppyFactory().pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=PI,
                                amount=Decimal("500.00"), currency="ZAR")
    services.reservation_request_refund(reservation_id=r.pk, reason="litter cancelled")
    call = _stripe_answers(rid, status)
    refund_reservation(r.pk)
    r.refresh_from_db()
    return r, call


def _refund_mails() -> list[tuple[str, str]]:
    return sorted(NotificationLog.objects.filter(event__startswith="deposit_refunded")
                  .values_list("event", "recipient"))


def _state(r) -> tuple:
    r.refresh_from_db()
    return r.status, r.refund_state, r.refund_id, r.refunded_at is not None, r.puppy.status


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("word", ["pending", "requires_action"])
def test_a_pending_answer_is_not_a_refund(stripe_settings, owner, word):
    r, call = _staff_refund_answered(word)

    assert _state(r) == ("paid", "pending", "re_3Pend01", False, "reserved")
    assert r.refund_error == ""
    assert _refund_mails() == []
    # Neither the sweep nor a repeated task asks Stripe again, and staff cannot request a second refund.
    assert services.reservations_retry_refunds() == (0, 0)
    refund_reservation(r.pk)
    assert call.call_count == 1
    with pytest.raises(services.InvalidTransition, match="waiting for the provider"):
        services.reservation_request_refund(reservation_id=r.pk, reason="again")
    assert _state(r) == ("paid", "pending", "re_3Pend01", False, "reserved")


@pytest.mark.django_db
@responses.activate
def test_succeeded_event_books_the_refund_once(stripe_settings, owner):
    r, _ = _staff_refund_answered("pending")

    assert _event(r, "re_3Pend01", "succeeded") is True
    first = Reservation.objects.get(pk=r.pk)
    assert _event(r, "re_3Pend01", "succeeded") is True  # delivered twice

    assert _state(r) == ("refunded", "succeeded", "re_3Pend01", True, "available")
    assert r.updated_at == first.updated_at and r.refunded_at == first.refunded_at
    assert _refund_mails() == [("deposit_refunded", "thandi@example.co.za"),
                               ("deposit_refunded_owner", "breeder@example.co.za")]


@pytest.mark.django_db
@responses.activate
def test_late_pending_after_succeeded_is_ignored(stripe_settings, owner):
    r, _ = _staff_refund_answered("pending")
    _event(r, "re_3Pend01", "succeeded")
    done = Reservation.objects.get(pk=r.pk)

    assert _event(r, "re_3Pend01", "pending") is True
    assert _event(r, "re_3Pend01", "requires_action") is True

    assert _state(r) == ("refunded", "succeeded", "re_3Pend01", True, "available")
    assert r.updated_at == done.updated_at
    assert len(_refund_mails()) == 2


@pytest.mark.django_db
@responses.activate
def test_failed_refund_goes_back_to_the_sweep_with_the_reason_and_is_retried_under_a_new_key(stripe_settings, owner):
    r, _ = _staff_refund_answered("pending")

    assert _event(r, "re_3Pend01", "failed", failure_reason="expired_or_canceled_card") is True
    assert _state(r) == ("paid", "failed", "re_3Pend01", False, "reserved")
    assert "re_3Pend01 failed (expired_or_canceled_card)" in r.refund_error
    failed = Reservation.objects.get(pk=r.pk)
    # Duplicate and out-of-order words for the failed refund change nothing (a late `pending` must not
    # take it out of the sweep).
    for word in ("failed", "pending", "succeeded"):
        assert _event(r, "re_3Pend01", word) is True
    assert _state(r) == ("paid", "failed", "re_3Pend01", False, "reserved")
    assert r.updated_at == failed.updated_at and _refund_mails() == []

    retry = _stripe_answers("re_3Retry02", "succeeded")
    assert services.reservations_retry_refunds() == (1, 0)

    assert _state(r) == ("refunded", "succeeded", "re_3Retry02", True, "available")
    sent = retry.calls[0].request
    assert sent.headers["Idempotency-Key"] == f"reservation:{r.pk}:refund:after:re_3Pend01"
    assert parse_qs(sent.body)["metadata[after]"] == ["re_3Pend01"]
    assert r.refund_error == "" and len(_refund_mails()) == 2


@pytest.mark.django_db
@responses.activate
def test_stripe_failing_a_refund_it_reported_succeeded_makes_it_owed_again(stripe_settings, owner):
    r, _ = _staff_refund_answered("succeeded", rid="re_3Done01")
    assert _state(r) == ("refunded", "succeeded", "re_3Done01", True, "available")

    assert _event(r, "re_3Done01", "failed", failure_reason="lost_or_stolen_card") is True
    assert _event(r, "re_3Done01", "failed") is True

    assert _state(r) == ("refunded", "failed", "re_3Done01", False, "available")
    assert "lost_or_stolen_card" in r.refund_error
    retry = _stripe_answers("re_3Again02", "succeeded")
    assert services.reservations_retry_refunds() == (1, 0)
    assert _state(r) == ("refunded", "succeeded", "re_3Again02", True, "available")
    assert retry.calls[0].request.headers["Idempotency-Key"] == f"reservation:{r.pk}:refund:after:re_3Done01"
    assert len(_refund_mails()) == 2  # told once, when the first refund succeeded


@pytest.mark.django_db
def test_an_event_that_overtakes_the_create_answer_is_taken_on_by_its_metadata():
    r = reserve(PuppyFactory().pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=PI,
                                amount=Decimal("500.00"), currency="ZAR")
    services.reservation_request_refund(reservation_id=r.pk, reason="litter cancelled")

    # A refund for an older attempt (metadata `after` names a refund this row never had) is not taken on.
    assert _event(r, "re_3Old00", "pending", after="re_3Other") is True
    assert _state(r) == ("paid", "requested", "", False, "reserved")
    # Someone else's refund is not ours at all: the payments handler may go on.
    assert deposit_refund_update(provider_refund_id="re_3Foreign", status="succeeded",
                                 raw={"id": "re_3Foreign", "status": "succeeded", "metadata": {}}) is False

    assert _event(r, "re_3Fast01", "pending") is True
    assert _state(r) == ("paid", "pending", "re_3Fast01", False, "reserved")


@pytest.mark.django_db
@responses.activate
def test_a_refund_event_without_an_id_is_refused_and_changes_nothing(stripe_settings):
    r, _ = _staff_refund_answered("pending")
    with pytest.raises(services.ReservationError, match="without a refund id"):
        deposit_refund_update(provider_refund_id="", status="succeeded", raw={"status": "succeeded"})
    assert _state(r) == ("paid", "pending", "re_3Pend01", False, "reserved")
    assert _refund_mails() == []


@pytest.mark.django_db
@responses.activate
def test_refund_updated_webhook_finishes_a_pending_deposit_refund(client, stripe_settings, owner, tasks_run_inline):
    from tests.webhooks import deliver, event_status

    r, _ = _staff_refund_answered("pending")
    payload = {"id": "evt_3DepRefund", "object": "event", "api_version": "2026-06-24.dahlia",
               "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
               "request": {"id": None, "idempotency_key": None}, "type": "refund.updated",
               "data": {"object": _refund(r, "re_3Pend01", "succeeded")}}
    body, header = signed(payload)

    for _ in range(2):
        deliver(client, "/api/webhooks/stripe", body, HTTP_STRIPE_SIGNATURE=header)

    assert event_status("evt_3DepRefund") == "processed"
    assert _state(r) == ("refunded", "succeeded", "re_3Pend01", True, "available")
    assert len(_refund_mails()) == 2
    assert Puppy.objects.get(pk=r.puppy_id).status == "available"


@pytest.mark.django_db
@pytest.mark.parametrize("refund_state, words", [
    ("pending", "Your deposit is being refunded in full; we will email you when the refund has gone through."),
    ("requested", "Your deposit is being refunded in full; we will email you when the refund has gone through."),
    ("succeeded", "Your deposit has been refunded in full."),
])
def test_the_late_payers_page_says_refunded_only_once_it_is(client, refund_state, words):
    r = reserve(PuppyFactory().pk, **BUYER)
    Reservation.objects.filter(pk=r.pk).update(status="cancelled", refund_state=refund_state)

    page = client.get(f"/puppies/checkout/{r.reference}/success/").content.decode()

    assert "Deposit being refunded" in page and words in page


# --- charge.refunded for a deposit (e.g. refunded in Stripe's dashboard) --------------------------------
def _charge_refunded_event(event_id: str, refunds: list[tuple[str, str]], *, amount_refunded=50000):
    charge = {"id": "ch_3Dep01", "object": "charge", "amount": 50000, "amount_captured": 50000,
              "amount_refunded": amount_refunded, "refunded": amount_refunded == 50000, "payment_intent": PI,
              "status": "succeeded", "paid": True, "captured": True,
              "refunds": {"object": "list", "data": [
                  {"id": rid, "object": "refund", "amount": 50000, "charge": "ch_3Dep01", "status": status,
                   "currency": "zar"} for rid, status in refunds]}}
    return {"id": event_id, "object": "event", "api_version": "2026-06-24.dahlia", "created": int(time.time()),
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": "charge.refunded", "data": {"object": charge}}


def _deliver_twice(client, payload):
    from tests.webhooks import deliver

    body, header = signed(payload)
    for _ in range(2):
        deliver(client, "/api/webhooks/stripe", body, HTTP_STRIPE_SIGNATURE=header)


@pytest.mark.django_db
@responses.activate
def test_a_deposit_refunded_in_stripes_dashboard_is_booked_once_and_never_refunded_again(
        client, stripe_settings, owner, tasks_run_inline):
    from tests.webhooks import event_status

    r = reserve(PuppyFactory().pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=PI,
                                amount=Decimal("500.00"), currency="ZAR")
    Reservation.objects.filter(pk=r.pk).update(refund_state="requested")  # owed: the sweep would pay it

    _deliver_twice(client, _charge_refunded_event("evt_dash_1", [("re_dashboard1", "succeeded")]))

    assert event_status("evt_dash_1") == "processed"
    assert _state(r) == ("refunded", "succeeded", "re_dashboard1", True, "available")
    assert len(_refund_mails()) == 2
    refund_reservation(r.pk)  # the sweep finds nothing owed
    assert not [c for c in responses.calls if c.request.url == STRIPE_REFUNDS]


@pytest.mark.django_db
@responses.activate
def test_charge_refunded_listing_our_pending_refund_leaves_it_to_the_refund_events(
        client, stripe_settings, owner, tasks_run_inline):
    r, _ = _staff_refund_answered("pending")

    _deliver_twice(client, _charge_refunded_event("evt_dash_2", [("re_3Pend01", "pending")]))

    assert _state(r) == ("paid", "pending", "re_3Pend01", False, "reserved")
    assert _refund_mails() == []


@pytest.mark.django_db
@responses.activate
def test_a_partly_refunded_deposit_charge_changes_nothing(client, stripe_settings, owner, tasks_run_inline):
    from tests.webhooks import event_status

    r = reserve(PuppyFactory().pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=PI,
                                amount=Decimal("500.00"), currency="ZAR")

    _deliver_twice(client, _charge_refunded_event("evt_dash_3", [("re_part", "succeeded")], amount_refunded=10000))

    assert event_status("evt_dash_3") == "ignored"
    assert _state(r)[:2] == ("paid", "")
