"""Voids reach ZOHO for every invoice type.

A monthly invoice is ZOHO's own (made from the subscription; we link to it), so voiding ours voids
ZOHO's for that period, linking it first if the sweep had not. A replacement issued for a voided
monthly invoice is mirrored as an invoice of its own, since ZOHO's for that period is now void.
A void that is already void in ZOHO is not sent again. Payload shapes: CONTRACTS.md (ZOHO Billing
`GET /invoices`, `GET /invoices/{id}`, `POST /invoices`, `POST /invoices/{id}/void`)."""

import importlib
import json
from datetime import date
from decimal import Decimal

import pytest
import responses
from django.apps import apps

from billing.models import Customer, CustomerService, Invoice
from billing.services.invoices import InvoiceError, LineSpec, invoice_create, invoice_reissue, invoice_void
from tests.factories import CustomerServiceFactory
from tests.zoho_sync.conftest import API
from zoho_sync.models import SyncLog, SyncStatus
from zoho_sync.services.health import integrity_issues
from zoho_sync.services.sync import entity_sync

pytestmark = pytest.mark.django_db


def ok(key, obj):
    return {"code": 0, "message": "success", key: obj}


def api_calls(rsps):
    return [f"{c.request.method} {c.request.url.split('?')[0].replace(API, '')}"
            for c in rsps.calls if c.request.url.startswith(API)]


@pytest.fixture
def queued(zoho_settings, monkeypatch):
    calls = []
    monkeypatch.setattr("zoho_sync.services.outbox.enqueue_task", lambda entity_type, pk: calls.append((entity_type, pk)))
    return calls


@pytest.fixture
def monthly(zoho_settings):
    """A November monthly invoice for a service whose customer and subscription are in ZOHO."""
    service = CustomerServiceFactory(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 10, 1))
    Customer.objects.filter(pk=service.customer_id).update(zoho_id="C1", zoho_sync_status=SyncStatus.SYNCED)
    CustomerService.objects.filter(pk=service.pk).update(zoho_id="S1", zoho_sync_status=SyncStatus.SYNCED)
    line = LineSpec(description="Fibre 50/50 November", amount=Decimal("899.00"), quantity=Decimal("1"),
                    unit_price=Decimal("899.00"))
    return invoice_create(customer=service.customer, service=service, lines=[line],
                          invoice_type=Invoice.InvoiceType.RECURRING, period_start=date(2026, 11, 1),
                          period_end=date(2026, 12, 1), issue_date=date(2026, 11, 1))


def zoho_november(rsps, status="sent"):
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "Z-NOV", "date": "2026-11-01", "status": status, "total": 899.0, "tax_total": 117.26}]})
    rsps.add(responses.GET, f"{API}/invoices/Z-NOV", json=ok("invoice", {"invoice_id": "Z-NOV", "status": status}))
    rsps.add(responses.POST, f"{API}/invoices/Z-NOV/void", json={"code": 0, "message": "Invoice has been voided."})


def test_voiding_a_linked_monthly_invoice_queues_it_and_voids_zohos(monthly, queued, client_factory, token, rsps,
                                                                      django_capture_on_commit_callbacks):
    Invoice.objects.filter(pk=monthly.pk).update(zoho_id="Z-NOV", zoho_sync_status=SyncStatus.SYNCED)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=monthly, reason="billed after the cancellation date")
    assert queued == [("invoice", monthly.pk)]
    assert Invoice.objects.get(pk=monthly.pk).zoho_sync_status == "pending"
    zoho_november(rsps)

    result = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())

    assert (result.status, result.zoho_id) == ("synced", "Z-NOV")
    assert api_calls(rsps) == ["GET /invoices/Z-NOV", "POST /invoices/Z-NOV/void"]
    assert SyncLog.objects.get(entity_type="invoice", entity_id=monthly.pk).response_summary["voided"] is True


def test_a_monthly_invoice_voided_before_it_was_linked_waits_for_zoho_then_links_and_voids(
        monthly, client_factory, token, rsps):
    invoice_void(invoice=monthly, reason="service never delivered")
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": []})

    first = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())
    assert first.status == "waiting" and "has not generated" in first.error
    assert api_calls(rsps) == ["GET /invoices"]

    rsps.reset()
    zoho_november(rsps)
    second = entity_sync(entity_type="invoice", pk=monthly.pk, force=True, client=client_factory())

    assert (second.status, second.zoho_id) == ("synced", "Z-NOV")
    assert api_calls(rsps) == ["GET /invoices", "GET /invoices/Z-NOV", "POST /invoices/Z-NOV/void"]
    assert Invoice.objects.get(pk=monthly.pk).zoho_id == "Z-NOV"


def test_a_void_already_void_in_zoho_is_not_sent_twice(monthly, client_factory, token, rsps):
    """A task run twice, or a retry after ZOHO's answer was lost, must not fail on a second void."""
    Invoice.objects.filter(pk=monthly.pk).update(zoho_id="Z-NOV", zoho_sync_status=SyncStatus.SYNCED)
    invoice_void(invoice=Invoice.objects.get(pk=monthly.pk), reason="duplicate")
    zoho_november(rsps, status="void")

    result = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())

    assert result.status == "synced"
    assert api_calls(rsps) == ["GET /invoices/Z-NOV"]
    log = SyncLog.objects.get(entity_type="invoice", entity_id=monthly.pk)
    assert (log.response_summary["voided"], log.error) == (False, "already void in ZOHO")


def test_a_reissued_monthly_invoice_is_created_in_zoho_and_the_original_voided(
        monthly, queued, client_factory, token, rsps, django_capture_on_commit_callbacks):
    Invoice.objects.filter(pk=monthly.pk).update(zoho_id="Z-NOV", zoho_sync_status=SyncStatus.SYNCED)
    fixed = LineSpec(description="Fibre 50/50 November (price corrected)", amount=Decimal("799.00"),
                     quantity=Decimal("1"), unit_price=Decimal("799.00"))
    with django_capture_on_commit_callbacks(execute=True):
        replacement = invoice_reissue(invoice=Invoice.objects.get(pk=monthly.pk), reason="wrong price",
                                      lines=[fixed])

    assert replacement.replaces_id == monthly.pk and replacement.invoice_type == "recurring"
    assert not replacement.is_subscription_invoice and Invoice.objects.get(pk=monthly.pk).is_subscription_invoice
    assert sorted(queued) == sorted([("invoice", monthly.pk), ("invoice", replacement.pk)])

    zoho_november(rsps)
    rsps.add(responses.POST, f"{API}/invoices", status=201, json=ok("invoice", {
        "invoice_id": "Z-NEW", "total": 799.0, "tax_total": 104.22}))
    original = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())
    created = entity_sync(entity_type="invoice", pk=replacement.pk, client=client_factory())

    assert (original.status, original.zoho_id) == ("synced", "Z-NOV")
    assert (created.status, created.action, created.zoho_id) == ("synced", "create", "Z-NEW")
    body = json.loads(next(c.request.body for c in rsps.calls
                           if c.request.method == "POST" and c.request.url.split("?")[0] == f"{API}/invoices"))
    assert (body["reference_number"], body["customer_id"]) == (replacement.number, "C1")
    assert body["notes"].startswith(f"Replaces {monthly.number}: wrong price")
    assert "POST /invoices/Z-NOV/void" in api_calls(rsps)


def test_only_a_void_invoice_of_the_same_customer_can_be_replaced(monthly):
    line = LineSpec(description="x", amount=Decimal("10.00"), quantity=Decimal("1"), unit_price=Decimal("10.00"))
    with pytest.raises(InvoiceError, match="Only a void invoice"):
        invoice_create(customer=monthly.customer, invoice_type="adjustment", lines=[line], replaces=monthly)
    assert Invoice.objects.count() == 1


def test_health_counts_a_synced_replacement_without_a_zoho_id(monthly):
    invoice_void(invoice=monthly, reason="wrong price")
    line = LineSpec(description="Fibre", amount=Decimal("799.00"), quantity=Decimal("1"), unit_price=Decimal("799.00"))
    replacement = invoice_create(customer=monthly.customer, service=monthly.service, lines=[line],
                                 invoice_type="recurring", period_start=date(2026, 11, 1), period_end=date(2026, 12, 1),
                                 issue_date=date(2026, 11, 1), replaces=monthly)
    Invoice.objects.filter(pk=monthly.pk).update(zoho_sync_status=SyncStatus.SYNCED)
    assert "invoice" not in integrity_issues()  # a monthly one is ZOHO's own: no id is expected while unlinked

    Invoice.objects.filter(pk=replacement.pk).update(zoho_sync_status=SyncStatus.SYNCED, zoho_id="")

    assert integrity_issues()["invoice"]["synced_without_zoho_id"] == 1


def test_migration_links_invoices_reissued_before_the_field_existed(monthly):
    invoice_void(invoice=monthly, reason="wrong price")
    line = LineSpec(description="Fibre", amount=Decimal("799.00"), quantity=Decimal("1"), unit_price=Decimal("799.00"))
    replacement = invoice_create(customer=monthly.customer, service=monthly.service, lines=[line],
                                 invoice_type="recurring", period_start=date(2026, 11, 1), period_end=date(2026, 12, 1),
                                 issue_date=date(2026, 11, 1), notes=f"Replaces {monthly.number}: wrong price")
    assert replacement.replaces_id is None
    migration = importlib.import_module("billing.migrations.0005_invoice_replaces")

    migration.link_reissued(apps, None)

    assert Invoice.objects.get(pk=replacement.pk).replaces_id == monthly.pk


def test_a_period_voided_by_a_cancellation_is_not_waited_for_when_zoho_never_made_it(
        monthly, client_factory, token, rsps):
    """Cancelling voids the later periods; ZOHO's cancelled subscription will not bill them, so the
    row does not retry towards a false 'failed' alert."""
    invoice_void(invoice=monthly, reason="service cancelled")
    CustomerService.objects.filter(pk=monthly.service_id).update(status=CustomerService.Status.CANCELLED)
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": []})

    result = entity_sync(entity_type="invoice", pk=monthly.pk, client=client_factory())

    assert (result.status, result.zoho_id) == ("synced", "")
    assert api_calls(rsps) == ["GET /invoices"]
    log = SyncLog.objects.get(entity_type="invoice", entity_id=monthly.pk)
    assert (log.status, log.error) == ("skipped", "void before ZOHO made it; the subscription is cancelled or paused")
