"""Admin: the invoice page lists its payments with their ZOHO sync state; the admin index shows the
payment-sync widget beside the receivables reports."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import LineSpec, invoice_create
from payments.models import PaymentAllocation, PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.zoho_sync.factories import PaymentFactory
from zoho_sync.models import SyncLog, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_invoice_page_shows_payments_with_sync_state(staff):
    customer = CustomerFactory()
    line = LineSpec(description="Install", amount=Decimal("999.00"), quantity=Decimal("1"), unit_price=Decimal("999.00"))
    invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.INSTALLATION, lines=[line])
    ok = PaymentFactory(customer=customer, invoice=invoice, amount=Decimal("500.00"), reference="PAY-ADM-1")
    bad = PaymentFactory(customer=customer, invoice=invoice, amount=Decimal("499.00"), reference="PAY-ADM-2")
    PaymentTransaction.objects.filter(pk=ok.pk).update(zoho_sync_status=SyncStatus.SYNCED, zoho_id="ZP-777")
    PaymentTransaction.objects.filter(pk=bad.pk).update(zoho_sync_status=SyncStatus.FAILED,
                                                        zoho_last_error="ZohoValidationError: invoice not open")
    PaymentAllocation.objects.create(payment=ok, invoice=invoice, amount=Decimal("500.00"))
    PaymentAllocation.objects.create(payment=bad, invoice=invoice, amount=Decimal("499.00"))

    page = staff.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()

    assert "Payments (with ZOHO sync state)" in page
    assert "ZP-777" in page and "Synced" in page
    assert "Failed" in page and "ZohoValidationError: invoice not open" in page
    assert 'name="payment_allocations-0-amount"' not in page  # read-only


def test_admin_index_shows_payment_sync_widget_and_keeps_receivables(staff, zoho_settings):
    customer = CustomerFactory()
    done = PaymentFactory(customer=customer)
    PaymentTransaction.objects.filter(pk=done.pk).update(zoho_sync_status=SyncStatus.SYNCED, zoho_id="ZP1",
                                                         zoho_last_synced_at=timezone.now())
    PaymentFactory(customer=customer)  # pending
    failed = PaymentFactory(customer=customer)
    PaymentTransaction.objects.filter(pk=failed.pk).update(zoho_sync_status=SyncStatus.FAILED)
    SyncLog.objects.create(entity_type="payment", entity_id=done.pk, action="create", status="success")
    SyncLog.objects.create(entity_type="payment", entity_id=failed.pk, action="create", status="failed", error="x")
    SyncLog.objects.create(entity_type="payment", entity_id=failed.pk, action="create", status="failed", error="x")

    resp = staff.get("/admin/")
    page = resp.content.decode()
    widget = page[page.index('id="payment-sync-widget"'):]
    widget = widget[:widget.index("</div>\n</section>")]

    assert resp.context["sync"] == {"synced_today": 1, "pending": 1, "failed": 1, "total": 3, "failed_today": 1,
                                    "success_rate_24h": 33.3, "dashboard_url": "/admin/zoho_sync/syncdashboard/",
                                    "enabled": True}
    assert 'href="/admin/zoho_sync/syncdashboard/"' in widget
    assert "Success rate (24 h): 33.3%" in widget
    assert "Accounts receivable aging" in page and "Days sales outstanding" in page
