"""One refund engine (issue 14): a deposit refund the provider refuses for good is not retried every
5 minutes for ever; ops are alerted once and the buyer is told once. Positive controls beside each."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import responses
from django.utils import timezone

from notifications.models import NotificationLog
from reservations import services
from reservations.models import Reservation
from reservations.services import reservation_confirm_payment, reserve
from reservations.tasks import refund_reservation
from tests.reservations.factories import PuppyFactory
from tests.reservations.test_deposit_refund_pending import BUYER, PI, STRIPE_REFUNDS, _event, _stripe_answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_deposit(stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=PI,
                                amount=Decimal("500.00"), currency="ZAR")
    services.reservation_request_refund(reservation_id=r.pk, reason="litter cancelled")
    return r


def _notices(r) -> list[tuple[str, str]]:
    return sorted(NotificationLog.objects.filter(idempotency_key__startswith=f"deposit_refund_refused:{r.pk}")
                  .values_list("event", "recipient"))


def _refund_calls():
    return [c for c in responses.calls if c.request.url.startswith(STRIPE_REFUNDS)]


@responses.activate
def test_a_permanent_refusal_is_refused_for_good_with_one_alert_and_one_word_to_the_buyer(paid_deposit, settings):
    settings.OPS_EMAIL = "ops@example.co.za"
    responses.post(STRIPE_REFUNDS, status=400, json={"error": {
        "type": "invalid_request_error", "code": "charge_disputed", "message": "This charge is disputed."}})

    with pytest.raises(Exception):  # noqa: B017 - the task raises the provider error, as before
        refund_reservation(paid_deposit.pk)

    r = Reservation.objects.get(pk=paid_deposit.pk)
    assert (r.status, r.refund_state) == ("paid", "refused")
    assert "charge_disputed" in r.refund_error
    assert _notices(r) == [("deposit_refund_refused", "thandi@example.co.za"), ("ops_alert", "ops@example.co.za")]
    # The sweep no longer calls the provider for it, however often it runs.
    for _ in range(3):
        assert services.reservations_retry_refunds() == (0, 0)
    assert len(_refund_calls()) == 1
    assert len(_notices(r)) == 2


@responses.activate
def test_positive_control_a_refund_stripe_accepts_is_booked_and_nobody_is_alerted(paid_deposit):
    _stripe_answers("re_3Ok01", "succeeded")

    refund_reservation(paid_deposit.pk)

    r = Reservation.objects.get(pk=paid_deposit.pk)
    assert (r.status, r.refund_state, r.refund_attempts) == ("refunded", "succeeded", 0)
    assert _notices(r) == []


@responses.activate
def test_refunds_the_provider_keeps_failing_stop_after_the_attempt_limit(paid_deposit):
    from payments.services.refund_engine import MAX_REFUND_ATTEMPTS

    rid = "re_3Fail00"
    _stripe_answers(rid, "pending")
    refund_reservation(paid_deposit.pk)
    for attempt in range(1, MAX_REFUND_ATTEMPTS + 1):
        assert _event(paid_deposit, rid, "failed", after="" if attempt == 1 else f"re_3Fail{attempt - 2:02d}") is True
        r = Reservation.objects.get(pk=paid_deposit.pk)
        if attempt < MAX_REFUND_ATTEMPTS:
            # Positive control: below the limit it stays owed and the sweep tries a new refund.
            assert (r.refund_state, r.refund_attempts) == ("failed", attempt)
            responses.replace(responses.POST, STRIPE_REFUNDS, json={
                "id": f"re_3Fail{attempt:02d}", "object": "refund", "amount": 50000, "payment_intent": PI,
                "currency": "zar", "status": "pending", "metadata": {}})
            services.reservations_retry_refunds()
            rid = f"re_3Fail{attempt:02d}"
    r = Reservation.objects.get(pk=paid_deposit.pk)
    assert (r.refund_state, r.refund_attempts) == ("refused", MAX_REFUND_ATTEMPTS)
    assert [e for e, _ in _notices(r)] == ["deposit_refund_refused", "ops_alert"]
    calls = len(_refund_calls())
    services.reservations_retry_refunds()
    assert len(_refund_calls()) == calls


@responses.activate
def test_no_answer_is_asked_again_with_the_same_key_until_the_provider_forgets_it(paid_deposit):
    responses.post(STRIPE_REFUNDS, status=500, json={"error": {"message": "boom"}})
    start = timezone.now()

    assert services.reservations_retry_refunds() == (0, 1)
    assert services.reservations_retry_refunds() == (0, 1)
    r = Reservation.objects.get(pk=paid_deposit.pk)
    assert r.refund_state == "failed" and r.refund_unanswered_since is not None
    keys = {c.request.headers["Idempotency-Key"] for c in _refund_calls()}
    assert keys == {f"reservation:{r.pk}:refund"}  # the same key every time: at most one refund at Stripe

    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(hours=24)):
        services.reservations_retry_refunds()
    r.refresh_from_db()
    assert r.refund_state == "refused" and "check its dashboard" in r.refund_error
    assert [e for e, _ in _notices(r)] == ["deposit_refund_refused", "ops_alert"]


def test_staff_refunds_only_within_the_deposit_refund_window(stripe_settings, settings):
    settings.RESERVATIONS = {**settings.RESERVATIONS, "REFUND_WINDOW_DAYS": 90}
    old, recent = (reserve(PuppyFactory().pk, **BUYER) for _ in range(2))
    for r, pi in ((old, "pi_3OldDeposit01"), (recent, "pi_3NewDeposit01")):
        reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id=pi,
                                    amount=Decimal("500.00"), currency="ZAR")
    Reservation.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(days=91))

    with pytest.raises(services.InvalidTransition, match="more than 90 days"):
        services.reservation_request_refund(reservation_id=old.pk, reason="changed mind")
    assert Reservation.objects.get(pk=old.pk).refund_state == ""
    # Positive control: within the window the refund is requested.
    assert services.reservation_request_refund(reservation_id=recent.pk, reason="changed mind").refund_state == \
        "requested"
