import json
from decimal import Decimal

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from responses import matchers

from billing.models import Customer
from notifications.models import NotificationLog
from tests.factories import CustomerFactory
from tests.zoho_sync.conftest import API
from tests.zoho_sync.factories import InvoiceFactory, PaymentFactory
from zoho_sync.models import SyncLog

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=StringIO()) if args[0] in (
        "zoho_backfill", "zoho_retry_failed") else call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_backfill_dry_run_counts_and_calls_nothing(zoho_settings, rsps):
    CustomerFactory.create_batch(3)
    out = run("zoho_backfill", "--entity", "customers", "--dry-run")
    assert "customer: 3 would be synced" in out
    assert len(rsps.calls) == 0 and SyncLog.objects.count() == 0


def test_backfill_syncs_in_order_and_resumes(zoho_settings, token, rsps):
    customers = CustomerFactory.create_batch(3)
    Customer.objects.filter(pk=customers[0].pk).update(zoho_id="C0", zoho_sync_status="synced")
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201,
             json={"code": 0, "message": "The customer has been created", "customer": {"customer_id": "CX"}})

    out = run("zoho_backfill", "--entity", "customers", "--batch-size", "1")
    assert "customer: synced 2, skipped 0, retrying 0, failed 0" in out
    assert len([c for c in rsps.calls if c.request.method == "POST" and c.request.url.startswith(API)]) == 2

    out = run("zoho_backfill", "--entity", "customers")  # resume: nothing left
    assert "customer: synced 0" in out


def test_backfill_exits_non_zero_when_rows_fail(zoho_settings, token, rsps):
    CustomerFactory()
    rsps.add(responses.GET, f"{API}/customers", status=400, json={"code": 4, "message": "Invalid"})
    with pytest.raises(CommandError, match="1 rows did not sync"):
        run("zoho_backfill", "--entity", "customers")


def test_backfill_refuses_when_sync_disabled(zoho_settings, rsps):
    zoho_settings.ENABLE_ZOHO_SYNC = False
    CustomerFactory()
    with pytest.raises(CommandError, match="ENABLE_ZOHO_SYNC is off"):
        run("zoho_backfill")
    assert len(rsps.calls) == 0


def test_backfill_rejects_unknown_entity(zoho_settings):
    with pytest.raises(CommandError, match="unknown entity"):
        run("zoho_backfill", "--entity", "orders")


def test_sync_one_prints_result_and_fails_on_missing_row(zoho_settings, token, rsps):
    customer = CustomerFactory()
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201,
             json={"code": 0, "message": "created", "customer": {"customer_id": "C77"}})
    out = run("zoho_sync_one", "customer", str(customer.pk))
    assert f"customer #{customer.pk}: synced create zoho_id=C77" in out
    with pytest.raises(CommandError, match="does not exist"):
        run("zoho_sync_one", "customer", "999999")


def test_sync_one_find_lists_unsynced(zoho_settings):
    c = CustomerFactory()
    out = run("zoho_sync_one", "customer", "--find")
    assert f"customer #{c.pk}: pending" in out


def test_retry_failed_exit_codes(zoho_settings, token, rsps):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed", zoho_attempts=10)
    rsps.add(responses.GET, f"{API}/customers", status=500, body="down")
    with pytest.raises(CommandError, match="1 still not synced"):
        run("zoho_retry_failed", "--entity", "customers")
    rsps.replace(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
    rsps.add(responses.POST, f"{API}/customers", status=201, json={"code": 0, "message": "c",
                                                                   "customer": {"customer_id": "C8"}})
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed")
    assert "customer: 1 of 1 synced" in run("zoho_retry_failed", "--entity", "customers")


def test_health_check_exit_codes(zoho_settings, token, rsps):
    rsps.add(responses.GET, f"{API}/organizations", json={"code": 0, "message": "success",
                                                          "organizations": [{"organization_id": "700000001"}]})
    out = run("zoho_health_check", "--format", "json", "--detailed")
    report = json.loads(out)
    assert report["healthy"] is True and report["api"]["ok"] is True and report["api"]["organizations"] == 1

    c = CustomerFactory()
    Customer.objects.filter(pk=c.pk).update(zoho_sync_status="synced", zoho_id="")
    with pytest.raises(CommandError, match="data integrity: customer"):
        run("zoho_health_check", "--skip-api")


def test_reconcile_reports_drift_with_non_zero_exit(zoho_settings, token, rsps):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_id="C1", zoho_sync_status="synced")
    InvoiceFactory(customer=customer, total=Decimal("999.00"), subtotal=Decimal("868.70"), vat_amount=Decimal("130.30"),
                   amount_paid=Decimal("999.00"), status="paid")
    PaymentFactory(customer=customer, amount=Decimal("999.00"))
    rsps.add(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "I1", "status": "paid", "total": 999.0, "tax_total": 130.3, "balance": 0}]})
    def transactions(kind, items):
        rsps.add(responses.GET, f"{API}/transactions", json={"code": 0, "message": "success", "transactions": items},
                 match=[matchers.query_param_matcher({"customer_id": "C1", "filter_by": f"TransactionType.{kind}",
                                                      "page": "1", "per_page": "200"})])

    transactions("PAYMENT", [{"transaction_id": "P1", "type": "payment", "amount": 999.0}])
    transactions("REFUND", [])

    out = run("zoho_reconcile", "--customer", str(customer.pk))
    assert "1 customers checked, 0 with drift" in out
    # Documented reads only (CONTRACTS 1.8a): no GET /payments list.
    assert not [c for c in rsps.calls if c.request.url.split("?")[0] == f"{API}/payments"]

    rsps.replace(responses.GET, f"{API}/invoices", json={"code": 0, "message": "success", "invoices": [
        {"invoice_id": "I1", "status": "paid", "total": 999.0, "tax_total": 130.3, "balance": 0.02}]})
    with pytest.raises(CommandError, match="1 customers differ"):
        run("zoho_reconcile", "--customer", str(customer.pk), "--format", "json")


def test_finding8_reconcile_without_credentials_is_a_clean_error(settings):
    """Issue 17 finding 8: `zoho_reconcile` without credentials printed a traceback."""
    settings.ZOHO = {**settings.ZOHO, "CLIENT_ID": "", "REFRESH_TOKEN": ""}
    with pytest.raises(CommandError, match="ZOHO is not configured: set ZOHO_CLIENT_ID"):
        run("zoho_reconcile")


def test_alert_failed_dry_run_and_send(zoho_settings):
    customer = CustomerFactory(account_number="CT-2026-00077")
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed", zoho_last_error="ZohoValidationError: x")

    out = run("zoho_alert_failed", "--dry-run")
    assert "CT-2026-00077" in out and "dry run" in out
    assert NotificationLog.objects.count() == 0

    out = run("zoho_alert_failed", "--since", "24")
    logs = list(NotificationLog.objects.values_list("event", "channel"))
    assert logs and all(e == "zoho_sync_failed_list" for e, _ in logs)
    assert "1 failed" in out
