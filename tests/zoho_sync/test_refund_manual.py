"""Refunds the ZOHO mirror cannot send reach a human, once per refunded total.

Refunds go to ZOHO through `POST /payments/{payment_id}/refunds` (tests/zoho_sync/test_refunds.py).
Here ZOHO refuses them (its spec applies refunds to `autotransaction` payments: Letstream/
zoho-billing-python-sdk specs/payments.yml @2bf0952194ce95f8645f7ad6da35021cfbb92fe8, amount_refunded),
so the payment sync records a RefundManualEntry for the payment's refunded total, alerts ops once
(idempotency key `zoho_refund_manual:{payment}:{total}`), marks its SyncLog, and the health check
counts the payment until staff mark the refund entered in ZOHO."""

import io
import json
from decimal import Decimal

import pytest
import responses
from django.db.models import F
from django.urls import reverse

from billing.models import Customer
from notifications.models import NotificationLog
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.zoho_sync.conftest import API
from tests.zoho_sync.factories import PaymentFactory
from zoho_sync.models import RefundManualEntry, SyncLog, SyncStatus
from zoho_sync.services.health import health_report, render_text
from zoho_sync.services.outbox import enqueue_sync
from zoho_sync.services.sync import MANUAL_REFUND_NOTE, ZohoSyncError, entity_sync, refund_manual_entry_mark_entered

pytestmark = pytest.mark.django_db

ADMIN_URL = "/admin/zoho_sync/refundmanualentry/?state=awaiting"
REFUSED = "Refunds are applicable only for autotransaction payments."


@pytest.fixture
def ops(zoho_settings):
    zoho_settings.OPS_EMAIL = "ops@example.co.za"
    zoho_settings.OPS_WEBHOOK_URL = ""  # one email row per alert: easy to count
    return zoho_settings


class Zoho:
    refunded = Decimal("0.00")  # ZOHO's amount_refunded on P1 (what staff entered by hand)


@pytest.fixture
def zoho_state():
    return Zoho()


@pytest.fixture
def synced_payment(ops, rsps, zoho_state):
    """A R 999.00 EFT payment already mirrored in ZOHO as payment P1 of customer C9 (unapplied, as
    our payment has no allocations). The sync reads it back (GET /payments/P1) for the applied
    amounts and its `amount_refunded`; ZOHO refuses every refund POST (400)."""
    rsps.add(responses.POST, "https://accounts.zoho.com/oauth/v2/token", json={"access_token": "t", "expires_in": 3600})
    rsps.add_callback(responses.GET, f"{API}/payments/P1", callback=lambda request: (200, {}, json.dumps({
        "code": 0, "message": "success", "payment": {"payment_id": "P1", "amount": 999.0,
                                                     "amount_refunded": float(zoho_state.refunded), "invoices": []}})))
    rsps.add(responses.POST, f"{API}/payments/P1/refunds", status=400, json={"code": 4, "message": REFUSED})
    customer = CustomerFactory(account_number="CT-2026-00077", first_name="Thandi", last_name="Nkosi",
                               company_name="")
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C9", zoho_sync_status=SyncStatus.SYNCED)
    payment = PaymentFactory(customer=customer, reference="PAY-5501", amount=Decimal("999.00"))
    PaymentTransaction.objects.filter(pk=payment.pk).update(zoho_id="P1", zoho_sync_status=SyncStatus.SYNCED)
    return PaymentTransaction.objects.get(pk=payment.pk)


def refund(payment, total: str):
    """What the refund service leaves behind: the new refunded total and status, and the row queued."""
    total = Decimal(total)
    status = "refunded" if total >= payment.amount else "partially_refunded"
    PaymentTransaction.objects.filter(pk=payment.pk).update(amount_refunded=total, status=status)
    payment.refresh_from_db()
    enqueue_sync(entity=payment)


def sync(payment, client_factory, *, force=False):
    return entity_sync(entity_type="payment", pk=payment.pk, client=client_factory(), force=force)


def alerts(payment):
    return list(NotificationLog.objects.filter(idempotency_key__startswith=f"zoho_refund_manual:{payment.pk}:")
                .order_by("pk"))


def last_log(payment):
    return SyncLog.objects.filter(entity_type="payment", entity_id=payment.pk).order_by("-pk").first()


def test_refund_of_a_synced_payment_alerts_ops_once_with_what_to_enter(synced_payment, client_factory, rsps):
    refund(synced_payment, "300.00")

    result = sync(synced_payment, client_factory)

    assert (result.status, result.zoho_id) == ("synced", "P1")
    # Read back, the refund offered once (refused), nothing else sent to ZOHO.
    assert [(c.request.method, c.request.url[len(API):]) for c in rsps.calls if c.request.url.startswith(API)] == [
        ("GET", "/payments/P1"), ("GET", "/payments/P1"), ("POST", "/payments/P1/refunds")]
    (alert,) = alerts(synced_payment)
    assert (alert.idempotency_key, alert.channel, alert.recipient, alert.event) == (
        f"zoho_refund_manual:{synced_payment.pk}:300.00", "email", "ops@example.co.za", "ops_alert")
    assert alert.context["title"] == "Enter a refund in ZOHO by hand: PAY-5501"
    assert alert.context["fields"] == {
        "customer": "CT-2026-00077 Thandi Nkosi", "ZOHO customer id": "C9", "our payment reference": "PAY-5501",
        "ZOHO payment id": "P1", "payment amount": "R 999.00", "refunded in total": "R 300.00",
        "refunded in ZOHO": "R 0.00", "why": "ZOHO refused the refund", "new since the last alert": "R 300.00",
        "admin": ADMIN_URL}
    assert "Record a refund of R 300.00 on ZOHO payment P1 so that ZOHO shows R 300.00 refunded" in alert.body
    entry = RefundManualEntry.objects.get()
    assert (entry.payment_id, entry.refunded_total, entry.previous_total, entry.zoho_payment_id, entry.reason,
            entry.zoho_total) == (synced_payment.pk, Decimal("300.00"), Decimal("0.00"), "P1", "refused", Decimal("0.00"))
    assert entry.alerted_at is not None and entry.alert_error == "" and entry.entered_at is None
    log = last_log(synced_payment)
    assert (log.action, log.status) == ("skip", "skipped")
    assert log.error.startswith(f"{MANUAL_REFUND_NOTE}: R 300.00 refunded in total, R 0.00 in ZOHO (ZOHO refused "
                                "the refund)")
    assert log.response_summary["manual_refund"] == {
        "state": "awaiting", "entry_id": entry.pk, "refunded_total": "300.00", "zoho_before": "0.00",
        "reason": "refused", "refused": f"ZOHO rejected POST /payments/P1/refunds (400, code 4): {REFUSED}",
        "since_last_alert": "300.00", "alert": "sent"}


def test_a_second_sync_of_the_same_refund_sends_nothing(synced_payment, client_factory, rsps):
    refund(synced_payment, "300.00")
    sync(synced_payment, client_factory)

    result = sync(synced_payment, client_factory, force=True)

    assert result.status == "synced"
    assert len(alerts(synced_payment)) == 1
    assert RefundManualEntry.objects.count() == 1
    assert last_log(synced_payment).response_summary["manual_refund"]["alert"] == "already sent"
    assert len([c for c in rsps.calls if c.request.method == "POST" and c.request.url.startswith(API)]) == 1


def test_a_further_partial_refund_sends_one_more_alert_with_the_difference(synced_payment, client_factory, rsps):
    refund(synced_payment, "300.00")
    sync(synced_payment, client_factory)
    refund(synced_payment, "500.00")

    sync(synced_payment, client_factory)
    sync(synced_payment, client_factory, force=True)

    first, second = alerts(synced_payment)
    assert second.idempotency_key == f"zoho_refund_manual:{synced_payment.pk}:500.00"
    assert {k: second.context["fields"][k] for k in ("refunded in total", "refunded in ZOHO",
                                                     "new since the last alert")} == {
        "refunded in total": "R 500.00", "refunded in ZOHO": "R 0.00", "new since the last alert": "R 200.00"}
    assert "Record a refund of R 500.00 on ZOHO payment P1" in second.body
    assert list(RefundManualEntry.objects.order_by("pk").values_list("refunded_total", "previous_total")) == [
        (Decimal("300.00"), Decimal("0.00")), (Decimal("500.00"), Decimal("300.00"))]
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 1  # one payment, its current total


def test_a_failing_alert_does_not_fail_the_sync_and_is_sent_once_later(synced_payment, client_factory, rsps,
                                                                        monkeypatch):
    import notifications.services

    real_notify_ops = notifications.services.notify_ops

    def write_then_fail(**kwargs):
        real_notify_ops(**kwargs)  # the row it writes must be rolled back with the alert's savepoint
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(notifications.services, "notify_ops", write_then_fail)
    refund(synced_payment, "300.00")

    result = sync(synced_payment, client_factory)

    assert result.status == "synced"
    synced_payment.refresh_from_db()
    assert (synced_payment.zoho_sync_status, synced_payment.zoho_id, synced_payment.zoho_last_error) == (
        "synced", "P1", "")
    assert alerts(synced_payment) == []
    entry = RefundManualEntry.objects.get()
    assert (entry.alerted_at, entry.alert_error) == (None, "RuntimeError: mail queue down")
    summary = last_log(synced_payment).response_summary["manual_refund"]
    assert (summary["state"], summary["alert"]) == ("awaiting", "failed (RuntimeError: mail queue down)")
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 1

    monkeypatch.setattr(notifications.services, "notify_ops", real_notify_ops)
    sync(synced_payment, client_factory, force=True)
    sync(synced_payment, client_factory, force=True)

    assert len(alerts(synced_payment)) == 1
    entry.refresh_from_db()
    assert entry.alerted_at is not None and entry.alert_error == ""


def test_payment_created_in_zoho_with_a_refund_already_alerts_with_the_new_zoho_id(ops, client_factory, token,
                                                                                   rsps):
    customer = CustomerFactory(account_number="CT-2026-00078")
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C10", zoho_sync_status=SyncStatus.SYNCED)
    payment = PaymentFactory(customer=customer, reference="PAY-5502", amount=Decimal("450.00"),
                             status="refunded", amount_refunded=Decimal("450.00"))
    rsps.add(responses.POST, f"{API}/payments", status=201,
             json={"code": 0, "message": "The payment has been created.", "payment": {"payment_id": "P77"}})
    rsps.add(responses.GET, f"{API}/payments/P77", json={"code": 0, "message": "success", "payment": {
        "payment_id": "P77", "amount": 450.0, "amount_refunded": 0.0, "invoices": []}})
    rsps.add(responses.POST, f"{API}/payments/P77/refunds", status=400, json={"code": 4, "message": REFUSED})

    result = sync(payment, client_factory)

    assert (result.status, result.action, result.zoho_id) == ("synced", "create", "P77")
    (alert,) = alerts(payment)
    assert (alert.context["fields"]["ZOHO payment id"], alert.context["fields"]["refunded in total"]) == (
        "P77", "R 450.00")
    log = last_log(payment)
    assert (log.action, log.status) == ("create", "success")
    assert log.response_summary["manual_refund"]["state"] == "awaiting"


def test_payment_without_refund_writes_no_entry_and_no_alert(synced_payment, client_factory, rsps):
    enqueue_sync(entity=synced_payment)

    sync(synced_payment, client_factory)

    assert RefundManualEntry.objects.count() == 0 and alerts(synced_payment) == []
    log = last_log(synced_payment)
    assert (log.action, log.status, log.error) == ("update", "success", "")
    assert "manual_refund" not in log.response_summary


def test_marked_entered_drops_the_health_count_and_the_next_alert_counts_from_it(synced_payment, client_factory,
                                                                                 rsps, zoho_state):
    refund(synced_payment, "300.00")
    sync(synced_payment, client_factory)
    entry = RefundManualEntry.objects.get()
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 1
    assert "refunds awaiting manual entry in ZOHO: 1 (ACTION" in render_text(health_report(check_api=False))

    zoho_state.refunded = Decimal("300.00")  # staff record the refund in ZOHO by hand ...
    refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="refund posted in ZOHO")  # ... and say so

    entry.refresh_from_db()
    assert (entry.entered_by, entry.entered_reason) == ("thabo", "refund posted in ZOHO")
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 0
    sync(synced_payment, client_factory, force=True)  # nothing left to enter: no alert, an ordinary log
    log = last_log(synced_payment)
    assert (log.action, log.status, log.response_summary["refund"]["state"]) == ("update", "success", "mirrored")
    assert len(alerts(synced_payment)) == 1

    refund(synced_payment, "999.00")
    sync(synced_payment, client_factory)

    new = alerts(synced_payment)[-1]
    assert {k: new.context["fields"][k] for k in ("refunded in total", "refunded in ZOHO",
                                                  "new since the last alert")} == {
        "refunded in total": "R 999.00", "refunded in ZOHO": "R 300.00", "new since the last alert": "R 699.00"}
    assert "Record a refund of R 699.00 on ZOHO payment P1 so that ZOHO shows R 999.00 refunded" in new.body
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 1


def test_mark_entered_refuses_without_reason_twice_or_when_out_of_date(synced_payment, client_factory, rsps):
    refund(synced_payment, "300.00")
    sync(synced_payment, client_factory)
    entry = RefundManualEntry.objects.get()

    with pytest.raises(ZohoSyncError, match="reason is required"):
        refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="  ")
    refund(synced_payment, "500.00")  # a further refund before anyone entered the first one
    with pytest.raises(ZohoSyncError, match="out of date: payment PAY-5501 now has R 500.00 refunded"):
        refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="done")
    entry.refresh_from_db()
    assert (entry.entered_at, entry.entered_by, entry.entered_reason) == (None, "", "")

    refund(synced_payment, "300.00")  # back to the entered level (e.g. a refund failed and was reversed)
    refund_manual_entry_mark_entered(entry_id=entry.pk, actor="thabo", reason="done")
    with pytest.raises(ZohoSyncError, match="already marked entered in ZOHO by thabo"):
        refund_manual_entry_mark_entered(entry_id=entry.pk, actor="lerato", reason="again")
    entry.refresh_from_db()
    assert (entry.entered_by, entry.entered_reason) == ("thabo", "done")


def test_admin_action_asks_for_a_reason_then_records_who_entered_it(synced_payment, client_factory, rsps, client):
    refund(synced_payment, "300.00")
    sync(synced_payment, client_factory)
    entry = RefundManualEntry.objects.get()
    user = UserFactory(username="lerato@example.co.za", is_staff=True, is_superuser=True)
    client.force_login(user)
    url = reverse("admin:zoho_sync_refundmanualentry_changelist")

    listing = client.get(url, {"state": "awaiting"})
    dashboard = client.get(reverse("admin:zoho_sync_syncdashboard_changelist"))
    form = client.post(url, {"action": "mark_entered", "_selected_action": [entry.pk]})
    no_reason = client.post(url, {"action": "mark_entered", "_selected_action": [entry.pk], "apply": "1",
                                  "reason": ""})

    assert listing.status_code == 200 and "PAY-5501" in listing.content.decode()
    assert dashboard.status_code == 200
    assert "<b>1</b><a href=\"/admin/zoho_sync/refundmanualentry/?state=awaiting\">" in dashboard.content.decode()
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert no_reason.status_code == 200  # the form again: nothing recorded
    entry.refresh_from_db()
    assert entry.entered_at is None

    done = client.post(url, {"action": "mark_entered", "_selected_action": [entry.pk], "apply": "1",
                             "reason": "refund of R 300 posted on P1"})

    assert done.status_code == 302
    entry.refresh_from_db()
    assert (entry.entered_by, entry.entered_reason) == ("lerato@example.co.za", "refund of R 300 posted on P1")
    assert health_report(check_api=False)["refunds_awaiting_zoho_entry"] == 0
    assert "PAY-5501" not in client.get(url, {"state": "awaiting"}).content.decode()


def _demo_payments():
    """The payments demo (a declined, a fully and a partly refunded payment) on three demo services."""
    from payments.demo import seed_demo as seed_payments
    from tests.factories import CustomerServiceFactory
    from tests.payments.factories import make_invoice

    for i in range(3):
        service = CustomerServiceFactory(provider_order_id=f"DEMO-{i:05d}")
        make_invoice(service.customer, "499.00")
    seed_payments(io.StringIO())


@pytest.mark.django_db
def test_demo_sends_full_refunds_and_lists_refused_partial_ones_once():
    from zoho_sync.demo import seed_demo as seed_zoho
    from zoho_sync.models import RefundManualEntry, RefundPush

    _demo_payments()
    out = io.StringIO()
    seed_zoho(out)
    seed_zoho(out)

    refunded = PaymentTransaction.objects.filter(amount_refunded__gt=0, zoho_sync_status="synced").exclude(zoho_id="")
    full = refunded.filter(amount_refunded__gte=F("amount"))
    partial = refunded.filter(amount_refunded__lt=F("amount"))
    assert full.exists() and partial.exists()
    assert sorted(RefundPush.objects.filter(state="saved").values_list("payment_id", "amount")) == sorted(
        full.values_list("pk", "amount_refunded"))
    entries = RefundManualEntry.objects.awaiting()
    assert sorted(entries.values_list("payment_id", "refunded_total", "reason")) == sorted(
        (pk, total, "refused") for pk, total in partial.values_list("pk", "amount_refunded"))
    assert all(e.zoho_payment_id == e.payment.zoho_id for e in entries)
    assert RefundPush.objects.count() == refunded.count()  # the second run added nothing
    assert (f"; {full.count()} refund(s) sent to ZOHO, {partial.count()} refund(s) to enter in ZOHO by hand"
            in out.getvalue())


@pytest.mark.django_db
def test_demo_never_shows_a_declined_payment_as_sent_to_zoho():
    from zoho_sync.demo import seed_demo as seed_zoho
    from zoho_sync.models import SyncLog

    _demo_payments()
    seed_zoho(io.StringIO())
    seed_zoho(io.StringIO())

    declined = PaymentTransaction.objects.get(status="failed")
    assert (declined.zoho_id, declined.zoho_sync_status) == ("", "synced")
    logs = SyncLog.objects.filter(entity_type="payment", entity_id=declined.pk)
    assert list(logs.values_list("action", "status")) == [("skip", "skipped")]
