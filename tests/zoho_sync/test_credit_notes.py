"""Credit notes are mirrored by the invoice sync as ZOHO credit notes applied to the ZOHO invoice.

Payload shapes follow ZOHO Billing's official OpenAPI `specs/credit-notes.yml` and CONTRACTS 1.8a:
POST /creditnotes (`credit_note` in the answer, `ignore_auto_number_generation` in the body), POST
/creditnotes/{id}/invoices. There is no credit-note list in the spec: after an unknown outcome the
customer's CREDIT transactions are read instead."""

import json
from datetime import date
from decimal import Decimal

import pytest
import responses

from billing.models import CreditNote, Customer, CustomerService, Invoice
from billing.services.invoice_run import invoice_run
from billing.services.invoices import LineSpec, credit_note_create, invoice_create, invoice_void
from tests.factories import CustomerFactory, CustomerServiceFactory
from tests.zoho_sync.conftest import API
from zoho_sync.models import SyncLog, SyncStatus
from zoho_sync.services.sync import entity_sync
from zoho_sync.tasks import retry_due

pytestmark = pytest.mark.django_db


def ok(key, obj):
    return {"code": 0, "message": "success", key: obj}


def calls(rsps, method, path):
    return [c for c in rsps.calls if c.request.method == method and c.request.url.split("?")[0] == API + path]


@pytest.fixture
def synced_invoice(zoho_settings):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C9", zoho_sync_status=SyncStatus.SYNCED)
    line = LineSpec(description="Router", amount=Decimal("999.00"), quantity=Decimal("1"), unit_price=Decimal("999.00"))
    invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.EQUIPMENT, lines=[line])
    Invoice.objects.filter(pk=invoice.pk).update(zoho_id="I7", zoho_sync_status=SyncStatus.SYNCED)
    return Invoice.objects.get(pk=invoice.pk)


def mock_invoice(rsps, invoice_id="I7"):
    zi = {"invoice_id": invoice_id, "status": "sent", "total": 999.0, "tax_total": 130.3}
    rsps.add(responses.GET, f"{API}/invoices/{invoice_id}", json=ok("invoice", zi))
    rsps.add(responses.PUT, f"{API}/invoices/{invoice_id}", json=ok("invoice", zi))


def test_credit_note_is_created_in_zoho_and_applied_to_the_invoice(synced_invoice, client_factory, token, rsps):
    note = credit_note_create(invoice=synced_invoice, amount=Decimal("100.00"), reason="router returned")
    assert Invoice.objects.get(pk=synced_invoice.pk).zoho_sync_status == "pending"
    mock_invoice(rsps)
    rsps.add(responses.POST, f"{API}/creditnotes", status=201, json=ok("credit_note", {
        "creditnote_id": "ZCN1", "creditnote_number": note.number, "total": 100.0, "balance": 100.0}))
    rsps.add(responses.POST, f"{API}/creditnotes/ZCN1/invoices",
             json={"code": 0, "message": "Credits have been applied to the invoice(s)."})

    result = entity_sync(entity_type="invoice", pk=synced_invoice.pk, client=client_factory())

    assert (result.status, result.zoho_id) == ("synced", "I7")
    (create,) = calls(rsps, "POST", "/creditnotes")
    # Issue 17 finding 6 / CONTRACTS 1.8a: the flag is a body field, items carry no name, quantity is an integer.
    assert "ignore_auto_number_generation" not in create.request.url
    body = json.loads(create.request.body)
    assert body == {
        "customer_id": "C9", "date": note.issue_date.isoformat(), "creditnote_number": note.number,
        "ignore_auto_number_generation": True, "reference_number": synced_invoice.number,
        "creditnote_items": [{"code": "circletel-credit", "description": f"Credit {note.number}: router returned",
                              "quantity": 1, "price": "86.96", "tax_id": "9000000VAT"}],
        "notes": f"Credit note {note.number} on invoice {synced_invoice.number}: router returned",
        "custom_fields": [{"label": "CircleTel Credit Note", "value": note.number}],
    }
    (apply,) = calls(rsps, "POST", "/creditnotes/ZCN1/invoices")
    assert json.loads(apply.request.body) == {"invoices": [{"invoice_id": "I7", "amount_applied": "100.00"}]}
    assert CreditNote.objects.get(pk=note.pk).zoho_id == "ZCN1"
    log = SyncLog.objects.get(entity_type="invoice", entity_id=synced_invoice.pk)
    assert log.response_summary["credit_notes"] == [
        {"number": note.number, "creditnote_id": "ZCN1", "action": "create", "applied": "100.00"}]
    # No undocumented credit-note list is ever called.
    assert calls(rsps, "GET", "/creditnotes") == []

    # Synced again: the credit note has its id and its application is recorded: nothing is sent.
    rsps.calls.reset()
    again = entity_sync(entity_type="invoice", pk=synced_invoice.pk, force=True, client=client_factory())
    assert again.status == "synced"
    assert calls(rsps, "POST", "/creditnotes") == [] and calls(rsps, "POST", "/creditnotes/ZCN1/invoices") == []


def test_crash_after_zoho_created_the_credit_note_does_not_duplicate_or_reapply(synced_invoice, client_factory,
                                                                                token, rsps):
    """The create timed out after ZOHO saved it (intent left): the next sync finds it through the
    customer's CREDIT transactions (documented) and ZOHO's own applied list, and posts nothing."""
    from zoho_sync.models import OutboundIntent

    note = credit_note_create(invoice=synced_invoice, amount=Decimal("100.00"), reason="router returned")
    OutboundIntent.objects.create(entity_type="credit_note", entity_id=note.pk, reference=note.number)
    mock_invoice(rsps)
    rsps.add(responses.GET, f"{API}/transactions", json={"code": 0, "message": "success", "transactions": [
        {"transaction_id": "ZCN0", "type": "creditnote", "amount": 50.0},
        {"transaction_id": "ZCN1", "type": "creditnote", "amount": 100.0}]})
    rsps.add(responses.GET, f"{API}/creditnotes/ZCN0", json=ok("credit_note", {
        "creditnote_id": "ZCN0", "creditnote_number": "CN-2026-99999", "total": 50.0}))
    rsps.add(responses.GET, f"{API}/creditnotes/ZCN1", json=ok("credit_note", {
        "creditnote_id": "ZCN1", "creditnote_number": note.number, "total": 100.0,
        "invoices": [{"invoice_id": "I7", "amount_applied": 100.0}]}))

    result = entity_sync(entity_type="invoice", pk=synced_invoice.pk, client=client_factory())

    assert result.status == "synced"
    assert calls(rsps, "POST", "/creditnotes") == [] and calls(rsps, "POST", "/creditnotes/ZCN1/invoices") == []
    assert CreditNote.objects.get(pk=note.pk).zoho_id == "ZCN1"
    assert not OutboundIntent.objects.exists()


def test_credit_note_with_id_but_no_record_of_its_application_is_applied_once(synced_invoice, client_factory,
                                                                             token, rsps):
    note = credit_note_create(invoice=synced_invoice, amount=Decimal("100.00"), reason="router returned")
    CreditNote.objects.filter(pk=note.pk).update(zoho_id="ZCN1")  # created, then the apply was lost
    mock_invoice(rsps)
    rsps.add(responses.GET, f"{API}/creditnotes/ZCN1", json=ok("credit_note", {"creditnote_id": "ZCN1", "total": 100.0,
                                                                              "invoices": []}))
    rsps.add(responses.POST, f"{API}/creditnotes/ZCN1/invoices", json={"code": 0, "message": "applied"})

    assert entity_sync(entity_type="invoice", pk=synced_invoice.pk, client=client_factory()).status == "synced"
    assert len(calls(rsps, "POST", "/creditnotes/ZCN1/invoices")) == 1
    assert calls(rsps, "POST", "/creditnotes") == []
    rsps.calls.reset()
    assert entity_sync(entity_type="invoice", pk=synced_invoice.pk, force=True, client=client_factory()).ok
    assert calls(rsps, "POST", "/creditnotes/ZCN1/invoices") == []


def test_credit_note_total_mismatch_fails_and_keeps_the_id(synced_invoice, client_factory, token, rsps):
    note = credit_note_create(invoice=synced_invoice, amount=Decimal("100.00"), reason="router returned")
    mock_invoice(rsps)
    rsps.add(responses.POST, f"{API}/creditnotes", status=201, json=ok("credit_note", {"creditnote_id": "ZCN3",
                                                                                        "total": 115.0}))

    result = entity_sync(entity_type="invoice", pk=synced_invoice.pk, client=client_factory())

    assert result.status == "retrying" and "TotalsMismatchError" in result.error and "115.00" in result.error
    # ZOHO's id is kept the moment the POST answered (CONTRACTS 1.8a), so a retry never creates a second one.
    assert CreditNote.objects.get(pk=note.pk).zoho_id == "ZCN3"
    assert calls(rsps, "POST", "/creditnotes/ZCN3/invoices") == []


def test_credit_note_wholly_beyond_what_is_unpaid_is_not_applied(synced_invoice, client_factory, token, rsps):
    Invoice.objects.filter(pk=synced_invoice.pk).update(amount_paid=Decimal("999.00"), status=Invoice.Status.PAID)
    invoice = Invoice.objects.get(pk=synced_invoice.pk)
    note = credit_note_create(invoice=invoice, amount=Decimal("50.00"), reason="goodwill")
    assert note.applied_amount == Decimal("0.00")
    rsps.add(responses.GET, f"{API}/invoices/I7", json=ok("invoice", {"invoice_id": "I7", "status": "paid",
                                                                      "total": 999.0, "tax_total": 130.3}))
    rsps.add(responses.POST, f"{API}/creditnotes", status=201, json=ok("credit_note", {"creditnote_id": "ZCN4",
                                                                                        "total": 50.0}))
    rsps.add(responses.GET, f"{API}/creditnotes/ZCN4", json=ok("credit_note", {"creditnote_id": "ZCN4", "invoices": []}))

    assert entity_sync(entity_type="invoice", pk=invoice.pk, client=client_factory()).status == "synced"
    assert calls(rsps, "PUT", "/invoices/I7") == []  # a paid invoice is never edited
    assert calls(rsps, "POST", "/creditnotes/ZCN4/invoices") == []
    assert CreditNote.objects.get(pk=note.pk).zoho_id == "ZCN4"


def test_void_invoice_does_not_mirror_its_credit_notes(synced_invoice, client_factory, token, rsps):
    note = credit_note_create(invoice=synced_invoice, amount=Decimal("100.00"), reason="partial refund")
    invoice_void(invoice=Invoice.objects.get(pk=synced_invoice.pk), reason="raised in error")
    rsps.add(responses.GET, f"{API}/invoices/I7", json=ok("invoice", {"invoice_id": "I7", "status": "sent"}))
    rsps.add(responses.POST, f"{API}/invoices/I7/void", json={"code": 0, "message": "voided"})

    result = entity_sync(entity_type="invoice", pk=synced_invoice.pk, client=client_factory())

    assert result.status == "synced"
    assert [c.request.method + " " + c.request.url.split("?")[0].replace(API, "")
            for c in rsps.calls if c.request.url.startswith(API)] == ["GET /invoices/I7", "POST /invoices/I7/void"]
    assert CreditNote.objects.get(pk=note.pk).zoho_id == ""


def test_retry_sweep_links_recurring_invoices_from_the_invoice_run(client_factory, token, rsps, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    """The bulk run never calls enqueue_sync: its invoices keep the default pending status with no
    next attempt, and `retry_due` picks them up and links them to ZOHO's invoice for the period."""
    queued = []
    monkeypatch.setattr("zoho_sync.services.outbox.enqueue_task", lambda *a: queued.append(a))
    service = CustomerServiceFactory(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 10, 1),
                                     next_billing_date=date(2026, 12, 1))
    Customer.objects.filter(pk=service.customer_id).update(zoho_id="C1", zoho_sync_status=SyncStatus.SYNCED)
    CustomerService.objects.filter(pk=service.pk).update(zoho_id="S1", zoho_sync_status=SyncStatus.SYNCED)
    with django_capture_on_commit_callbacks(execute=False):
        result = invoice_run(run_date=date(2026, 11, 25), followups=False)
    assert result.created == 1
    invoice = Invoice.objects.get(service=service, invoice_type=Invoice.InvoiceType.RECURRING)
    assert (invoice.zoho_sync_status, invoice.zoho_next_attempt_at, queued) == ("pending", None, [])
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "Z-DEC", "date": "2026-12-01", "total": float(invoice.total),  # not money: ZOHO's JSON number
         "tax_total": float(invoice.vat_amount)}]})  # not money: ZOHO's JSON number
    monkeypatch.setattr("zoho_sync.services.sync.get_client", client_factory)

    run_id = retry_due(triggered_by="test")

    invoice.refresh_from_db()
    assert (invoice.zoho_sync_status, invoice.zoho_id) == ("synced", "Z-DEC")
    assert run_id is not None
    log = SyncLog.objects.get(entity_type="invoice", entity_id=invoice.pk)
    assert (log.action, log.status) == ("link", "success")
