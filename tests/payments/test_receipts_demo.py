"""seed_demo: receipts with PDFs for the demo payments, a full and a partial refund, and a second run changes nothing."""

import io
from decimal import Decimal

import pytest
from django.core import mail
from django.test import TestCase

from billing.models import LedgerEntry
from billing.services.ledger import ledger_post
from billing.services.ledger_check import ledger_differences
from notifications.models import NotificationLog
from payments.demo import seed_demo
from payments.models import PaymentTransaction, Receipt, Refund
from tests.factories import CustomerServiceFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db


def _demo_invoices():
    invoices = []
    for i in range(3):
        service = CustomerServiceFactory(provider_order_id=f"DEMO-{i:05d}")
        invoice = make_invoice(service.customer, "499.00")
        ledger_post(customer=invoice.customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=invoice.total,
                    reference=f"invoice:{invoice.pk}", description=invoice.number, invoice=invoice)
        invoices.append(invoice)
    return invoices


def _snapshot():
    return {
        "payments": sorted(PaymentTransaction.objects.values_list("reference", "status", "amount", "amount_refunded")),
        "receipts": sorted(Receipt.objects.values_list("number", "pdf", "emailed_at")),
        "refunds": sorted(Refund.objects.values_list("payment__reference", "amount", "status")),
        "ledger": LedgerEntry.objects.count(),
        "notifications": sorted(NotificationLog.objects.values_list("event", "idempotency_key")),
    }


def test_seed_demo_issues_receipts_and_refunds_once():
    first, second, _ = _demo_invoices()

    with TestCase.captureOnCommitCallbacks(execute=True):  # queued sends (and tasks) run as a worker would
        seed_demo(io.StringIO())
    after_first = _snapshot()
    out = io.StringIO()
    seed_demo(out)

    assert _snapshot() == after_first
    assert "0 receipt(s) with PDF, 0 refund(s)" in out.getvalue()
    # Every completed (or refunded) demo payment has its receipt, PDF and one receipt email
    receipted = PaymentTransaction.objects.exclude(status="failed")
    assert receipted.count() == Receipt.objects.count() == 4
    for receipt in Receipt.objects.select_related("payment"):
        with receipt.pdf.open("rb") as fh:
            assert fh.read(4) == b"%PDF"
        log = NotificationLog.objects.get(event="payment_received", idempotency_key=f"payment_received:{receipt.payment_id}")
        assert receipt.number in log.body and log.attachments[0]["path"] == receipt.pdf.name
    assert len([m for m in mail.outbox if m.attachments]) == 4
    # A full refund (the duplicate card payment) and a partial one (part of the advance EFT), both manual
    full = PaymentTransaction.objects.get(reference=f"DEMO-DUP-{first.pk}")
    partial = PaymentTransaction.objects.get(reference=f"DEMO-EFT-{second.pk}")
    assert (full.status, full.amount_refunded) == ("refunded", Decimal("499.00"))
    assert (partial.status, partial.amount, partial.amount_refunded) == (
        "partially_refunded", Decimal("1000.00"), Decimal("150.00"))
    assert sorted(Refund.objects.values_list("payment__reference", "amount", "status")) == [
        (full.reference, Decimal("499.00"), "manual"), (partial.reference, Decimal("150.00"), "manual")]
    assert NotificationLog.objects.filter(event="refund_issued").count() == 2
    # Receipts were issued before the refunds: each shows the payment as it was made
    assert Receipt.objects.get(payment=full).issued_at < full.refunds.get().completed_at
    assert ledger_differences() == []
