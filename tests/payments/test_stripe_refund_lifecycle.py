"""Stripe refunds that are not final at once: booked only when Stripe says `succeeded`, freed when
it says `failed` / `canceled`, reversed once when a booked refund fails later (refunds.py,
"Finality rule"); events signed with the real SDK and each delivered twice."""

from decimal import Decimal

import pytest
import responses
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse

from billing.models import BillingAccount, LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.models import PaymentAllocation, Refund
from payments.services.refunds import RefundError, refund_create, refundable_amount
from tests.factories import UserFactory
from tests.payments.stripe_helpers import charge_refunded, event, post_event
from tests.payments.test_refunds import STRIPE_REFUNDS, _paid
from tests.webhooks import event_status

CHARGE = "ch_3TestCharge0001"


def _stripe_answers(rid: str, cents: int, status: str):
    responses.add(responses.POST, STRIPE_REFUNDS, status=200, json={
        "id": rid, "object": "refund", "amount": cents, "charge": CHARGE, "payment_intent": "pi_3Refundable01",
        "currency": "zar", "status": status, "metadata": {}})


def _refund(payment, rid: str, cents: int, status: str, **extra) -> dict:
    """A Stripe Refund object (CONTRACTS 3.3) as `refund.*` / `charge.refund.updated` carry it."""
    return {"id": rid, "object": "refund", "amount": cents, "charge": CHARGE,
            "payment_intent": payment.provider_transaction_id, "currency": "zar", "status": status, "reason": None,
            "metadata": {"reference": payment.reference}, "balance_transaction": None, "created": 1700000100,
            **extra}


def _post(client, event_id: str, event_type: str, obj: dict, *, times: int = 2):
    payload = event(event_id, event_type, obj)
    return [post_event(client, payload) for _ in range(times)]


@pytest.fixture
def zoho_spy(monkeypatch):
    calls = []
    monkeypatch.setattr("payments.services.refunds.enqueue_sync", lambda *, entity: calls.append(entity.pk))
    return calls


@pytest.fixture
def ops_email(settings):
    settings.OPS_EMAIL = "ops@circletel.test"
    settings.OPS_WEBHOOK_URL = ""
    return settings


def _booked(payment):
    return list(LedgerEntry.objects.filter(payment=payment).exclude(entry_type="payment")
                .order_by("pk").values_list("reference", "entry_type", "amount"))


@pytest.mark.django_db
@responses.activate
def test_pending_create_books_nothing_until_refund_updated_says_succeeded(client, stripe_on, zoho_spy):
    payment, invoice = _paid()
    _stripe_answers("re_pend", 20000, "pending")

    refund = refund_create(payment=payment, amount=Decimal("200.00"), reason="Outage", actor="ops")

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (refund.status, refund.provider_refund_id, refund.completed_at) == ("pending", "re_pend", None)
    assert (payment.status, payment.amount_refunded) == ("completed", Decimal("0.00"))
    assert refundable_amount(payment) == Decimal("300.00")  # still reserved
    assert (invoice.amount_paid, invoice.status) == (Decimal("500.00"), "paid")
    assert _booked(payment) == []
    assert NotificationLog.objects.filter(event="refund_issued").count() == 0
    assert zoho_spy == []

    _post(client, "evt_up_1", "refund.updated", _refund(payment, "re_pend", 20000, "succeeded"))
    _post(client, "evt_up_2", "charge.refund.updated", _refund(payment, "re_pend", 20000, "succeeded"))

    refund.refresh_from_db()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.status == "succeeded" and refund.completed_at is not None
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("200.00"))
    assert (invoice.amount_paid, invoice.status) == (Decimal("300.00"), "partial")
    assert _booked(payment) == [(f"refund:{refund.pk}", "refund", Decimal("200.00"))]
    assert NotificationLog.objects.filter(event="refund_issued").count() == 1
    assert zoho_spy == [payment.pk]
    assert (event_status("evt_up_1"), event_status("evt_up_2")) == ("processed", "ignored")
    assert refundable_amount(payment) == Decimal("300.00")
    call_command("check_ledger")


@pytest.mark.django_db
@responses.activate
def test_pending_then_refund_failed_marks_it_failed_and_frees_the_amount(client, stripe_on, ops_email):
    payment, _ = _paid()
    _stripe_answers("re_fail", 50000, "requires_action")
    refund = refund_create(payment=payment, reason="Cancelled", actor="ops")
    assert refund.status == "pending"
    with pytest.raises(RefundError, match="Nothing is left to refund"):
        refund_create(payment=payment, reason="again", actor="ops")

    _post(client, "evt_f_1", "refund.failed",
          _refund(payment, "re_fail", 50000, "failed", failure_reason="expired_or_canceled_card"))
    _post(client, "evt_f_2", "charge.refund.updated", _refund(payment, "re_fail", 50000, "failed"))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "failed"
    assert refund.failure_reason == "Stripe reports the refund failed (expired_or_canceled_card)"
    assert (payment.status, payment.amount_refunded, payment.needs_review) == ("completed", Decimal("0.00"), False)
    assert refundable_amount(payment) == Decimal("500.00")
    assert _booked(payment) == []
    assert NotificationLog.objects.filter(event="refund_issued").count() == 0
    assert NotificationLog.objects.filter(event="ops_alert", idempotency_key=f"refund_failed:{refund.pk}").count() == 1

    _stripe_answers("re_again", 50000, "succeeded")
    again = refund_create(payment=payment, reason="Cancelled", actor="ops")
    assert (again.status, again.amount) == ("succeeded", Decimal("500.00"))


@pytest.mark.django_db
@responses.activate
def test_succeeded_refund_that_fails_later_is_reversed_once(client, stripe_on, ops_email, zoho_spy):
    payment, invoice = _paid()
    _stripe_answers("re_late", 20000, "succeeded")
    refund = refund_create(payment=payment, amount=Decimal("200.00"), reason="Outage", actor="ops")
    assert refund.status == "succeeded"
    zoho_spy.clear()

    _post(client, "evt_lf_1", "refund.failed", _refund(payment, "re_late", 20000, "failed"))
    _post(client, "evt_lf_2", "refund.updated", _refund(payment, "re_late", 20000, "failed"))
    _post(client, "evt_lf_3", "refund.updated", _refund(payment, "re_late", 20000, "succeeded"))  # stale

    refund.refresh_from_db()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.status == "failed"
    assert "reversed by ledger refund-reversal" in refund.failure_reason
    assert _booked(payment) == [(f"refund:{refund.pk}", "refund", Decimal("200.00")),
                                (f"refund-reversal:{refund.pk}", "reversal", Decimal("-200.00"))]
    assert (payment.status, payment.amount_refunded, payment.needs_review) == ("completed", Decimal("0.00"), True)
    assert f"Refund {refund.pk}" in payment.review_note
    assert (invoice.amount_paid, invoice.status) == (Decimal("500.00"), "paid")
    assert PaymentAllocation.objects.get(payment=payment).amount == Decimal("500.00")
    assert BillingAccount.objects.get(customer=payment.customer).balance == Decimal("0.00")
    assert NotificationLog.objects.filter(event="refund_issued").count() == 1  # the original one only
    reversed_mail = NotificationLog.objects.get(event="refund_reversed")  # told once, over three deliveries
    assert "R 200.00" in reversed_mail.subject and "did not go through" in reversed_mail.subject
    assert "Your account is fully paid up" in reversed_mail.body
    assert NotificationLog.objects.filter(event="ops_alert").count() == 1
    assert zoho_spy == [payment.pk]
    assert [event_status(e) for e in ("evt_lf_1", "evt_lf_2", "evt_lf_3")] == ["processed", "ignored", "ignored"]
    assert refundable_amount(payment) == Decimal("500.00")
    call_command("check_ledger")


@pytest.mark.django_db
@responses.activate
def test_one_of_two_booked_refunds_failing_leaves_the_payment_partially_refunded(client, stripe_on):
    payment, invoice = _paid()
    _stripe_answers("re_a", 30000, "succeeded")
    first = refund_create(payment=payment, amount=Decimal("300.00"), reason="a", actor="ops")
    _stripe_answers("re_b", 20000, "succeeded")
    refund_create(payment=payment, reason="b", actor="ops")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("500.00"))

    _post(client, "evt_a_f", "refund.failed", _refund(payment, "re_a", 30000, "failed"))

    payment.refresh_from_db()
    invoice.refresh_from_db()
    first.refresh_from_db()
    assert first.status == "failed"
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("200.00"))
    assert (invoice.amount_paid, invoice.status) == (Decimal("300.00"), "partial")
    assert BillingAccount.objects.get(customer=payment.customer).balance == Decimal("200.00")
    call_command("check_ledger")


@pytest.mark.django_db
@responses.activate
def test_late_pending_after_succeeded_does_not_move_the_refund_back(client, stripe_on):
    payment, _ = _paid()
    _stripe_answers("re_ooo", 10000, "pending")
    refund = refund_create(payment=payment, amount=Decimal("100.00"), reason="x", actor="ops")

    _post(client, "evt_ok", "refund.updated", _refund(payment, "re_ooo", 10000, "succeeded"))
    _post(client, "evt_old", "refund.updated", _refund(payment, "re_ooo", 10000, "pending"))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, payment.amount_refunded) == ("succeeded", Decimal("100.00"))
    assert event_status("evt_old") == "ignored"
    assert "late 'pending' ignored" in WebhookEvent.objects.get(event_id="evt_old").error
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 1


@pytest.mark.django_db
@responses.activate
def test_charge_refunded_books_our_refund_only_when_it_lists_it_succeeded(client, stripe_on):
    payment, _ = _paid()
    _stripe_answers("re_ours", 20000, "pending")
    refund = refund_create(payment=payment, amount=Decimal("200.00"), reason="x", actor="ops")
    listed_pending = charge_refunded(payment, refunds=[("re_ours", 20000)], charge_id=CHARGE)
    listed_pending["refunds"]["data"][0]["status"] = "pending"

    _post(client, "evt_cr_p", "charge.refunded", listed_pending)
    _post(client, "evt_cr_n", "charge.refunded", charge_refunded(payment, amount_refunded=20000))  # no list

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, payment.amount_refunded, Refund.objects.count()) == ("pending", Decimal("0.00"), 1)
    assert event_status("evt_cr_n") == "processed"  # no longer retried while ours is in flight

    _post(client, "evt_cr_s", "charge.refunded", charge_refunded(payment, refunds=[("re_ours", 20000)]))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, payment.amount_refunded, Refund.objects.count()) == ("succeeded", Decimal("200.00"), 1)
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 1


@pytest.mark.django_db
def test_a_dashboard_refund_reported_only_by_refund_updated_is_booked_once(client, stripe_on):
    payment, _ = _paid()

    _post(client, "evt_d_p", "refund.updated", _refund(payment, "re_dash", 15000, "pending", metadata={}))
    assert Refund.objects.count() == 0
    _post(client, "evt_d_s", "refund.updated", _refund(payment, "re_dash", 15000, "succeeded", metadata={}))
    _post(client, "evt_d_c", "charge.refunded", charge_refunded(payment, amount_refunded=15000))

    payment.refresh_from_db()
    refund = Refund.objects.get()
    assert (refund.provider_refund_id, refund.amount, refund.status, refund.source) == (
        "re_dash", Decimal("150.00"), "succeeded", "webhook")
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("150.00"))
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 1


@pytest.mark.django_db
@responses.activate
def test_admin_says_a_pending_refund_is_not_booked_yet(client, stripe_on):
    payment, _ = _paid()
    _stripe_answers("re_adm", 10000, "pending")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(reverse("admin:payments_paymenttransaction_changelist"), {
        "action": "refund", ACTION_CHECKBOX_NAME: [payment.pk], "apply": "1", "reason": "x", "amount": "100.00"},
        follow=True)

    assert "has not completed it" in response.content.decode()
    listing = client.get(reverse("admin:payments_refund_changelist")).content.decode()
    assert "Pending at provider (not booked yet)" in listing


# --- charge.refunded without the refund list, then with it (gap: one refund booked twice) --------------
@pytest.mark.django_db
def test_charge_refunded_without_refunds_then_the_same_refund_listed_is_booked_once(client, stripe_on):
    payment, _ = _paid()

    _post(client, "evt_nolist", "charge.refunded", charge_refunded(payment, amount_refunded=20000))
    _post(client, "evt_list", "charge.refunded", charge_refunded(payment, refunds=[("re_one", 20000)]))

    payment.refresh_from_db()
    refund = Refund.objects.get()
    assert (refund.provider_refund_id, refund.amount, refund.status) == ("re_one", Decimal("200.00"), "succeeded")
    assert refund.raw_response["synthetic_id"] == f"{CHARGE}:20000"
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("200.00"))
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 1
    assert NotificationLog.objects.filter(event="refund_issued").count() == 1
    call_command("check_ledger")


@pytest.mark.django_db
def test_listed_refunds_book_only_what_the_synthetic_booking_does_not_cover(client, stripe_on):
    payment, _ = _paid()

    _post(client, "evt_nl_250", "charge.refunded", charge_refunded(payment, amount_refunded=25000))  # re_1 + re_2
    _post(client, "evt_l_280", "charge.refunded",
          charge_refunded(payment, refunds=[("re_1", 20000), ("re_2", 5000), ("re_3", 3000)]))

    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("280.00")  # the Charge's amount_refunded, not 530
    assert sorted(Refund.objects.values_list("provider_refund_id", "amount")) == [
        (f"{CHARGE}:25000", Decimal("250.00")), ("re_3", Decimal("30.00"))]
    assert LedgerEntry.objects.filter(entry_type="refund").count() == 2


@pytest.mark.django_db
def test_a_synthetic_booking_linked_to_its_refund_is_reversed_when_that_refund_fails(client, stripe_on):
    payment, _ = _paid()
    _post(client, "evt_nl", "charge.refunded", charge_refunded(payment, amount_refunded=20000))

    _post(client, "evt_fail", "refund.failed", _refund(payment, "re_x", 20000, "failed", metadata={}))

    payment.refresh_from_db()
    refund = Refund.objects.get()
    assert (refund.provider_refund_id, refund.status) == ("re_x", "failed")
    assert (payment.status, payment.amount_refunded) == ("completed", Decimal("0.00"))
    assert LedgerEntry.objects.get(reference=f"refund-reversal:{refund.pk}").amount == Decimal("-200.00")
    call_command("check_ledger")


@pytest.mark.django_db
def test_refund_event_for_a_refund_a_synthetic_booking_may_cover_is_not_booked_again(client, stripe_on):
    payment, _ = _paid()
    _post(client, "evt_nl", "charge.refunded", charge_refunded(payment, amount_refunded=25000))  # re_1 + re_2

    _post(client, "evt_u", "refund.updated", _refund(payment, "re_1", 20000, "succeeded", metadata={}))

    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("250.00")
    assert list(Refund.objects.values_list("provider_refund_id", flat=True)) == [f"{CHARGE}:25000"]
    assert event_status("evt_u") == "ignored"
    assert "staff must compare with Stripe" in WebhookEvent.objects.get(event_id="evt_u").error


@pytest.mark.django_db
@responses.activate
def test_refund_api_answers_202_while_stripe_has_it_pending_and_201_once_booked(stripe_on):
    from rest_framework.test import APIClient

    payment, _ = _paid()
    staff = APIClient()
    staff.force_authenticate(UserFactory(is_staff=True))
    _stripe_answers("re_api_pend", 5000, "pending")

    pending = staff.post("/api/payments/refund", {"payment_id": payment.pk, "amount": "50.00", "reason": "Goodwill"},
                         format="json")

    assert pending.status_code == 202
    assert (pending.json()["status"], pending.json()["provider_refund_id"]) == ("pending", "re_api_pend")
    responses.replace(responses.POST, STRIPE_REFUNDS, status=200, json={
        "id": "re_api_ok", "object": "refund", "amount": 5000, "charge": CHARGE, "payment_intent": "pi_3Refundable01",
        "currency": "zar", "status": "succeeded", "metadata": {}})
    booked = staff.post("/api/payments/refund", {"payment_id": payment.pk, "amount": "50.00", "reason": "Goodwill 2"},
                        format="json")
    assert (booked.status_code, booked.json()["status"]) == (201, "succeeded")
