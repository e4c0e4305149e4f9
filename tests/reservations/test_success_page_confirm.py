"""Issue 19, item 4 (second half): when the webhook is late, the success page asks Stripe for the
Checkout Session server-side (`checkout_session_retrieve`) and confirms through the webhook's own
handler; nothing from the browser is trusted beyond the session id it names. Stripe's HTTP is mocked
with `responses`."""

from decimal import Decimal

import pytest
import responses

from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from reservations.models import Reservation
from reservations.services import reserve
from tests.reservations.conftest import checkout_completed_event, signed
from tests.reservations.factories import PuppyFactory
from tests.webhooks import deliver

SESSIONS = "https://api.stripe.com/v1/checkout/sessions"
BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}
SESSION_ID = "cs_test_a1b2c3"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks_inline(tasks_run_inline):
    """The webhook's apply task runs inline."""


@pytest.fixture
def pending(stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    Reservation.objects.filter(pk=r.pk).update(checkout_id=SESSION_ID)
    r.refresh_from_db()
    return r


def _session(r, *, sid=SESSION_ID, payment_status="paid", reference=None, amount_cents=50000, pi="pi_3PaidDeposit01"):
    ref = reference or r.reference
    return {"id": sid, "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": payment_status, "payment_intent": pi if payment_status == "paid" else None,
            "client_reference_id": ref, "amount_total": amount_cents, "currency": "zar",
            "customer_details": {"email": "thandi@example.co.za", "name": "Thandi Nkosi"},
            "metadata": {"kind": "reservation_deposit", "reference": ref}, "url": None}


def _success(client, r, **query):
    return client.get(f"/puppies/checkout/{r.reference}/success/", query)


@responses.activate
def test_a_late_webhook_the_success_page_confirms_by_asking_stripe(client, pending):
    lookup = responses.get(f"{SESSIONS}/{SESSION_ID}", json=_session(pending))

    page = _success(client, pending, session_id=SESSION_ID)

    assert lookup.call_count == 1 and lookup.calls[0].request.headers["Authorization"] == "Bearer sk_test_123"
    assert 'data-status="paid"' in page.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.external_payment_id, pending.amount_paid) == (
        "paid", "pi_3PaidDeposit01", Decimal("500.00"))
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1

    # The webhook arrives later: the same handler finds the payment recorded and changes nothing.
    body, header = signed(checkout_completed_event(pending, event_id="evt_late"))
    deliver(client, "/api/webhooks/stripe", body, HTTP_STRIPE_SIGNATURE=header)
    assert WebhookEvent.objects.get(event_id="evt_late").status == "processed"
    assert NotificationLog.objects.filter(event="deposit_confirmed").count() == 1
    # And a reload asks Stripe no more.
    _success(client, pending, session_id=SESSION_ID)
    assert lookup.call_count == 1


@responses.activate
def test_the_stored_session_wins_over_the_query_string(client, pending):
    """A session id pasted into the URL is never looked up when we stored the reservation's own."""
    ours = responses.get(f"{SESSIONS}/{SESSION_ID}", json=_session(pending, payment_status="unpaid"))
    theirs = responses.get(f"{SESSIONS}/cs_test_someone_else", json=_session(pending, sid="cs_test_someone_else"))

    page = _success(client, pending, session_id="cs_test_someone_else", status="paid", amount="1")

    assert (ours.call_count, theirs.call_count) == (1, 0)
    assert 'data-status="pending"' in page.content.decode()
    assert Reservation.objects.get(pk=pending.pk).status == "pending"


@responses.activate
def test_a_session_of_another_reservation_is_not_applied(client, stripe_settings):
    """No stored id: the query's session is looked up, but Stripe says it belongs to someone else."""
    r = reserve(PuppyFactory().pk, **BUYER)
    other = reserve(PuppyFactory().pk, **(BUYER | {"email": "sipho@example.co.za"}))
    responses.get(f"{SESSIONS}/cs_test_other", json=_session(other, sid="cs_test_other"))

    page = _success(client, r, session_id="cs_test_other")

    assert page.status_code == 200 and 'data-status="pending"' in page.content.decode()
    assert {x.status for x in Reservation.objects.all()} == {"pending"}


@responses.activate
def test_no_stored_session_the_query_one_is_looked_up_and_applied(client, stripe_settings):
    r = reserve(PuppyFactory().pk, **BUYER)
    responses.get(f"{SESSIONS}/cs_test_q1", json=_session(r, sid="cs_test_q1"))

    page = _success(client, r, session_id="cs_test_q1")

    assert 'data-status="paid"' in page.content.decode()
    r.refresh_from_db()
    assert (r.status, r.checkout_id) == ("paid", "cs_test_q1")


@responses.activate
def test_amounts_come_from_stripe_not_the_browser(client, pending, settings):
    """Stripe says the session paid less than the deposit: not booked (refund path), whatever the URL says."""
    settings.OPS_EMAIL = "ops@example.co.za"
    responses.get(f"{SESSIONS}/{SESSION_ID}", json=_session(pending, amount_cents=100))
    responses.post("https://api.stripe.com/v1/refunds", json={"id": "re_1", "object": "refund", "status": "succeeded",
                                                              "amount": 100, "payment_intent": "pi_3PaidDeposit01"})

    page = _success(client, pending, amount_total="50000")

    html = page.content.decode()
    assert 'data-status="pending"' in html and "did not cover the R 500.00 deposit" in html
    assert pending.unmatched_payments.get().kind == "underpaid"


@responses.activate
def test_an_unpaid_session_leaves_it_pending(client, pending):
    responses.get(f"{SESSIONS}/{SESSION_ID}", json=_session(pending, payment_status="unpaid"))
    page = _success(client, pending)
    assert 'data-status="pending"' in page.content.decode()


@responses.activate
def test_stripe_unreachable_still_shows_the_page(client, pending):
    responses.get(f"{SESSIONS}/{SESSION_ID}", status=503, json={"error": {"type": "api_error", "message": "down"}})
    page = _success(client, pending)
    assert page.status_code == 200 and 'data-status="pending"' in page.content.decode()


@responses.activate
def test_already_paid_or_not_stripe_asks_nothing(client, pending):
    Reservation.objects.filter(pk=pending.pk).update(status="paid", external_payment_id="pi_3Done")
    page = _success(client, pending)
    assert page.status_code == 200 and len(responses.calls) == 0


@responses.activate
def test_checkout_asks_stripe_to_append_the_session_id(client, stripe_settings):
    PuppyFactory(slug="bella")
    call = responses.post(SESSIONS, json={
        "id": "cs_test_b1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_b1",
        "status": "open", "payment_status": "unpaid", "amount_total": 50000, "currency": "zar", "metadata": {}})
    client.post("/puppies/bella/reserve", {"name": "Thandi", "email": "t@example.co.za", "phone": "082 123 4567",
                                           "provider": "stripe"})
    assert "success%2F%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D" in call.calls[0].request.body


@responses.activate
def test_reloads_do_not_become_a_stream_of_stripe_reads(client, pending):
    lookup = responses.get(f"{SESSIONS}/{SESSION_ID}", json=_session(pending, payment_status="unpaid"))
    for _ in range(10):
        assert _success(client, pending).status_code == 200
    assert lookup.call_count == 6
