"""Refunds mirrored through ZOHO's refund endpoint, never twice (issue 17, "reversals mirrored").

ZOHO Billing documents `POST /payments/{payment_id}/refunds` ("Refund a payment": a credit note is
made for the amount and refunded; body `{amount, description}`, 201 `{"code":0,"message":"The refund
information has been saved.","refund":{refund_id, ..., creditnote:{...}}}`) and the payment's
`amount_refunded` (GET /payments/{payment_id}): Letstream/zoho-billing-python-sdk specs/refunds.yml and
specs/payments.yml @2bf0952194ce95f8645f7ad6da35021cfbb92fe8. ZOHO has no idempotency key, so the sync
reads ZOHO's total before every POST and marks the payment synced only when ZOHO's total equals ours.

HTTP is mocked at the client boundary with `responses`; a tiny stateful ZOHO (below) answers GET and
the refund POST with the spec's shapes, so a test can let ZOHO save a refund and still time out.
"""

import json
from decimal import Decimal

import pytest
import requests
import responses

from billing.models import Customer
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Refund
from tests.factories import CustomerFactory
from tests.zoho_sync.conftest import API, TOKEN_URL
from tests.zoho_sync.factories import PaymentFactory
from zoho_sync.models import RefundManualEntry, RefundPush, SyncLog, SyncStatus
from zoho_sync.services.health import health_report
from zoho_sync.services.outbox import enqueue_sync
from zoho_sync.services.sync import entity_sync, refund_manual_entry_mark_entered

pytestmark = pytest.mark.django_db

REFUND_URL = f"{API}/payments/P1/refunds"


class ZohoPayment:
    """ZOHO's payment P1 (R 999.00): `amount_refunded` grows with each refund ZOHO saves.

    `mode`: "ok" (201), "saved_then_timeout" (saved, the answer never arrives), "lost" (a timeout
    before ZOHO saved anything), "refuse" (400), "no_effect" (201 but the total does not move)."""

    def __init__(self, rsps):
        self.refunded = Decimal("0.00")
        self.mode = "ok"
        self.posts: list[dict] = []
        rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
        rsps.add_callback(responses.GET, f"{API}/payments/P1", callback=self.get)
        rsps.add_callback(responses.POST, REFUND_URL, callback=self.refund)

    def get(self, request):
        return 200, {}, json.dumps({"code": 0, "message": "success", "payment": {
            "payment_id": "P1", "amount": 999.0, "amount_refunded": float(self.refunded), "invoices": []}})

    def refund(self, request):
        body = json.loads(request.body)
        self.posts.append(body)
        n = len(self.posts)
        if self.mode == "refuse":
            return 400, {}, json.dumps({"code": 4, "message": "Refunds are applicable only for autotransaction "
                                                              "payments."})
        if self.mode == "lost":
            return requests.exceptions.ReadTimeout("read timed out")
        if self.mode != "no_effect":
            self.refunded += Decimal(body["amount"])
        if self.mode == "saved_then_timeout":
            return requests.exceptions.ReadTimeout("read timed out")
        return 201, {}, json.dumps({"code": 0, "message": "The refund information has been saved.", "refund": {
            "refund_id": f"R{n}", "date": "2026-12-07", "amount": float(body["amount"]),
            "description": body.get("description", ""), "reference_number": "PAY-5501", "refund_mode": "banktransfer",
            "status": "success", "customer_id": "C9", "creditnote": {
                "creditnote_id": f"CN{n}", "creditnote_number": f"CN-{n}", "amount": float(body["amount"]),
                "refund_amount": float(body["amount"]), "balance_amount": 0}}})


@pytest.fixture
def ops(zoho_settings):
    zoho_settings.OPS_EMAIL = "ops@example.co.za"
    zoho_settings.OPS_WEBHOOK_URL = ""
    return zoho_settings


@pytest.fixture
def zoho(rsps):
    return ZohoPayment(rsps)


@pytest.fixture
def payment(ops, zoho):
    """A R 999.00 EFT payment already mirrored in ZOHO as payment P1 of customer C9."""
    customer = CustomerFactory(account_number="CT-2026-00077", first_name="Thandi", last_name="Nkosi",
                               company_name="")
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C9", zoho_sync_status=SyncStatus.SYNCED)
    p = PaymentFactory(customer=customer, reference="PAY-5501", amount=Decimal("999.00"))
    PaymentTransaction.objects.filter(pk=p.pk).update(zoho_id="P1", zoho_sync_status=SyncStatus.SYNCED)
    return PaymentTransaction.objects.get(pk=p.pk)


def refund(payment, total: str, *, refund_amount: str | None = None) -> Refund | None:
    """What the refund engine leaves behind: a Refund row (when `refund_amount`), the new refunded
    total and status, and the payment queued for the mirror."""
    row = None
    if refund_amount:
        row = Refund.objects.create(payment=payment, amount=Decimal(refund_amount), reason="customer asked",
                                    status=Refund.Status.SUCCEEDED, provider="netcash")
    total = Decimal(total)
    status = "refunded" if total >= payment.amount else ("partially_refunded" if total else "completed")
    PaymentTransaction.objects.filter(pk=payment.pk).update(amount_refunded=total, status=status)
    payment.refresh_from_db()
    enqueue_sync(entity=payment)
    return row


def sync(payment, client_factory, *, force=False):
    return entity_sync(entity_type="payment", pk=payment.pk, client=client_factory(), force=force)


def refund_posts(rsps) -> list[dict]:
    return [json.loads(c.request.body) for c in rsps.calls
            if c.request.method == "POST" and c.request.url == REFUND_URL]


def last_log(payment):
    return SyncLog.objects.filter(entity_type="payment", entity_id=payment.pk).order_by("-pk").first()


def alerts(payment):
    return list(NotificationLog.objects.filter(idempotency_key__startswith=f"zoho_refund_manual:{payment.pk}:"))


def test_a_refund_is_sent_once_and_the_payment_synced_when_zoho_shows_it(payment, zoho, client_factory, rsps):
    row = refund(payment, "300.00", refund_amount="300.00")

    result = sync(payment, client_factory)

    assert (result.status, result.zoho_id) == ("synced", "P1")
    assert refund_posts(rsps) == [{"amount": "300.00",
                                   "description": f"CircleTel refund #{row.pk} on PAY-5501; refunded in total 300.00"}]
    # Read before the POST, and again after it: synced only because ZOHO's total equals ours.
    api = [(c.request.method, c.request.url) for c in rsps.calls if c.request.url.startswith(API)]
    assert api[-3:] == [("GET", f"{API}/payments/P1"), ("POST", REFUND_URL), ("GET", f"{API}/payments/P1")]
    assert zoho.refunded == Decimal("300.00")
    push = RefundPush.objects.get()
    assert (push.amount, push.zoho_total_before, push.target_total, push.state, push.zoho_refund_id,
            push.zoho_creditnote_id) == (Decimal("300.00"), Decimal("0.00"), Decimal("300.00"), "saved", "R1", "CN1")
    log = last_log(payment)
    assert (log.action, log.status) == ("update", "success")
    assert log.response_summary["refund"] == {
        "state": "mirrored", "refunded_total": "300.00", "zoho_before": "0.00", "zoho_after": "300.00",
        "sent": {"push": push.pk, "amount": "300.00", "refund_id": "R1", "creditnote_id": "CN1",
                 "description": push.description}}
    assert log.error.startswith("refund of R 300.00 sent to ZOHO payment P1 (refund R1)")
    assert RefundManualEntry.objects.count() == 0 and alerts(payment) == []
    payment.refresh_from_db()
    assert payment.zoho_sync_status == "synced"

    again = sync(payment, client_factory, force=True)  # nothing new: read, equal, no POST

    assert again.status == "synced"
    assert len(refund_posts(rsps)) == 1 and RefundPush.objects.count() == 1
    assert last_log(payment).response_summary["refund"] == {"state": "mirrored", "refunded_total": "300.00",
                                                            "zoho_before": "300.00"}


def test_a_timeout_after_zoho_saved_the_refund_does_not_refund_again(payment, zoho, client_factory, rsps):
    refund(payment, "300.00")
    zoho.mode = "saved_then_timeout"

    first = sync(payment, client_factory)

    assert (first.status, first.error) == ("retrying", "ZohoTimeoutError: ZOHO timed out on POST /payments/P1/refunds")
    assert zoho.refunded == Decimal("300.00")  # ZOHO saved it; we never saw the answer
    assert RefundPush.objects.get().state == "sent"  # the outcome is unknown, on record
    payment.refresh_from_db()
    assert payment.zoho_sync_status == "retrying"

    zoho.mode = "ok"
    second = sync(payment, client_factory, force=True)

    assert second.status == "synced"
    assert len(refund_posts(rsps)) == 1  # the read showed it landed: no second POST
    assert zoho.refunded == Decimal("300.00")
    push = RefundPush.objects.get()
    assert (push.state, push.answered_at is not None) == ("found", True)
    summary = last_log(payment).response_summary["refund"]
    assert (summary["state"], summary["zoho_before"], summary["unknown_settled"]) == (
        "mirrored", "300.00", [{"push": push.pk, "amount": "300.00", "state": "found"}])


def test_a_timeout_before_zoho_saved_the_refund_sends_it_again_once(payment, zoho, client_factory, rsps):
    """The positive control beside the previous test: the read shows it did not land, so it is sent."""
    refund(payment, "300.00")
    zoho.mode = "lost"

    assert sync(payment, client_factory).status == "retrying"
    zoho.mode = "ok"
    assert sync(payment, client_factory, force=True).status == "synced"

    assert [p["amount"] for p in refund_posts(rsps)] == ["300.00", "300.00"]
    assert zoho.refunded == Decimal("300.00")
    assert list(RefundPush.objects.order_by("pk").values_list("state", flat=True)) == ["not_saved", "saved"]


def test_two_partial_refunds_send_two_refunds_of_the_differences(payment, zoho, client_factory, rsps):
    first = refund(payment, "300.00", refund_amount="300.00")
    sync(payment, client_factory)
    second = refund(payment, "500.00", refund_amount="200.00")

    result = sync(payment, client_factory)

    assert result.status == "synced"
    assert refund_posts(rsps) == [
        {"amount": "300.00", "description": f"CircleTel refund #{first.pk} on PAY-5501; refunded in total 300.00"},
        {"amount": "200.00",
         "description": f"CircleTel refunds #{first.pk}, #{second.pk} on PAY-5501; refunded in total 500.00"}]
    assert zoho.refunded == Decimal("500.00")
    assert list(RefundPush.objects.order_by("pk").values_list("zoho_total_before", "amount", "target_total")) == [
        (Decimal("0.00"), Decimal("300.00"), Decimal("300.00")), (Decimal("300.00"), Decimal("200.00"),
                                                                  Decimal("500.00"))]


def test_a_total_that_went_down_goes_to_the_manual_list_once_without_a_post(payment, zoho, client_factory, rsps):
    refund(payment, "500.00")
    assert sync(payment, client_factory).status == "synced"  # control: an increase is sent
    assert len(refund_posts(rsps)) == 1 and zoho.refunded == Decimal("500.00")
    refund(payment, "300.00")  # a refund failed after it was booked and sent

    result = sync(payment, client_factory)
    sync(payment, client_factory, force=True)

    assert result.status == "synced"  # owned by the manual list, as before
    assert len(refund_posts(rsps)) == 1 and zoho.refunded == Decimal("500.00")  # nothing sent
    entry = RefundManualEntry.objects.get()
    assert (entry.refunded_total, entry.zoho_total, entry.reason, entry.previous_total) == (
        Decimal("300.00"), Decimal("500.00"), "decreased", Decimal("500.00"))
    (alert,) = alerts(payment)
    assert "Reduce the refund on ZOHO payment P1 by R 200.00 so that ZOHO shows R 300.00 refunded" in alert.body
    assert alert.context["fields"]["why"].startswith("our refunded total went down")
    log = last_log(payment)
    assert (log.action, log.status, log.response_summary["manual_refund"]["reason"]) == ("skip", "skipped", "decreased")
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 1

    refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="refund reduced in ZOHO")
    zoho.refunded = Decimal("300.00")  # what staff did in ZOHO
    assert sync(payment, client_factory, force=True).status == "synced"
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 0
    assert last_log(payment).response_summary["refund"]["state"] == "mirrored"
    assert len(refund_posts(rsps)) == 1 and len(alerts(payment)) == 1

    refund(payment, "500.00")  # refunded again later: the difference is sent, once
    assert sync(payment, client_factory).status == "synced"
    assert [p["amount"] for p in refund_posts(rsps)] == ["500.00", "200.00"] and zoho.refunded == Decimal("500.00")


def test_zoho_showing_more_refunded_than_we_do_goes_to_the_manual_list(payment, zoho, client_factory, rsps):
    zoho.refunded = Decimal("300.00")  # a refund made in ZOHO that we never made
    refund(payment, "300.00")
    assert sync(payment, client_factory).status == "synced"  # control: equal totals, nothing to do
    assert refund_posts(rsps) == [] and RefundManualEntry.objects.count() == 0
    zoho.refunded = Decimal("400.00")

    sync(payment, client_factory, force=True)

    assert refund_posts(rsps) == []
    entry = RefundManualEntry.objects.get()
    assert (entry.refunded_total, entry.zoho_total, entry.reason) == (Decimal("300.00"), Decimal("400.00"),
                                                                      "zoho_above")
    assert len(alerts(payment)) == 1


def test_a_refund_zoho_refuses_goes_to_the_manual_list_and_is_not_posted_again(payment, zoho, client_factory, rsps):
    zoho.mode = "refuse"
    refund(payment, "300.00")

    result = sync(payment, client_factory)
    sync(payment, client_factory, force=True)

    assert result.status == "synced"
    assert len(refund_posts(rsps)) == 1  # refused once; the manual list owns that total now
    push = RefundPush.objects.get()
    assert push.state == "refused" and "autotransaction" in push.error
    entry = RefundManualEntry.objects.get()
    assert (entry.refunded_total, entry.reason, entry.zoho_total) == (Decimal("300.00"), "refused", Decimal("0.00"))
    (alert,) = alerts(payment)
    assert "Record a refund of R 300.00 on ZOHO payment P1" in alert.body
    first_log = SyncLog.objects.get(pk=result.log_id)
    assert first_log.response_summary["manual_refund"]["refused"].startswith(
        "ZOHO rejected POST /payments/P1/refunds (400, code 4): Refunds are applicable only")

    zoho.mode = "ok"  # control: a new total is offered to ZOHO again, and this time it takes it
    refund(payment, "500.00")
    assert sync(payment, client_factory).status == "synced"
    assert refund_posts(rsps)[-1]["amount"] == "500.00" and zoho.refunded == Decimal("500.00")
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 0


def test_a_refund_zoho_confirms_but_does_not_show_is_never_posted_twice(payment, zoho, client_factory, rsps):
    zoho.mode = "no_effect"
    refund(payment, "300.00")

    sync(payment, client_factory)
    sync(payment, client_factory, force=True)

    assert len(refund_posts(rsps)) == 1
    assert RefundPush.objects.get().state == "saved"
    entry = RefundManualEntry.objects.get()
    assert (entry.reason, entry.zoho_total) == ("unconfirmed", Decimal("0.00"))
    assert len(alerts(payment)) == 1


def test_a_total_staff_entered_by_hand_is_not_posted(payment, zoho, client_factory, rsps):
    zoho.mode = "refuse"
    refund(payment, "300.00")
    sync(payment, client_factory)
    entry = RefundManualEntry.objects.get()
    refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="entered as a credit note refund")
    zoho.mode = "ok"

    sync(payment, client_factory, force=True)

    assert len(refund_posts(rsps)) == 1  # only the refused one
    log = last_log(payment)
    assert (log.action, log.status, log.response_summary["manual_refund"]["state"]) == ("update", "success", "entered")


def test_a_payment_without_refunds_makes_no_refund_call(payment, zoho, client_factory, rsps):
    enqueue_sync(entity=payment)

    sync(payment, client_factory)

    assert [c.request.method for c in rsps.calls if c.request.url.startswith(API)] == ["GET"]
    assert "refund" not in last_log(payment).response_summary and RefundPush.objects.count() == 0
