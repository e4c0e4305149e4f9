"""Issue 17: the ZOHO mirror stays true month after month. One test (or more) per numbered finding;
each fails on the code before the issue (see the finding named in its name) and passes after.

Endpoints the sync may call are those in CONTRACTS.md 1.x / 1.8a or ZOHO Billing's own OpenAPI
files; `documented_only` checks that no call outside that list (e.g. GET /payments) was made."""

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing.models import CreditNote, Customer, CustomerService, Invoice
from notifications.models import NotificationLog
from payments.models import PaymentAllocation, PaymentTransaction
from tests.factories import CustomerFactory, CustomerServiceFactory
from tests.zoho_sync.conftest import API
from tests.zoho_sync.factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory
from zoho_sync import breaker
from zoho_sync.models import ManualEntry, OutboundIntent, SyncLog, SyncStatus, SyncWait
from zoho_sync.services import mappers
from zoho_sync.services.sync import entity_claim, entity_sync

pytestmark = pytest.mark.django_db

# Method + path patterns documented in CONTRACTS 1.x/1.8a or specs/*.yml (see zoho_sync/clients/zoho.py).
DOCUMENTED = [
    ("GET", r"/customers"), ("GET", r"/customers/[^/]+"), ("POST", r"/customers"), ("PUT", r"/customers/[^/]+"),
    ("GET", r"/transactions"), ("GET", r"/plans/[^/]+"), ("GET", r"/subscriptions"), ("GET", r"/subscriptions/[^/]+"),
    ("POST", r"/subscriptions"), ("PUT", r"/subscriptions/[^/]+"), ("POST", r"/subscriptions/[^/]+/cancel"),
    ("POST", r"/subscriptions/[^/]+/reactivate"), ("GET", r"/invoices"), ("GET", r"/invoices/[^/]+"),
    ("POST", r"/invoices"), ("PUT", r"/invoices/[^/]+"), ("POST", r"/invoices/[^/]+/void"),
    ("POST", r"/invoices/[^/]+/credits"), ("GET", r"/creditnotes/[^/]+"), ("POST", r"/creditnotes"),
    ("POST", r"/creditnotes/[^/]+/invoices"), ("POST", r"/payments"), ("GET", r"/payments/[^/]+"),
    ("DELETE", r"/payments/[^/]+"), ("GET", r"/organizations"),
]


def ok(key, obj, message="success"):
    return {"code": 0, "message": message, key: obj}


def api_calls(rsps, method=None):
    return [(c.request.method, c.request.url.split("?")[0].replace(API, ""))
            for c in rsps.calls if c.request.url.startswith(API) and (method is None or c.request.method == method)]


def documented_only(rsps):
    bad = [(m, p) for m, p in api_calls(rsps) if not any(m == dm and re.fullmatch(dp, p) for dm, dp in DOCUMENTED)]
    assert bad == [], f"undocumented ZOHO calls: {bad}"


def body_of(rsps, method, path, index=0):
    found = [c for c in rsps.calls if c.request.method == method and c.request.url.split("?")[0] == API + path]
    return json.loads(found[index].request.body)


def synced(obj, zoho_id):
    type(obj).objects.filter(pk=obj.pk).update(zoho_id=zoho_id, zoho_sync_status=SyncStatus.SYNCED)
    obj.refresh_from_db()
    return obj


@pytest.fixture
def customer(zoho_settings):
    return synced(CustomerFactory(account_number="CT-2026-01700"), "C1")


@pytest.fixture
def monthly(customer):
    """Our November invoice of subscription S1, issued 7 days ahead of the period."""
    service = synced(CustomerServiceFactory(customer=customer, status="active", activation_date=date(2026, 10, 1)),
                     "S1")
    return InvoiceFactory(customer=customer, service=service, invoice_type="recurring", number="INV-2026-01701",
                          period_start=date(2026, 11, 1), period_end=date(2026, 12, 1), issue_date=date(2026, 10, 25))


def zoho_lists(rsps, invoices):
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": invoices})


# --- Finding 1: waiting, not failing -------------------------------------------------------------------
def test_finding1_recurring_invoice_and_its_payment_wait_without_attempts_then_link(
        monthly, client_factory, token, rsps, settings):
    payment = PaymentFactory(customer=monthly.customer, invoice=monthly, reference="PAY-1701")
    PaymentAllocation.objects.create(payment=payment, invoice=monthly, amount=Decimal("999.00"))
    zoho_lists(rsps, [])

    for _ in range(12):  # every sweep for hours: before, 12 tries made it `failed` (attempts 10)
        inv = entity_sync(entity_type="invoice", pk=monthly.pk, force=True, client=client_factory())
        pay = entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())
    assert (inv.status, pay.status) == ("waiting", "waiting")
    monthly.refresh_from_db()
    payment.refresh_from_db()
    assert (monthly.zoho_sync_status, monthly.zoho_attempts) == ("pending", 0)
    assert (payment.zoho_sync_status, payment.zoho_attempts) == ("pending", 0)
    assert set(SyncWait.objects.values_list("entity_type", flat=True)) == {"invoice", "payment"}
    assert not SyncLog.objects.filter(status="failed").exists()
    assert api_calls(rsps, "POST") == []
    # Next check: at ZOHO's generation hour on the period start (or hourly once it has passed).
    assert monthly.zoho_next_attempt_at > timezone.now()

    rsps.replace(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "Z-NOV", "date": "2026-11-01", "total": 999.0, "tax_total": 130.3}]})
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P1"}))
    assert entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory()).status == "synced"
    monthly.refresh_from_db()
    assert (monthly.zoho_id, monthly.zoho_sync_status) == ("Z-NOV", "synced")
    assert body_of(rsps, "POST", "/payments")["invoices"] == [{"invoice_id": "Z-NOV", "amount_applied": "999.00"}]
    assert not SyncWait.objects.exists()
    documented_only(rsps)


def test_finding1_wait_alerts_once_only_days_after_the_period_started(monthly, client_factory, token, rsps, settings):
    settings.OPS_EMAIL, settings.OPS_WEBHOOK_URL = "ops@example.co.za", ""
    zoho_lists(rsps, [])
    settings.ZOHO_SYNC = {**settings.ZOHO_SYNC, "WAIT_ALERT_DAYS": 2}
    # Positive control first: inside the grace period there is no alert.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(timezone, "localdate", lambda *a: date(2026, 11, 2))
        entity_sync(entity_type="invoice", pk=monthly.pk, force=True, client=client_factory())
        assert not NotificationLog.objects.exists()
        mp.setattr(timezone, "localdate", lambda *a: date(2026, 11, 3))
        entity_sync(entity_type="invoice", pk=monthly.pk, force=True, client=client_factory())
        entity_sync(entity_type="invoice", pk=monthly.pk, force=True, client=client_factory())
    (alert,) = NotificationLog.objects.all()
    assert alert.idempotency_key == f"zoho_wait:invoice:{monthly.pk}" and "INV-2026-01701" in alert.subject
    assert SyncWait.objects.get().alerted_at is not None


def test_finding1_dashboard_counts_waiting_apart_from_pending(monthly, client_factory, token, rsps):
    from zoho_sync.selectors import dashboard_stats

    zoho_lists(rsps, [])
    entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())
    stats = dashboard_stats()
    assert stats["waiting"] == 1
    assert stats["totals"]["by_entity"]["invoice"]["waiting"] == 1
    assert stats["totals"]["by_entity"]["invoice"]["pending"] == 0


# --- Finding 2: reversals ------------------------------------------------------------------------------
def test_finding2_reversed_payment_is_deleted_in_zoho(customer, client_factory, token, rsps):
    payment = synced(PaymentFactory(customer=customer, reference="PAY-1702", status="reversed"), "P9")
    rsps.add(responses.GET, f"{API}/payments/P9", json=ok("payment", {"payment_id": "P9", "amount": 899.0}))
    rsps.add(responses.DELETE, f"{API}/payments/P9", json={"code": 0, "message": "The payment has been deleted."})
    PaymentTransaction.objects.filter(pk=payment.pk).update(zoho_sync_status="pending")

    result = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())

    assert (result.status, result.action) == ("synced", "delete")
    assert api_calls(rsps) == [("GET", "/payments/P9"), ("DELETE", "/payments/P9")]
    # Run twice: ZOHO says it is gone; nothing else is sent.
    rsps.replace(responses.GET, f"{API}/payments/P9", status=404, json={"code": 1002, "message": "not found"})
    rsps.calls.reset()
    again = entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())
    assert again.status == "synced" and api_calls(rsps, "DELETE") == []


def test_finding2_refused_delete_goes_to_the_manual_list_and_ops_hear_once(customer, client_factory, token, rsps,
                                                                           settings):
    settings.OPS_EMAIL, settings.OPS_WEBHOOK_URL = "ops@example.co.za", ""
    payment = synced(PaymentFactory(customer=customer, reference="PAY-1703", status="reversed"), "P8")
    rsps.add(responses.GET, f"{API}/payments/P8", json=ok("payment", {"payment_id": "P8"}))
    rsps.add(responses.DELETE, f"{API}/payments/P8", status=400, json={"code": 3004, "message": "cannot delete"})

    first = entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())
    entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())

    assert first.status == "synced"  # on the manual list: a human's job now, not a retry loop
    entry = ManualEntry.objects.get()
    assert (entry.kind, entry.entity_id) == ("reversal", payment.pk) and "P8" in entry.summary
    assert NotificationLog.objects.filter(idempotency_key=f"zoho_manual:reversal:payment:{payment.pk}").count() == 1
    assert SyncLog.objects.filter(entity_type="payment", status="skipped").count() == 2


def test_finding2_reversed_before_it_reached_zoho_sends_nothing(customer, client_factory, token, rsps):
    payment = PaymentFactory(customer=customer, reference="PAY-1704", status="reversed")
    result = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())
    assert result.status == "synced" and api_calls(rsps) == []
    assert "reversed before it reached ZOHO" in SyncLog.objects.get().error


# --- Finding 3: applied amounts are our allocations ----------------------------------------------------
def test_finding3_second_payment_applies_only_what_we_allocated_rest_is_credit(customer, client_factory, token,
                                                                                rsps):
    invoice = synced(InvoiceFactory(customer=customer, number="INV-2026-01710"), "I10")
    other = synced(InvoiceFactory(customer=customer, number="INV-2026-01711", total=Decimal("200.00"),
                                  subtotal=Decimal("173.91"), vat_amount=Decimal("26.09")), "I11")
    # R 999.00 already paid by an earlier payment; this R 999.00 pays the R 200.00 invoice and is credit otherwise.
    payment = PaymentFactory(customer=customer, invoice=invoice, reference="PAY-1710", amount=Decimal("999.00"))
    PaymentAllocation.objects.create(payment=payment, invoice=other, amount=Decimal("200.00"))
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P10"}))

    assert entity_sync(entity_type="payment", pk=payment.pk, client=client_factory()).status == "synced"

    sent = body_of(rsps, "POST", "/payments")
    assert sent["amount"] == "999.00"
    assert sent["invoices"] == [{"invoice_id": "I11", "amount_applied": "200.00"}]  # not 999.00 to paid INV-01710


def test_finding3_payment_that_is_only_credit_goes_unapplied(customer, client_factory, token, rsps):
    invoice = synced(InvoiceFactory(customer=customer, number="INV-2026-01712", status="paid"), "I12")
    payment = PaymentFactory(customer=customer, invoice=invoice, reference="PAY-1712")
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P12"}))

    entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())

    assert "invoices" not in body_of(rsps, "POST", "/payments")


def test_finding3_allocation_made_later_is_applied_in_zoho_once(customer, client_factory, token, rsps):
    payment = PaymentFactory(customer=customer, reference="PAY-1713", amount=Decimal("500.00"))
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P13"}))
    entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())
    # Next month: the account credit pays the new invoice (payments makes the allocation later).
    invoice = synced(InvoiceFactory(customer=customer, number="INV-2026-01713"), "I13")
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("500.00"))
    rsps.add(responses.GET, f"{API}/payments/P13", json=ok("payment", {"payment_id": "P13", "invoices": []}))
    rsps.add(responses.POST, f"{API}/invoices/I13/credits", json={"code": 0, "message": "Credits have been applied"})

    assert entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory()).status == "synced"
    assert body_of(rsps, "POST", "/invoices/I13/credits") == {
        "invoice_payments": [{"payment_id": "P13", "amount_applied": "500.00"}]}
    # ZOHO now shows it applied: a re-run applies nothing more.
    rsps.replace(responses.GET, f"{API}/payments/P13", json=ok("payment", {
        "payment_id": "P13", "invoices": [{"invoice_id": "I13", "amount_applied": 500.0}]}))
    rsps.calls.reset()
    entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())
    assert api_calls(rsps, "POST") == []
    documented_only(rsps)


def test_finding3_zoho_applied_more_than_we_allocated_goes_to_the_manual_list(customer, client_factory, token, rsps):
    payment = synced(PaymentFactory(customer=customer, reference="PAY-1714", amount=Decimal("500.00")), "P14")
    rsps.add(responses.GET, f"{API}/payments/P14", json=ok("payment", {
        "payment_id": "P14", "invoices": [{"invoice_id": "I99", "amount_applied": 120.0}]}))
    entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())
    entry = ManualEntry.objects.get()
    assert entry.kind == "unapply" and "from R 120.00 to R 0.00" in entry.summary


def test_finding3_credit_note_remainder_applied_to_another_invoice(customer, client_factory, token, rsps):
    from billing.models.invoices import CreditNoteAllocation

    source = synced(InvoiceFactory(customer=customer, number="INV-2026-01715", status="paid",
                                   amount_paid=Decimal("899.00")), "I15")
    note = CreditNote.objects.create(invoice=source, customer=customer, number="CN-2026-01715", reason="outage",
                                     subtotal=Decimal("86.96"), vat_amount=Decimal("13.04"), total=Decimal("100.00"),
                                     applied_amount=Decimal("0.00"), issue_date=date(2026, 11, 5), zoho_id="ZCN15")
    target = synced(InvoiceFactory(customer=customer, number="INV-2026-01716"), "I16")
    CreditNoteAllocation.objects.create(credit_note=note, invoice=target, amount=Decimal("100.00"))
    rsps.add(responses.GET, f"{API}/invoices/I16", json=ok("invoice", {"invoice_id": "I16", "status": "sent",
                                                                       "total": 999.0, "tax_total": 130.3}))
    rsps.add(responses.PUT, f"{API}/invoices/I16", json=ok("invoice", {"invoice_id": "I16", "total": 999.0,
                                                                       "tax_total": 130.3}))
    rsps.add(responses.POST, f"{API}/invoices/I16/credits", json={"code": 0, "message": "applied"})

    assert entity_sync(entity_type="invoice", pk=target.pk, force=True, client=client_factory()).status == "synced"
    assert body_of(rsps, "POST", "/invoices/I16/credits") == {
        "apply_creditnotes": [{"creditnote_id": "ZCN15", "amount_applied": "100.00"}]}
    rsps.calls.reset()
    entity_sync(entity_type="invoice", pk=target.pk, force=True, client=client_factory())
    assert api_calls(rsps, "POST") == []


# --- Finding 4: limits never stall payments ------------------------------------------------------------
def test_finding4_open_breaker_makes_rows_wait_not_fail(customer, client_factory, token, rsps):
    payment = PaymentFactory(customer=customer, reference="PAY-1720")
    until = breaker.trip(breaker.DAILY, timezone.now() + timedelta(hours=3), "ZOHO 45")

    result = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())

    payment.refresh_from_db()
    assert result.status == "deferred"
    assert (payment.zoho_sync_status, payment.zoho_attempts) == ("pending", 0)
    assert payment.zoho_next_attempt_at >= until
    assert api_calls(rsps) == []


def test_finding4_zoho_tasks_go_to_their_own_queue(customer, monkeypatch, settings, django_capture_on_commit_callbacks):
    from zoho_sync.services.outbox import enqueue_sync

    sent = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: sent.append((func, kw.get("cluster"))))
    settings.Q_ZOHO_QUEUE = "zoho"
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_sync(entity=CustomerFactory())
    assert sent == [("zoho_sync.tasks.sync_entity", "zoho")]
    assert "zoho" in settings.Q_CLUSTER["ALT_CLUSTERS"]


# --- Finding 5: a frequent, bounded sweep that honours backoff -----------------------------------------
def test_finding5_sweep_every_few_minutes_bounded_and_honours_backoff(zoho_settings, client_factory, token, rsps,
                                                                      monkeypatch):
    from circletel.schedules import declared_schedules
    from zoho_sync.tasks import sweep

    spec = next(s for s in declared_schedules() if s.name == "zoho_retry_due")
    assert (spec.func, spec.cron) == ("zoho_sync.tasks.sweep_dispatch", "*/5 * * * *")
    due = [CustomerFactory() for _ in range(3)]
    later = CustomerFactory()
    now = timezone.now()
    Customer.objects.filter(pk__in=[c.pk for c in due]).update(zoho_sync_status="retrying", zoho_attempts=2,
                                                               zoho_next_attempt_at=now - timedelta(minutes=1))
    Customer.objects.filter(pk=later.pk).update(zoho_sync_status="retrying", zoho_attempts=5,
                                                zoho_next_attempt_at=now + timedelta(minutes=16))
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201, json=ok("customer", {"customer_id": "Cx"}))
    monkeypatch.setattr("zoho_sync.services.sync.get_client", client_factory)

    sweep(triggered_by="test", max_rows=2)
    assert Customer.objects.filter(zoho_sync_status="synced").count() == 2  # bounded
    sweep(triggered_by="test")
    statuses = dict(Customer.objects.values_list("pk", "zoho_sync_status"))
    assert [statuses[c.pk] for c in due] == ["synced"] * 3
    assert statuses[later.pk] == "retrying"  # its backoff time has not come


# --- Finding 6: no undocumented calls on the money path ------------------------------------------------
def test_finding6_create_that_timed_out_after_zoho_saved_it_is_found_not_reposted(customer, client_factory, token,
                                                                                  rsps):
    import requests

    invoice = synced(InvoiceFactory(customer=customer, number="INV-2026-01730"), "I30")
    payment = PaymentFactory(customer=customer, invoice=invoice, reference="PAY-1730")
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("899.00"))
    rsps.add(responses.POST, f"{API}/payments", body=requests.exceptions.ReadTimeout("read timed out"))

    first = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())
    assert first.status == "retrying" and OutboundIntent.objects.filter(entity_id=payment.pk).exists()

    rsps.add(responses.GET, f"{API}/invoices/I30", json=ok("invoice", {"invoice_id": "I30", "payments": [
        {"payment_id": "P30", "reference_number": "PAY-1730", "amount": 899.0}]}))
    rsps.add(responses.GET, f"{API}/payments/P30", json=ok("payment", {
        "payment_id": "P30", "invoices": [{"invoice_id": "I30", "amount_applied": 899.0}]}))
    second = entity_sync(entity_type="payment", pk=payment.pk, force=True, client=client_factory())

    assert (second.status, second.action, second.zoho_id) == ("synced", "link", "P30")
    assert len(api_calls(rsps, "POST")) == 1  # the one that timed out
    assert not OutboundIntent.objects.exists()
    documented_only(rsps)


def test_finding6_payment_id_is_kept_the_moment_the_post_answers(customer, client_factory, token, rsps, settings):
    payment = PaymentFactory(customer=customer, reference="PAY-1731", status="refunded", amount_refunded=Decimal("899.00"))
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P31"}))
    # The refund step fails afterwards: the id must still be on our row.
    import zoho_sync.services.sync as sync_module

    def boom(*a, **k):
        raise RuntimeError("alert store down")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sync_module, "_refund_follow", boom)
        assert entity_sync(entity_type="payment", pk=payment.pk, client=client_factory()).status == "retrying"
    payment.refresh_from_db()
    assert payment.zoho_id == "P31"


def test_finding6_customers_sharing_an_email_are_matched_on_the_account_number(zoho_settings, client_factory, token,
                                                                               rsps):
    ours = CustomerFactory(email="family@example.co.za", account_number="CT-2026-01732")
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": [
        {"customer_id": "Z-OTHER", "email": "family@example.co.za"},
        {"customer_id": "Z-MANUAL", "email": "family@example.co.za"}]})
    rsps.add(responses.GET, f"{API}/customers/Z-OTHER", json=ok("customer", {
        "customer_id": "Z-OTHER", "custom_fields": [{"label": "Account Number", "value": "CT-2026-09999"}]}))
    rsps.add(responses.GET, f"{API}/customers/Z-MANUAL", json=ok("customer", {"customer_id": "Z-MANUAL",
                                                                              "custom_fields": []}))
    rsps.add(responses.POST, f"{API}/customers", status=201, json=ok("customer", {"customer_id": "Z-OURS"}))

    result = entity_sync(entity_type="customer", pk=ours.pk, client=client_factory())

    assert (result.action, result.zoho_id) == ("create", "Z-OURS")  # never "the first with this email"
    assert api_calls(rsps, "PUT") == []


def test_finding6_fractional_quantity_goes_as_one_unit_of_the_line_amount():
    item = mappers._line_item(name="Data top-up", description="2.5 GB", quantity=Decimal("2.50"),
                              unit_price=Decimal("10.00"), line_amount=Decimal("25.00"), tax_id="")
    assert (item["quantity"], item["price"]) == (1, "25.00")
    whole = mappers._line_item(name="Router", description="", quantity=Decimal("2"), unit_price=Decimal("10.00"),
                               line_amount=Decimal("20.00"), tax_id="")
    assert (whole["quantity"], whole["price"]) == (2, "10.00")


# --- Finding 7: subscriptions agree with our billing ---------------------------------------------------
@pytest.mark.parametrize(("activation", "billing_day", "starts"), [
    (date(2026, 11, 17), 1, date(2026, 12, 1)),   # pro-rata [17 Nov, 1 Dec): ZOHO starts on 1 Dec
    (date(2026, 11, 1), 1, date(2026, 12, 1)),    # activation on the billing day: a full month charged by us
    (date(2026, 1, 31), 30, date(2026, 2, 28)),   # the 30th is February's last day
    (date(2026, 12, 26), 25, date(2027, 1, 25)),
])
def test_finding7_subscription_starts_at_the_first_billing_date_after_our_activation_invoice(activation, billing_day,
                                                                                             starts):
    assert mappers.first_zoho_billing_date(activation, billing_day) == starts


def test_finding7_create_sends_the_anchored_start(customer, client_factory, token, rsps):
    service = CustomerServiceFactory(customer=customer, status="active", activation_date=date(2026, 11, 17),
                                     billing_day=1)
    rsps.add(responses.GET, f"{API}/subscriptions", json={"code": 0, "message": "success", "subscriptions": []})
    rsps.add(responses.GET, f"{API}/plans/fibre-5050", json=ok("plan", {"plan_code": "fibre-5050"}))
    rsps.add(responses.POST, f"{API}/subscriptions", status=201, json=ok("subscription", {"subscription_id": "S7",
                                                                                          "status": "future"}))
    entity_sync(entity_type="service", pk=service.pk, client=client_factory())
    assert body_of(rsps, "POST", "/subscriptions")["starts_at"] == "2026-12-01"


def test_finding7_suspension_pauses_reactivation_resumes_cancellation_cancels(customer, client_factory, token, rsps):
    service = synced(CustomerServiceFactory(customer=customer, status="suspended", activation_date=date(2026, 10, 1)),
                     "S8")
    rsps.add(responses.GET, f"{API}/subscriptions/S8", json=ok("subscription", {"subscription_id": "S8",
                                                                                 "status": "live"}))
    rsps.add(responses.POST, f"{API}/subscriptions/S8/cancel", json={"code": 0, "message": "cancelled"})
    rsps.add(responses.POST, f"{API}/subscriptions/S8/reactivate", json={"code": 0, "message": "reactivated"})
    rsps.add(responses.PUT, f"{API}/subscriptions/S8", json=ok("subscription", {"subscription_id": "S8",
                                                                                "status": "live"}))

    entity_sync(entity_type="service", pk=service.pk, force=True, client=client_factory())
    assert api_calls(rsps, "POST") == [("POST", "/subscriptions/S8/cancel")]

    CustomerService.objects.filter(pk=service.pk).update(status="active")
    rsps.replace(responses.GET, f"{API}/subscriptions/S8", json=ok("subscription", {"subscription_id": "S8",
                                                                                    "status": "cancelled"}))
    rsps.calls.reset()
    entity_sync(entity_type="service", pk=service.pk, force=True, client=client_factory())
    assert api_calls(rsps, "POST") == [("POST", "/subscriptions/S8/reactivate")]

    CustomerService.objects.filter(pk=service.pk).update(status="cancelled")
    rsps.calls.reset()
    entity_sync(entity_type="service", pk=service.pk, force=True, client=client_factory())  # ZOHO: cancelled
    assert api_calls(rsps, "POST") == []  # already cancelled: not cancelled twice
    documented_only(rsps)


def test_finding7_monthly_invoice_of_a_paused_subscription_is_created_not_awaited(monthly, client_factory, token,
                                                                                    rsps):
    CustomerService.objects.filter(pk=monthly.service_id).update(status="suspended")
    InvoiceLineFactory(invoice=monthly, description="Fibre 50/50 November")
    zoho_lists(rsps, [])
    rsps.add(responses.POST, f"{API}/invoices", status=201, json=ok("invoice", {
        "invoice_id": "Z-OWN", "total": 999.0, "tax_total": 130.3}))

    result = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())

    assert (result.status, result.action, result.zoho_id) == ("synced", "create", "Z-OWN")


# --- Finding 8: honest operations ----------------------------------------------------------------------
def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_finding8_health_check_with_sync_off_says_disabled_and_exits_2_without_calling(settings, rsps):
    settings.ENABLE_ZOHO_SYNC = False
    with pytest.raises(CommandError) as exc:
        run("zoho_health_check")
    assert exc.value.returncode == 2 and "disabled" in str(exc.value)
    assert list(rsps.calls) == []


def test_finding8_ping_calls_zoho_with_sync_off_and_says_what_it_proved(zoho_settings, token, rsps):
    zoho_settings.ENABLE_ZOHO_SYNC = False
    rsps.add(responses.GET, f"{API}/organizations", json={"code": 0, "message": "success", "organizations": [
        {"organization_id": "700000001", "name": "CircleTel"}]})

    out = run("zoho_health_check", "--ping")

    assert "HEALTHY" in out and "proved: OAuth refresh accepted" in out
    assert "proved: organisation 700000001 is reachable" in out
    # Positive control: a wrong organisation id is unhealthy (exit 1) and says which step failed.
    zoho_settings.ZOHO = {**zoho_settings.ZOHO, "ORGANIZATION_ID": "123"}
    with pytest.raises(CommandError) as exc:
        run("zoho_health_check", "--ping")
    assert exc.value.returncode == 1 and "ZOHO_ORGANIZATION_ID 123 is not among" in str(exc.value)


@pytest.mark.parametrize("command", [("zoho_reconcile",), ("zoho_backfill", "--no-progress"),
                                     ("zoho_retry_failed", "--no-progress"), ("zoho_sync_one", "customer", "1")])
def test_finding8_every_command_gives_a_clean_error_without_credentials(command, settings):
    settings.ENABLE_ZOHO_SYNC = True
    settings.ZOHO = {**settings.ZOHO, "CLIENT_ID": "", "CLIENT_SECRET": "", "REFRESH_TOKEN": "", "ORGANIZATION_ID": ""}
    CustomerFactory(pk=1)
    with pytest.raises(CommandError, match="ZOHO is not configured: set ZOHO_CLIENT_ID"):
        run(*command)


def test_finding8_dashboard_retry_queues_the_rows_it_shows(zoho_settings, admin_client, queued,
                                                           django_capture_on_commit_callbacks):
    from django.urls import reverse

    failed, retrying = CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=failed.pk).update(zoho_sync_status="failed", zoho_attempts=10)
    Customer.objects.filter(pk=retrying.pk).update(zoho_sync_status="retrying", zoho_attempts=3,
                                                   zoho_next_attempt_at=timezone.now() + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:zoho_sync_retry"), {"entity_type": "customer"})
    assert sorted(queued) == sorted([("zoho_sync.tasks.sync_entity", ("customer", failed.pk)),
                                     ("zoho_sync.tasks.sync_entity", ("customer", retrying.pk))])
    assert set(Customer.objects.values_list("zoho_sync_status", flat=True)) == {"pending"}


# --- Finding 9: retries, health and alerts that tell the truth -----------------------------------------
def test_finding9_retry_failed_also_retries_retrying_rows(zoho_settings, client_factory, token, rsps, monkeypatch):
    rows = [CustomerFactory() for _ in range(2)]
    Customer.objects.filter(pk=rows[0].pk).update(zoho_sync_status="retrying", zoho_attempts=3,
                                                  zoho_next_attempt_at=timezone.now() + timedelta(hours=3))
    Customer.objects.filter(pk=rows[1].pk).update(zoho_sync_status="failed", zoho_attempts=10)
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201, json=ok("customer", {"customer_id": "Cx"}))
    monkeypatch.setattr("zoho_sync.services.sync.get_client", client_factory)

    out = run("zoho_retry_failed", "--entity", "customers", "--no-progress")

    assert "customer: 2 of 2 synced" in out


def test_finding9_prerequisite_busy_with_another_worker_is_not_an_attempt(customer, client_factory, token, rsps):
    invoice = InvoiceFactory(customer=customer, number="INV-2026-01790")
    payment = PaymentFactory(customer=customer, invoice=invoice, reference="PAY-1790")
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("899.00"))
    assert entity_claim(entity_type="invoice", pk=invoice.pk) is not None  # another worker holds it

    result = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())

    payment.refresh_from_db()
    assert result.status == "deferred" and (payment.zoho_sync_status, payment.zoho_attempts) == ("pending", 0)


def test_finding9_health_recovers_within_the_hour_not_after_24h(zoho_settings, token, rsps):
    from zoho_sync.services.health import health_report

    old = [SyncLog(entity_type="customer", entity_id=i, action="update", status="failed") for i in range(50)]
    SyncLog.objects.bulk_create(old)
    SyncLog.objects.update(created_at=timezone.now() - timedelta(hours=3))
    SyncLog.objects.create(entity_type="customer", entity_id=99, action="update", status="success")

    report = health_report(check_api=False)

    assert report["success_rate_24h"] < 99 and report["success_rate_1h"] == 100.0
    assert report["state"] == "healthy", report["problems"]


def test_finding9_alerts_name_their_condition_and_the_retrying_backlog_is_watched(zoho_settings):
    from zoho_sync.services import monitoring

    zoho_settings.OPS_EMAIL, zoho_settings.OPS_WEBHOOK_URL = "ops@example.co.za", ""
    zoho_settings.ZOHO_SYNC = {k: v for k, v in zoho_settings.ZOHO_SYNC.items() if not k.startswith("ALERT_")}
    SyncLog.objects.bulk_create([SyncLog(entity_type="customer", entity_id=i, action="update",
                                         status="failed" if i < 2 else "success") for i in range(100)])
    customers = [CustomerFactory() for _ in range(50)]
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(zoho_sync_status="retrying")

    outcome = monitoring.monitor_run()
    monitoring.monitor_run()  # alert once per condition per day

    assert set(outcome["alerted"]) == {"success_rate", "retrying"}
    subjects = sorted(NotificationLog.objects.values_list("subject", flat=True))
    assert len(subjects) == 2
    assert any("success rate over 24 h is 98.0% (target: above 99.0%)" in s for s in subjects)
    assert any("50 ZOHO syncs are retrying" in s for s in subjects)
    assert not any("0 failures" in s for s in subjects)


def test_monitor_targets_are_the_specification_defaults():
    from zoho_sync.services.monitoring import DEFAULT_TARGETS

    assert DEFAULT_TARGETS["ALERT_MIN_SUCCESS_RATE"] == 99.0
    assert DEFAULT_TARGETS["ALERT_FAILED_COUNT"] == 5
    assert DEFAULT_TARGETS["ALERT_MAX_LATENCY_SECONDS"] == 5.0
    assert DEFAULT_TARGETS["ALERT_MIN_RECEIPT_DELIVERY"] == 98.0


def test_receipt_delivery_is_measured_from_the_notification_log(zoho_settings):
    from zoho_sync.selectors import receipt_delivery

    for status in ["sent"] * 49 + ["failed", "queued"]:
        NotificationLog.objects.create(recipient="a@example.co.za", channel="email", event="payment_received",
                                       status=status)
    assert receipt_delivery() == {"sent": 49, "failed": 1, "decided": 50, "rate": 98.0}


# Keep flake8 quiet about helpers some tests import for readability.
_ = (datetime, Invoice)
