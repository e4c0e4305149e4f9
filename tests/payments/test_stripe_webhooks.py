"""`POST /api/webhooks/stripe` for invoice payments: signatures (real SDK signing), apply once,
out-of-order delivery, refunds reported by Stripe."""

import time
from decimal import Decimal

import pytest

from billing.models import LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Refund
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice
from tests.payments.stripe_helpers import WHSEC, charge_refunded, event, intent, post_event, signed
from tests.webhooks import event_status


@pytest.fixture
def pending(db):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "500.00")
    return PaymentTransaction.objects.create(
        customer=customer, invoice=invoice, amount=Decimal("500.00"), method="stripe", provider="stripe",
        reference=f"{invoice.number}-ABC123", provider_transaction_id="pi_3TestIntent0001", status="pending")


def _events(client, *payloads):
    return [post_event(client, p) for p in payloads]


@pytest.mark.django_db
def test_succeeded_completes_allocates_and_notifies_once(client, stripe_on, pending):
    payload = event("evt_ok_1", "payment_intent.succeeded", intent(pending))
    first, again = _events(client, payload, payload)

    assert (first.status_code, first.json()) == (200, {"status": "queued"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert event_status("evt_ok_1") == "processed"
    pending.refresh_from_db()
    pending.invoice.refresh_from_db()
    assert (pending.status, pending.provider_method, pending.raw_response["latest_charge"]) == (
        "completed", "Card (Stripe)", "ch_3TestCharge0001")
    assert (pending.invoice.status, pending.invoice.amount_paid) == ("paid", Decimal("500.00"))
    assert list(LedgerEntry.objects.filter(payment=pending).values_list("reference", "amount")) == [
        (f"payment:{pending.pk}", Decimal("-500.00"))]
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    assert pending.zoho_sync_status == "pending"


@pytest.mark.django_db
def test_same_intent_under_a_second_event_id_applies_once(client, stripe_on, pending):
    _events(client, event("evt_a", "payment_intent.succeeded", intent(pending)),
            event("evt_b", "payment_intent.succeeded", intent(pending)))

    assert LedgerEntry.objects.filter(payment=pending).count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    assert WebhookEvent.objects.filter(status="processed").count() == 2


@pytest.mark.django_db
def test_late_failed_after_succeeded_does_not_move_the_payment_back(client, stripe_on, pending):
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
             "message": "Your card has insufficient funds."}
    ok, late = _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)),
                       event("evt_f", "payment_intent.payment_failed",
                             intent(pending, status="requires_payment_method", error=error)))

    assert (ok.json(), late.json()) == ({"status": "queued"}, {"status": "queued"})
    assert (event_status("evt_s"), event_status("evt_f")) == ("processed", "ignored")
    pending.refresh_from_db()
    assert (pending.status, pending.failure_reason, pending.needs_review) == ("completed", "", False)
    assert NotificationLog.objects.filter(event="payment_failed").count() == 0
    assert "late payment_failed ignored" in WebhookEvent.objects.get(event_id="evt_f").error


@pytest.mark.django_db
def test_failed_then_succeeded_completes(client, stripe_on, pending):
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
             "message": "Your card has insufficient funds. (raw stripe text)"}
    _events(client, event("evt_f", "payment_intent.payment_failed",
                          intent(pending, status="requires_payment_method", error=error)))
    pending.refresh_from_db()
    assert pending.status == "failed"
    assert pending.failure_reason == ("Your card has insufficient funds. Please use another card or payment method.")
    assert pending.raw_response["error_code"] == "insufficient_funds"
    assert "raw stripe text" in pending.raw_response["provider_error"]  # staff only
    # No "payment failed" email: a card attempt is made with the customer on the pay page, which shows it.
    assert not NotificationLog.objects.filter(event="payment_failed").exists()

    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    pending.refresh_from_db()
    assert pending.status == "completed"
    assert LedgerEntry.objects.filter(payment=pending).count() == 1


@pytest.mark.django_db
def test_reservation_intents_are_ignored(client, stripe_on, pending):
    response = post_event(client, event("evt_r", "payment_intent.succeeded",
                                        intent(pending, kind="reservation_deposit")))

    assert (response.json(), event_status("evt_r")) == ({"status": "queued"}, "ignored")
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_amount_mismatch_fails_the_event_and_changes_nothing(client, stripe_on, pending):
    response = post_event(client, event("evt_m", "payment_intent.succeeded", intent(pending, amount_cents=100)))

    assert (response.json(), event_status("evt_m")) == ({"status": "queued"}, "failed")
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert LedgerEntry.objects.filter(payment=pending).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "stale", "missing"])
def test_bad_signatures_are_refused_and_nothing_is_stored(client, stripe_on, pending, case):
    payload = event("evt_bad", "payment_intent.succeeded", intent(pending))
    if case == "wrong_secret":
        body, header = signed(payload, secret="whsec_other")
    elif case == "stale":
        body, header = signed(payload, timestamp=int(time.time()) - 301)
    else:
        body, header = signed(payload)
    if case == "tampered":
        body = body.replace('"amount": 50000', '"amount": 1')
    extra = {} if case == "missing" else {"HTTP_STRIPE_SIGNATURE": header}

    response = client.post("/api/webhooks/stripe", data=body, content_type="application/json", **extra)

    assert response.status_code == 400
    assert response.json()["message"] == "invalid Stripe signature"
    assert WebhookEvent.objects.count() == 0
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_charge_refunded_books_each_refund_once(client, stripe_on, pending):
    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    partial = event("evt_r1", "charge.refunded", charge_refunded(pending, refunds=[("re_1", 20000)]))
    both = event("evt_r2", "charge.refunded", charge_refunded(pending, refunds=[("re_1", 20000), ("re_2", 5000)]))

    _events(client, partial, both, partial)

    pending.refresh_from_db()
    pending.invoice.refresh_from_db()
    assert (pending.status, pending.amount_refunded) == ("partially_refunded", Decimal("250.00"))
    assert sorted(Refund.objects.values_list("provider_refund_id", "amount", "status", "source")) == [
        ("re_1", Decimal("200.00"), "succeeded", "webhook"), ("re_2", Decimal("50.00"), "succeeded", "webhook")]
    assert sorted(LedgerEntry.objects.filter(entry_type="refund").values_list("amount", flat=True)) == [
        Decimal("50.00"), Decimal("200.00")]
    assert (pending.invoice.amount_paid, pending.invoice.status) == (Decimal("250.00"), "partial")
    assert NotificationLog.objects.filter(event="refund_issued").count() == 2


@pytest.mark.django_db
def test_charge_refunded_without_expanded_refunds_books_the_difference(client, stripe_on, pending):
    _events(client, event("evt_s", "payment_intent.succeeded", intent(pending)))
    _events(client, event("evt_r", "charge.refunded", charge_refunded(pending, amount_refunded=50000)))

    pending.refresh_from_db()
    assert (pending.status, pending.amount_refunded) == ("refunded", Decimal("500.00"))
    refund = Refund.objects.get()
    assert (refund.provider_refund_id, refund.amount) == ("ch_3TestCharge0001:50000", Decimal("500.00"))


# --- the queued path (what production runs: WEBHOOK_APPLY_INLINE=false) ----------------------------------
TASK = "inbox.tasks.process_webhook_event"


@pytest.mark.django_db
def test_event_is_recorded_and_queued_then_the_task_applies_it_once(client, stripe_on, pending, queued):
    from inbox.tasks import process_webhook_event

    payload = event("evt_q1", "payment_intent.succeeded", intent(pending))
    # When: Stripe delivers (the on-commit enqueue runs; the broker is a recorder here)
    response = post_event(client, payload)
    # Then: answered after one INSERT; nothing applied yet; one task queued for the event
    stored = WebhookEvent.objects.get()
    assert (response.status_code, response.json()) == (200, {"status": "queued"})
    assert (stored.status, stored.attempts, stored.event_type) == ("pending", 0, "payment_intent.succeeded")
    assert queued == [(TASK, (stored.pk,))]
    pending.refresh_from_db()
    assert pending.status == "pending" and LedgerEntry.objects.count() == 0
    # A redelivery before the worker ran: answered, nothing more stored or queued
    assert post_event(client, payload).json() == {"status": "duplicate"}
    assert queued == [(TASK, (stored.pk,))] and WebhookEvent.objects.count() == 1
    # When: the worker runs the task twice (tasks are delivered at least once)
    assert [process_webhook_event(stored.pk) for _ in range(2)] == ["processed", "processed"]
    # Then: the payment is completed once
    pending.refresh_from_db()
    assert pending.status == "completed"
    assert LedgerEntry.objects.filter(payment=pending).count() == 1
    assert WebhookEvent.objects.get().attempts == 1


@pytest.mark.django_db
def test_tasks_run_out_of_order_never_move_the_payment_back(client, stripe_on, pending, queued):
    """Stripe sent succeeded then failed; the worker runs the failed one's task first."""
    from inbox.tasks import process_webhook_event

    error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
             "message": "Your card was declined."}
    post_event(client, event("evt_s1", "payment_intent.succeeded", intent(pending)))
    post_event(client, event("evt_f1", "payment_intent.payment_failed",
                             intent(pending, status="requires_payment_method", error=error)))
    succeeded_pk, failed_pk = (args[0] for _, args in queued)

    process_webhook_event(failed_pk)
    pending.refresh_from_db()
    assert pending.status == "failed"
    process_webhook_event(succeeded_pk)
    pending.refresh_from_db()
    assert pending.status == "completed"
    assert LedgerEntry.objects.filter(payment=pending).count() == 1


@pytest.mark.django_db
def test_lost_enqueue_still_answers_200_and_the_sweep_applies_it(client, stripe_on, pending, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.tasks import reprocess_webhook_events

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    response = post_event(client, event("evt_lost", "payment_intent.succeeded", intent(pending)))

    assert (response.status_code, response.json()) == (200, {"status": "queued"})
    assert event_status("evt_lost") == "pending"
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=3))
    monkeypatch.undo()  # the broker is back for the receipt tasks the apply step queues
    assert reprocess_webhook_events(provider="stripe", triggered_by="test")["processed"] == 1
    pending.refresh_from_db()
    assert pending.status == "completed"


@pytest.mark.django_db
def test_apply_inline_setting_applies_in_the_request(client, stripe_on, pending, queued):
    stripe_on.WEBHOOK_APPLY_INLINE = True
    payload = event("evt_inline", "payment_intent.succeeded", intent(pending))

    first, again = post_event(client, payload, run_tasks=False), post_event(client, payload, run_tasks=False)

    assert (first.json(), again.json()) == ({"status": "processed"}, {"status": "duplicate",
                                                                     "event_status": "processed"})
    assert not any(func == TASK for func, _ in queued)
    pending.refresh_from_db()
    assert pending.status == "completed"


@pytest.mark.django_db
def test_webhook_hot_path_queries(client, stripe_on, pending, queued):
    """The request path is the event INSERT (plus the on-commit enqueue); a duplicate is the INSERT that
    conflicts (the savepoint statements exist only inside the test's transaction)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    payload = event("evt_fast", "payment_intent.succeeded", intent(pending))
    for expected in (1, 1):  # the first delivery, then the redelivery (an INSERT that conflicts)
        with CaptureQueriesContext(connection) as ctx:
            post_event(client, payload)
        statements = [q["sql"] for q in ctx.captured_queries
                      if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO SAVEPOINT"))]
        assert len(statements) == expected, statements


@pytest.mark.django_db
@pytest.mark.parametrize("body", ['{"id": "evt_x", "type": "payment_intent.succeeded"}', "[1, 2]", "not json"])
def test_signed_but_malformed_bodies_are_refused(client, stripe_on, body):
    import stripe

    header = stripe.WebhookSignature.generate_signature_header(body, WHSEC, timestamp=int(time.time()))
    response = client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)

    assert response.status_code == 400
    assert response.json()["message"] in ("invalid payload", "not a Stripe event")
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_orm_broker_queues_the_task_in_the_event_transaction(client, stripe_on, monkeypatch):
    """Production without Redis: the event row and its queue row commit together (one commit, and a
    task can never be lost between them); a redelivery adds neither; a queue failure stores nothing
    (500: the provider delivers again)."""
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from circletel import queue
    from inbox.tasks import process_webhook_event

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")  # the ORM broker even where REDIS_URL is set (CI)
    queue.reset()
    customer = CustomerFactory()
    payment = PaymentTransaction.objects.create(
        customer=customer, invoice=make_invoice(customer, "500.00"), amount=Decimal("500.00"), method="stripe",
        provider="stripe", reference="INV-ORM-1", provider_transaction_id="pi_3TestIntent0001", status="pending")
    payload = event("evt_orm", "payment_intent.succeeded", intent(payment))

    first, again = post_event(client, payload, run_tasks=False), post_event(client, payload, run_tasks=False)

    stored = WebhookEvent.objects.get()
    (row,) = OrmQ.objects.all()
    task = SignedPackage.loads(row.payload)
    assert (first.json(), again.json()) == ({"status": "queued"}, {"status": "duplicate"})
    assert (task["func"], task["args"], stored.status) == ("inbox.tasks.process_webhook_event", (stored.pk,),
                                                          "pending")
    assert process_webhook_event(*task["args"]) == "processed"

    def queue_down(*args, **kwargs):
        raise ConnectionError("queue table unavailable")

    monkeypatch.setattr("inbox.services.webhook_enqueue", queue_down)
    client.raise_request_exception = False
    failed = post_event(client, event("evt_orm2", "payment_intent.succeeded", intent(payment)), run_tasks=False)
    assert failed.status_code == 500
    assert not WebhookEvent.objects.filter(event_id="evt_orm2").exists()


@pytest.mark.django_db
def test_refund_email_words_the_method_once_from_its_code(client, stripe_on, pending):
    """The contexts carry the method code; the templates word it (no words run through the filter again)."""
    error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
             "message": "Your card was declined."}
    _events(client, event("evt_fw", "payment_intent.payment_failed",
                          intent(pending, status="requires_payment_method", error=error)),
            event("evt_sw", "payment_intent.succeeded", intent(pending)),
            event("evt_rw", "charge.refunded", charge_refunded(pending, refunds=[("re_w", 10000)])))

    refunded = NotificationLog.objects.get(event="refund_issued")
    assert refunded.context["method"] == "stripe" and "(card (Stripe))" in refunded.body
    # The decline was shown on the pay page; Stripe declines send no email (payments.services.stripe_payments._fail).
    assert not NotificationLog.objects.filter(event="payment_failed").exists()


# --- issue 13: signature timestamps in the future, event ids that are not strings --------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("ahead", [301, 600, 86400])
def test_signatures_dated_in_the_future_are_refused_and_nothing_is_stored(client, stripe_on, pending, ahead):
    payload = event("evt_future", "payment_intent.succeeded", intent(pending))
    body, header = signed(payload, timestamp=int(time.time()) + ahead)

    response = client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)

    assert response.status_code == 400
    assert response.json() == {"message": "invalid Stripe signature",
                               "extra": {"reason": "timestamp outside the tolerance zone"}}
    assert WebhookEvent.objects.count() == 0
    assert PaymentTransaction.objects.get() == pending
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert LedgerEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("skew", [0, 60, -60])
def test_signatures_dated_now_or_within_the_tolerance_are_applied_once(client, stripe_on, pending, skew):
    """The positive control: t=now (or a clock a minute off either way), a string id."""
    payload = event("evt_now", "payment_intent.succeeded", intent(pending))

    first = post_event(client, payload, timestamp=int(time.time()) + skew)
    again = post_event(client, payload, timestamp=int(time.time()) + skew)

    assert (first.json(), again.json()) == ({"status": "queued"}, {"status": "duplicate"})
    assert event_status("evt_now") == "processed"
    pending.refresh_from_db()
    assert pending.status == "completed"
    assert LedgerEntry.objects.filter(payment=pending).count() == 1


@pytest.mark.django_db
def test_the_first_t_in_the_header_is_the_one_checked(client, stripe_on, pending):
    """The SDK verifies the first `t=`; a later `t=now` appended to a future-dated header changes nothing."""
    payload = event("evt_two_t", "payment_intent.succeeded", intent(pending))
    body, header = signed(payload, timestamp=int(time.time()) + 86400)

    response = client.post("/api/webhooks/stripe", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=f"{header},t={int(time.time())}")

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("event_id", [{"evt": "x"}, 12345, ["evt_1"], None, True, "", "e" * 201])
def test_event_id_that_is_not_a_string_is_refused_and_nothing_is_stored(client, stripe_on, pending, event_id):
    payload = event("placeholder", "payment_intent.succeeded", intent(pending)) | {"id": event_id}

    response = post_event(client, payload)

    assert response.status_code == 400
    assert response.json() == {"message": "not a Stripe event",
                               "extra": {"reason": "id must be a string of 1 to 200 characters"}}
    assert WebhookEvent.objects.count() == 0
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert LedgerEntry.objects.count() == 0
    # Control: the same event with a string id (sent twice) is stored and applied once.
    control = payload | {"id": "evt_string_id"}
    assert [post_event(client, control).json() for _ in range(2)] == [{"status": "queued"}, {"status": "duplicate"}]
    assert list(WebhookEvent.objects.values_list("event_id", "status")) == [("evt_string_id", "processed")]
    assert LedgerEntry.objects.filter(payment=pending).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", [{"t": 1}, 7, ["payment_intent.succeeded"]])
def test_event_type_that_is_not_a_string_is_refused_and_nothing_is_stored(client, stripe_on, pending, event_type):
    payload = event("evt_bad_type", "payment_intent.succeeded", intent(pending)) | {"type": event_type}

    response = post_event(client, payload)
    control = post_event(client, event("evt_good_type", "payment_intent.succeeded", intent(pending)))

    assert response.status_code == 400
    assert response.json()["extra"] == {"reason": "type must be a string of 1 to 100 characters"}
    assert control.status_code == 200
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["evt_good_type"]


@pytest.mark.django_db
def test_reservation_sandbox_events_still_pass_the_receiver():
    """Reservations' sandbox signs its checkout event at t=now through the same receiver."""
    import stripe

    from payments.providers.stripe import stripe_webhook_receive

    body = '{"id": "evt_sbx_1", "object": "event", "type": "checkout.session.expired", "data": {"object": {}}}'
    future = stripe.WebhookSignature.generate_signature_header(body, WHSEC, timestamp=int(time.time()) + 600)
    now = stripe.WebhookSignature.generate_signature_header(body, WHSEC)

    assert stripe_webhook_receive(body=body.encode(), signature=future, secret=WHSEC, apply_inline=True)[0] == 400
    status, answer = stripe_webhook_receive(body=body.encode(), signature=now, secret=WHSEC, apply_inline=True)
    assert (status, answer) == (200, {"status": "ignored"})
    assert WebhookEvent.objects.get().event_id == "evt_sbx_1"


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["id", "type"])
def test_event_without_an_id_or_type_is_refused_with_the_reason(client, stripe_on, pending, missing):
    payload = event("evt_missing", "payment_intent.succeeded", intent(pending))
    del payload[missing]

    response = post_event(client, payload)

    assert response.status_code == 400
    assert response.json()["extra"]["reason"].startswith(f"{missing} must be a string")
    assert WebhookEvent.objects.count() == 0
