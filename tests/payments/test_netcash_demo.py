"""Issue 15 item 5: `seed_demo` shows the whole debit-order cycle against the NIWS stand-in."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from billing.services.ledger import ledger_post
from billing.services.ledger_check import ledger_differences
from payments.demo import seed_demo
from payments.models import DebitOrderItem, DebitOrderRun, Mandate, NetcashStatementLine, ReconciliationReport
from tests.factories import CustomerServiceFactory
from tests.payments.factories import make_invoice


@pytest.mark.django_db(transaction=True)
def test_seed_demo_runs_mandate_collection_and_unpaid_return_once(settings):
    for i in range(5):
        service = CustomerServiceFactory(provider_order_id=f"DEMO-{i:05d}")
        invoice = make_invoice(service.customer, "499.00", due_date=timezone.localdate() - timedelta(days=1))
        ledger_post(customer=service.customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=Decimal("499.00"),
                    reference=f"invoice:{invoice.pk}", description="x", invoice=invoice)
    before = settings.NETCASH
    out = io.StringIO()
    seed_demo(out)
    text = out.getvalue()
    assert "netcash: 2 mandates signed" in text and "returned, settled from the statement" in text, text
    assert settings.NETCASH == before  # the stand-in's settings were put back
    assert Mandate.objects.filter(status="active").count() == 3  # the first customer's, plus the cycle's two
    run = DebitOrderRun.objects.get()
    assert run.status == "authorised" and run.load_status == "SUCCESSFUL"
    assert sorted(DebitOrderItem.objects.values_list("status", flat=True)) == ["returned", "settled"]
    assert set(NetcashStatementLine.objects.values_list("outcome", flat=True)) >= {"settled", "returned"}
    assert ReconciliationReport.objects.exists()
    assert ledger_differences() == []
    seed_demo(out)  # idempotent
    assert DebitOrderRun.objects.count() == 1 and "already shown" in out.getvalue()
