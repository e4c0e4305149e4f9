from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing.models import Invoice, LedgerEntry
from billing.services.ledger import ledger_post
from payments.services.payments import payment_complete
from tests.billing.factories import service as make_service

pytestmark = pytest.mark.django_db


def test_apply_credit_heals_an_invoice_left_open_beside_credit(capsys):
    call_command("apply_credit")
    assert "Nothing to do" in capsys.readouterr().out  # empty state
    svc = make_service()
    payment_complete(reference="EARLY", amount=Decimal("100.00"), customer=svc.customer, method="eft",
                     provider="manual")
    legacy = Invoice.objects.create(number="INV-2025-00009", customer=svc.customer, invoice_type="adjustment",
                                    issue_date=date(2025, 12, 1), due_date=date(2025, 12, 8), prices_include_vat=True,
                                    subtotal=Decimal("86.96"), vat_amount=Decimal("13.04"), total=Decimal("100.00"))
    ledger_post(customer=svc.customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=Decimal("100.00"),
                reference=f"invoice:{legacy.pk}", description="legacy", invoice=legacy)
    call_command("apply_credit")
    assert "Applied R 100.00 of credit for 1 of 1 customer(s)." in capsys.readouterr().out
    legacy.refresh_from_db()
    assert legacy.status == Invoice.Status.PAID
