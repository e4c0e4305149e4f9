import json
import time
from unittest import mock

import pytest
import stripe

from inbox.models import WebhookEvent
from inbox.registry import routes
from notifications.models import NotificationLog
from reservations.models import Reservation
from reservations.services import reserve
from tests.concurrency import run_concurrently
from tests.reservations.conftest import WHSEC, checkout_completed_event, signed
from tests.reservations.factories import PuppyFactory
from tests.webhooks import deliver, event_status

URL = "/api/webhooks/stripe"
BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}


def post(client, body, header):
    return deliver(client, URL, body, HTTP_STRIPE_SIGNATURE=header)


@pytest.fixture(autouse=True)
def _tasks_inline(tasks_run_inline):
    """The webhook's apply task runs inline (see tests/conftest.py)."""


@pytest.fixture
def pending(db):
    return reserve(PuppyFactory().pk, **BUYER)


@pytest.mark.django_db
def test_valid_event_confirms_the_reservation_once(client, stripe_settings, pending):
    body, header = signed(checkout_completed_event(pending, event_id="evt_1Valid"))

    response = post(client, body, header)
    again = post(client, body, header)

    assert (response.status_code, response.json()) == (200, {"status": "queued"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    pending.refresh_from_db()
    event = WebhookEvent.objects.get()
    assert (pending.status, pending.external_payment_id, pending.checkout_id, pending.webhook_event_id) == (
        "paid", "pi_3PaidDeposit01", "cs_test_a1b2c3", event.pk)
    assert (event.provider, event.event_id, event.status, event.attempts) == ("stripe", "evt_1Valid", "processed", 1)
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1


@pytest.mark.django_db
def test_replayed_payment_under_a_new_event_id_returns_the_existing_reservation(client, stripe_settings, pending):
    post(client, *signed(checkout_completed_event(pending, event_id="evt_A")))
    response = post(client, *signed(checkout_completed_event(pending, event_id="evt_B")))

    assert (response.json(), event_status("evt_B")) == ({"status": "queued"}, "processed")
    assert Reservation.objects.get(pk=pending.pk).status == "paid"
    assert WebhookEvent.objects.filter(status="processed").count() == 2
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "stale", "missing"])
def test_bad_signatures_are_refused_and_nothing_is_stored(client, stripe_settings, pending, case):
    payload = checkout_completed_event(pending)
    if case == "tampered":
        body, header = signed(payload)
        body = body.replace('"amount_total": 50000', '"amount_total": 1')
    elif case == "wrong_secret":
        body, header = signed(payload, secret="whsec_someone_else")
    elif case == "stale":
        body, header = signed(payload, timestamp=int(time.time()) - 301)
    else:
        body, header = json.dumps(payload), ""

    response = post(client, body, header)

    assert (response.status_code, response.json()["message"]) == (400, "invalid Stripe signature")
    assert WebhookEvent.objects.count() == 0
    assert Reservation.objects.get(pk=pending.pk).status == "pending"


@pytest.mark.django_db
def test_fails_closed_without_a_configured_secret(client, settings, pending):
    settings.STRIPE = {**settings.STRIPE, "WEBHOOK_SECRET": ""}
    response = post(client, *signed(checkout_completed_event(pending)))
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["message"]
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_unknown_event_types_are_stored_and_ignored(client, stripe_settings):
    payload = {"id": "evt_other", "object": "event", "type": "customer.created", "created": 1,
               "data": {"object": {"id": "cus_1", "object": "customer"}}}
    response = post(client, *signed(payload))
    assert (response.json(), event_status("evt_other")) == ({"status": "queued"}, "ignored")
    assert WebhookEvent.objects.get().error == "unhandled event type"


@pytest.mark.django_db
def test_unpaid_async_session_is_ignored_until_async_payment_succeeded(client, stripe_settings, pending):
    post(client, *signed(checkout_completed_event(pending, event_id="evt_c", payment_status="unpaid")))
    assert Reservation.objects.get(pk=pending.pk).status == "pending"
    post(client, *signed(checkout_completed_event(pending, event_id="evt_s",
                                                  event_type="checkout.session.async_payment_succeeded")))
    assert Reservation.objects.get(pk=pending.pk).status == "paid"
    assert dict(WebhookEvent.objects.values_list("event_id", "status")) == {"evt_c": "ignored", "evt_s": "processed"}


@pytest.mark.django_db
def test_expired_checkout_session_cancels_the_pending_reservation(client, stripe_settings, pending):
    post(client, *signed(checkout_completed_event(pending, event_id="evt_x", event_type="checkout.session.expired",
                                                  payment_status="unpaid")))
    pending.refresh_from_db()
    assert (pending.status, pending.puppy.status) == ("cancelled", "available")


@pytest.mark.django_db
def test_handler_error_keeps_the_event_failed_with_its_reason(client, stripe_settings, pending):
    payload = checkout_completed_event(pending)
    payload["data"]["object"]["amount_total"] = "a lot"  # a session shape we cannot read
    response = post(client, *signed(payload))
    event = WebhookEvent.objects.get()
    assert response.status_code == 200
    assert event.status == "failed" and "unexpected checkout session shape" in event.error
    assert Reservation.objects.get(pk=pending.pk).status == "pending"


@pytest.mark.django_db
@mock.patch("reservations.tasks.refund_unmatched_payment")
def test_an_underpayment_no_longer_fails_the_event(refund_task, client, stripe_settings, pending):
    """Issue 19, item 2: it was `failed` and retried 8 times; now it is processed and its refund queued."""
    post(client, *signed(checkout_completed_event(pending, amount_cents=100)))
    assert WebhookEvent.objects.get().status == "processed"
    assert Reservation.objects.get(pk=pending.pk).status == "pending"
    refund_task.assert_called_once_with(pending.unmatched_payments.get().pk)


def test_handlers_dict_is_open_for_payment_intent_types():
    registered = {r.event_type for r in routes() if r.provider == "stripe" and r.owner == "reservations"}
    assert {"checkout.session.completed", "checkout.session.async_payment_succeeded"} <= registered


@pytest.mark.django_db
def test_sandbox_approve_goes_through_the_signed_webhook_path(no_providers, django_capture_on_commit_callbacks):
    from reservations.services import reservation_start_checkout, sandbox_approve, sandbox_webhook_secret

    r = reserve(PuppyFactory().pk, **BUYER)
    url = reservation_start_checkout(reservation=r, success_url="http://t/s", cancel_url="http://t/c",
                                     sandbox_url="http://t/sandbox")
    assert url == "http://t/sandbox"
    r.refresh_from_db()
    with mock.patch("stripe.WebhookSignature.verify_header", wraps=stripe.WebhookSignature.verify_header) as verify:
        status, body = sandbox_approve(reservation=r)  # applied inline: the next page shows the result
        sandbox_approve(reservation=r)  # a double click is a duplicate event

    assert (status, body) == (200, {"status": "processed"})
    assert verify.call_args.args[2] == sandbox_webhook_secret() != WHSEC
    token = r.reference[4:]
    r.refresh_from_db()
    assert (r.status, r.sandbox, r.external_payment_id) == ("paid", True, f"pi_sandbox_{token}")
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == [f"evt_sandbox_{token}"]


@pytest.mark.django_db
def test_no_provider_and_no_sandbox_cancels_the_hold(settings):
    from reservations.services import ReservationError, reservation_start_checkout

    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": ""}
    settings.SANDBOX_GATEWAY_ENABLED = False
    r = reserve(PuppyFactory().pk, **BUYER)
    with pytest.raises(ReservationError, match="not available"):
        reservation_start_checkout(reservation=r, success_url="s", cancel_url="c", sandbox_url="x")
    r.refresh_from_db()
    assert (r.status, r.puppy.status) == ("cancelled", "available")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_apply_one_effect(stripe_settings):
    from payments.providers.stripe import stripe_webhook_receive

    r = reserve(PuppyFactory().pk, **BUYER)
    deliveries = [signed(checkout_completed_event(r, event_id=f"evt_{i % 3}")) for i in range(12)]
    results = run_concurrently(
        lambda body, header: stripe_webhook_receive(body=body.encode(), signature=header, secret=WHSEC,
                                                    apply_inline=True)[0],
        deliveries)

    assert results == [200] * 12
    assert Reservation.objects.get(pk=r.pk).status == "paid"
    assert WebhookEvent.objects.count() == 3
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1
