import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from billing.models import Customer, Invoice
from payments.models import PaymentAllocation, PaymentTransaction
from tests.factories import CustomerFactory, CustomerServiceFactory
from tests.zoho_sync.conftest import API
from tests.zoho_sync.factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory
from zoho_sync.models import SyncLog, SyncStatus
from zoho_sync.services.outbox import enqueue_sync
from zoho_sync.services.sync import backoff_delay, entity_sync

pytestmark = pytest.mark.django_db


def ok(key, obj, status=200, message="success"):
    return {"code": 0, "message": message, key: obj}


def api_calls(rsps, method=None):
    return [(c.request.method, c.request.url.split("?")[0].replace(API, ""))
            for c in rsps.calls if c.request.url.startswith(API) and (method is None or c.request.method == method)]


def body_of(rsps, method, path):
    for c in rsps.calls:
        if c.request.method == method and c.request.url.split("?")[0] == API + path:
            return json.loads(c.request.body)
    raise AssertionError(f"no {method} {path}")


def test_customer_created_when_not_found(client_factory, token, rsps):
    customer = CustomerFactory(email="thandi@example.co.za", account_number="CT-2026-00042")
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201,
             json=ok("customer", {"customer_id": "9030001"}, message="The customer has been created"))

    result = entity_sync(entity_type="customer", pk=customer.pk, client=client_factory())

    assert (result.status, result.action, result.zoho_id) == ("synced", "create", "9030001")
    customer.refresh_from_db()
    assert (customer.zoho_id, customer.zoho_sync_status, customer.zoho_attempts) == ("9030001", "synced", 0)
    sent = body_of(rsps, "POST", "/customers")
    assert sent["custom_fields"] == [{"label": "Account Number", "value": "CT-2026-00042"}]
    assert sent["email"] == "thandi@example.co.za" and sent["currency_code"] == "ZAR"
    log = SyncLog.objects.get()
    assert (log.entity_type, log.action, log.status, log.zoho_id) == ("customer", "create", "success", "9030001")
    assert "thandi@example.co.za" not in json.dumps(log.request_summary)


def test_crash_between_zoho_create_and_our_save_does_not_duplicate(client_factory, token, rsps):
    """ZOHO created the customer, then our worker died before saving the id. The retry finds it."""
    customer = CustomerFactory(email="sipho@example.co.za", account_number="CT-2026-00043")
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status=SyncStatus.SYNCING,
                                                   zoho_next_attempt_at=timezone.now() - timedelta(minutes=1))
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": [
        {"customer_id": "9030007", "email": "SIPHO@example.co.za"}]})  # list items carry no custom_fields
    rsps.add(responses.GET, f"{API}/customers/9030007", json=ok("customer", {
        "customer_id": "9030007", "email": "SIPHO@example.co.za",
        "custom_fields": [{"label": "Account Number", "value": "CT-2026-00043"}]}))
    rsps.add(responses.PUT, f"{API}/customers/9030007", json=ok("customer", {"customer_id": "9030007"}))

    result = entity_sync(entity_type="customer", pk=customer.pk, client=client_factory())

    assert (result.status, result.action, result.zoho_id) == ("synced", "link", "9030007")
    assert api_calls(rsps, "POST") == []
    customer.refresh_from_db()
    assert customer.zoho_id == "9030007"


def test_payment_for_unsynced_customer_and_invoice_syncs_all_three_in_order(client_factory, token, rsps):
    customer = CustomerFactory(account_number="CT-2026-00044")
    invoice = InvoiceFactory(customer=customer, number="INV-2026-00101")
    InvoiceLineFactory(invoice=invoice)
    payment = PaymentFactory(customer=customer, invoice=invoice, reference="PAY-1001", method="debit_order")
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("999.00"))
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201, json=ok("customer", {"customer_id": "C1"}))
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [],
                                                     "page_context": {"has_more_page": False}})
    rsps.add(responses.POST, f"{API}/invoices", status=201, json=ok("invoice", {
        "invoice_id": "I1", "total": 999.0, "tax_total": 130.3, "sub_total": 868.7}))
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P1", "status": "success"}))

    result = entity_sync(entity_type="payment", pk=payment.pk, client=client_factory())

    assert (result.status, result.zoho_id) == ("synced", "P1")
    assert api_calls(rsps, "POST") == [("POST", "/customers"), ("POST", "/invoices"), ("POST", "/payments")]
    assert body_of(rsps, "POST", "/payments") == {
        "customer_id": "C1", "payment_mode": "banktransfer", "amount": "999.00",
        "date": timezone.localdate(payment.completed_at).isoformat(), "reference_number": "PAY-1001",
        "description": "CircleTel payment PAY-1001 (Debit order)",
        "invoices": [{"invoice_id": "I1", "amount_applied": "999.00"}]}
    inv_body = body_of(rsps, "POST", "/invoices")
    assert inv_body["invoice_items"] == [{"name": "Fibre installation", "description": "Fibre installation",
                                          "quantity": 1, "price": "999.00", "rate": "999.00",
                                          "tax_id": "9000000VAT"}]
    assert inv_body["is_inclusive_tax"] is True and inv_body["reference_number"] == "INV-2026-00101"
    statuses = {m.__name__: list(m.objects.values_list("zoho_id", "zoho_sync_status"))
                for m in (Customer, Invoice, PaymentTransaction)}
    assert statuses == {"Customer": [("C1", "synced")], "Invoice": [("I1", "synced")],
                        "PaymentTransaction": [("P1", "synced")]}
    assert list(SyncLog.objects.order_by("pk").values_list("entity_type", "action")) == [
        ("customer", "create"), ("invoice", "create"), ("payment", "create")]


def test_payment_without_invoice_is_an_unapplied_payment(client_factory, token, rsps):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C9", zoho_sync_status="synced")
    payment = PaymentFactory(customer=customer, reference="PAY-2002", method="card", amount=Decimal("150.50"))
    rsps.add(responses.POST, f"{API}/payments", status=201, json=ok("payment", {"payment_id": "P2"}))

    assert entity_sync(entity_type="payment", pk=payment.pk, client=client_factory()).zoho_id == "P2"
    body = body_of(rsps, "POST", "/payments")
    assert "invoices" not in body
    assert (body["amount"], body["payment_mode"]) == ("150.50", "creditcard")


def test_invoice_totals_mismatch_fails_loudly_and_keeps_the_id(client_factory, token, rsps):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C9", zoho_sync_status="synced")
    invoice = InvoiceFactory(customer=customer)
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": []})
    rsps.add(responses.POST, f"{API}/invoices", status=201,
             json=ok("invoice", {"invoice_id": "I7", "total": "999.00", "tax_total": "130.31"}))

    result = entity_sync(entity_type="invoice", pk=invoice.pk, client=client_factory())

    assert result.status == "retrying"
    assert "TotalsMismatchError" in result.error and "130.31" in result.error
    invoice.refresh_from_db()
    assert (invoice.zoho_id, invoice.zoho_sync_status, invoice.zoho_attempts) == ("I7", "retrying", 1)
    body = body_of(rsps, "POST", "/invoices")
    assert body["invoice_items"][0]["name"] == "Installation INV-2026-" + invoice.number[-5:]  # no lines: one line


def test_recurring_invoice_is_linked_not_created_and_waits_for_zoho(client_factory, token, rsps):
    service = CustomerServiceFactory(status="active", activation_date=date(2026, 10, 1))
    Customer.objects.filter(pk=service.customer_id).update(zoho_id="C1", zoho_sync_status="synced")
    service.__class__.objects.filter(pk=service.pk).update(zoho_id="S1", zoho_sync_status="synced")
    invoice = InvoiceFactory(customer=service.customer, service=service, invoice_type="recurring",
                             period_start=date(2026, 11, 1), period_end=date(2026, 12, 1), issue_date=date(2026, 11, 1))
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "Z-OCT", "date": "2026-10-01", "total": 999.0, "tax_total": 130.3}]})

    first = entity_sync(entity_type="invoice", pk=invoice.pk, client=client_factory())
    assert first.status == "waiting" and "has not generated" in first.error
    assert SyncLog.objects.get().status == "skipped"
    invoice.refresh_from_db()
    assert (invoice.zoho_sync_status, invoice.zoho_attempts) == ("pending", 0)  # waiting: not an attempt

    rsps.replace(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "Z-OCT", "date": "2026-10-01"}, {"invoice_id": "Z-NOV", "date": "2026-11-01",
                                                        "total": 999.0, "tax_total": 130.3}]})
    second = entity_sync(entity_type="invoice", pk=invoice.pk, force=True, client=client_factory())
    assert (second.status, second.action, second.zoho_id) == ("synced", "link", "Z-NOV")
    assert api_calls(rsps, "POST") == []


def test_missing_plan_is_a_clear_error(client_factory, token, rsps):
    service = CustomerServiceFactory(status="active", package_name="Fibre 50/50", activation_date=date(2026, 11, 3))
    Customer.objects.filter(pk=service.customer_id).update(zoho_id="C1", zoho_sync_status="synced")
    rsps.add(responses.GET, f"{API}/subscriptions", json={"code": 0, "message": "success", "subscriptions": []})
    rsps.add(responses.GET, f"{API}/plans/fibre-5050", status=404, json={"code": 1002, "message": "Plan not found"})

    result = entity_sync(entity_type="service", pk=service.pk, client=client_factory())

    assert result.status == "retrying"
    assert "no plan with code 'fibre-5050' for package 'Fibre 50/50'" in result.error
    assert api_calls(rsps, "POST") == []


def test_failures_back_off_exponentially_then_fail_for_a_human(client_factory, token, rsps, zoho_settings):
    customer = CustomerFactory()
    rsps.add(responses.GET, f"{API}/customers", status=400, json={"code": 4, "message": "Invalid value"})
    Customer.objects.filter(pk=customer.pk).update(zoho_attempts=8)

    r9 = entity_sync(entity_type="customer", pk=customer.pk, client=client_factory())
    customer.refresh_from_db()
    assert (r9.status, customer.zoho_attempts) == ("retrying", 9)
    assert timedelta(minutes=239) < customer.zoho_next_attempt_at - timezone.now() <= timedelta(minutes=240)

    r10 = entity_sync(entity_type="customer", pk=customer.pk, force=True, client=client_factory())
    customer.refresh_from_db()
    assert (r10.status, customer.zoho_sync_status, customer.zoho_next_attempt_at) == ("failed", "failed", None)
    assert [backoff_delay(n).total_seconds() / 60 for n in (1, 2, 3, 4, 9, 10)] == [1, 2, 4, 8, 240, 240]


def test_not_due_or_synced_rows_are_not_claimed(client_factory, token, rsps):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="retrying",
                                                   zoho_next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert entity_sync(entity_type="customer", pk=customer.pk, client=client_factory()).status == "skipped"
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="synced", zoho_next_attempt_at=None)
    assert entity_sync(entity_type="customer", pk=customer.pk, client=client_factory()).status == "skipped"
    assert rsps.calls == [] or api_calls(rsps) == []
    assert SyncLog.objects.count() == 0


def test_debounce_many_changes_queue_one_task(zoho_settings, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            enqueue_sync(entity=customer)
    assert queued == [("zoho_sync.tasks.sync_entity", "customer", customer.pk)]


def test_change_during_sync_puts_the_row_back_to_pending(client_factory, token, rsps, monkeypatch):
    customer = CustomerFactory()
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})

    def create_and_change(request):
        enqueue_sync(entity=Customer.objects.get(pk=customer.pk))  # an edit lands mid-sync
        return 201, {}, json.dumps(ok("customer", {"customer_id": "C5"}))

    rsps.add_callback(responses.POST, f"{API}/customers", callback=create_and_change)

    entity_sync(entity_type="customer", pk=customer.pk, client=client_factory())

    customer.refresh_from_db()
    assert (customer.zoho_id, customer.zoho_sync_status) == ("C5", "pending")
    assert queued == [("zoho_sync.tasks.sync_entity", "customer", customer.pk)]


def test_sync_disabled_calls_nothing_and_leaves_rows_pending(zoho_settings, django_capture_on_commit_callbacks,
                                                             monkeypatch, rsps):
    from zoho_sync import tasks

    zoho_settings.ENABLE_ZOHO_SYNC = False
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_sync(entity=customer)
    assert tasks.sync_entity("customer", customer.pk) == "disabled"
    assert tasks.retry_due() is None
    customer.refresh_from_db()
    assert (customer.zoho_sync_status, queued, len(rsps.calls)) == ("pending", [], 0)
