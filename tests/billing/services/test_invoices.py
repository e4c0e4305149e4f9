from datetime import date
from decimal import Decimal

import pytest

from billing.models import BillingAccount, CreditNote, Invoice, LedgerEntry
from billing.services.invoices import (
    InvoiceError,
    LineSpec,
    credit_note_create,
    date_span,
    invoice_create,
    invoice_reissue,
    invoice_void,
)
from billing.services.ledger import ledger_balance
from notifications.models import NotificationLog
from tests.billing.factories import business_customer
from tests.factories import CustomerFactory

D = Decimal
pytestmark = pytest.mark.django_db


def balance(customer):
    return BillingAccount.objects.get(customer=customer).balance


def test_personal_invoice_is_vat_inclusive_numbered_posted_and_followed_up(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.INSTALLATION,
                                 lines=[LineSpec(description="Installation", amount=D("899.00"))],
                                 issue_date=date(2026, 3, 10))
    invoice.refresh_from_db()
    assert invoice.number == "INV-2026-00001"
    assert (invoice.subtotal, invoice.vat_amount, invoice.total, invoice.amount_due) == (
        D("781.74"), D("117.26"), D("899.00"), D("899.00"))
    assert invoice.prices_include_vat is True
    assert invoice.due_date == date(2026, 3, 17)
    assert invoice.zoho_sync_status == "pending"
    entry = LedgerEntry.objects.get(reference=f"invoice:{invoice.pk}")
    assert entry.amount == D("899.00") and entry.invoice_id == invoice.pk
    assert balance(customer) == D("899.00") == ledger_balance(customer_id=customer.pk)
    assert NotificationLog.objects.filter(event="invoice_issued", idempotency_key=f"invoice_issued:{invoice.pk}").count() >= 1
    assert ("billing.tasks.render_invoice_pdf", (invoice.pk,)) in queued


def test_business_invoice_is_vat_exclusive_and_due_after_30_days():
    customer = business_customer()
    invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.ADJUSTMENT,
                             lines=[LineSpec(description="Static IP", amount=D("1091.50"))],
                             issue_date=date(2026, 1, 5))
    assert (invoice.subtotal, invoice.vat_amount, invoice.total) == (D("1091.50"), D("163.73"), D("1255.23"))
    assert invoice.due_date == date(2026, 2, 4)


def test_numbers_are_consecutive_and_a_failed_creation_uses_none(monkeypatch):
    customer = CustomerFactory()
    first = invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("A", D("10.00"))])
    with pytest.raises(InvoiceError):
        invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("bad", D("-1.00"))])
    with pytest.raises(InvoiceError):
        invoice_create(customer=customer, invoice_type="adjustment", lines=[])
    second = invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("B", D("20.00"))])
    year = first.issue_date.year
    assert [first.number, second.number] == [f"INV-{year}-00001", f"INV-{year}-00002"]
    assert Invoice.objects.count() == 2 and LedgerEntry.objects.count() == 2


def test_void_reverses_the_ledger_and_reissue_replaces_the_invoice():
    customer = CustomerFactory()
    invoice = invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("Wrong", D("300.00"))])
    replacement = invoice_reissue(invoice=invoice, reason="wrong amount",
                                  lines=[LineSpec("Right", D("250.00"))])
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID and invoice.void_reason == "wrong amount"
    assert LedgerEntry.objects.get(reference=f"void:{invoice.pk}").amount == D("-300.00")
    assert replacement.total == D("250.00") and replacement.notes.startswith(f"Replaces {invoice.number}")
    assert balance(customer) == D("250.00") == ledger_balance(customer_id=customer.pk)
    with pytest.raises(InvoiceError, match="already void"):
        invoice_void(invoice=invoice, reason="again")


def test_void_needs_a_reason_and_refuses_paid_invoices():
    from billing.services.ledger import invoice_apply_payment

    customer = CustomerFactory()
    invoice = invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("X", D("100.00"))])
    with pytest.raises(InvoiceError, match="reason"):
        invoice_void(invoice=invoice, reason="  ")
    invoice_apply_payment(invoice_id=invoice.pk, amount=D("10.00"))
    with pytest.raises(InvoiceError, match="payments"):
        invoice_void(invoice=invoice, reason="oops")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PARTIAL
    assert not LedgerEntry.objects.filter(entry_type="void").exists()


def test_credit_notes_cannot_exceed_what_is_uncredited():
    customer = CustomerFactory()
    invoice = invoice_create(customer=customer, invoice_type="adjustment", lines=[LineSpec("X", D("115.00"))])
    note = credit_note_create(invoice=invoice, amount=D("46.00"), reason="outage credit")
    assert note.number.startswith("CN-") and note.number.endswith("-00001")
    assert (note.subtotal, note.vat_amount, note.total, note.applied_amount) == (D("40.00"), D("6.00"), D("46.00"), D("46.00"))
    assert LedgerEntry.objects.get(reference=f"credit_note:{note.pk}").amount == D("-46.00")
    invoice.refresh_from_db()
    assert invoice.amount_due == D("69.00") and invoice.status == Invoice.Status.PARTIAL
    with pytest.raises(InvoiceError, match="uncredited"):
        credit_note_create(invoice=invoice, amount=D("69.01"), reason="too much")
    assert CreditNote.objects.count() == 1
    credit_note_create(invoice=invoice, amount=D("69.00"), reason="rest")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_due == D("0.00")
    assert balance(customer) == D("0.00") == ledger_balance(customer_id=customer.pk)


@pytest.mark.parametrize("first, last, text", [
    (date(2026, 1, 15), date(2026, 1, 31), "15-31 Jan 2026"),
    (date(2026, 1, 25), date(2026, 2, 24), "25 Jan - 24 Feb 2026"),
    (date(2025, 12, 25), date(2026, 1, 24), "25 Dec 2025 - 24 Jan 2026"),
    (date(2026, 1, 31), date(2026, 1, 31), "31 Jan 2026"),
])
def test_line_dates_are_short_but_unambiguous(first, last, text):
    assert date_span(first, last) == text
