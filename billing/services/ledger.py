"""The ledger: the only way money moves on a customer's account.

`ledger_post` appends one signed entry and moves the cached balance with `F()` in the same
transaction; the entry's unique `reference` (derived from the source row) makes a second post of
the same event impossible. `invoice_apply_payment` moves an invoice's paid amount and status under
its row lock. Balances are positive when the customer owes us.
"""

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.models import BillingAccount, Customer, Invoice, LedgerEntry
from circletel.errors import ApplicationError

CENT = Decimal("0.01")


class LedgerError(ApplicationError):
    pass


def ledger_post(*, customer: Customer, entry_type: str, amount: Decimal, reference: str, description: str,
                effective_date: date | None = None, invoice: Invoice | None = None, payment=None,
                credit_note=None, created_by: str = "system") -> LedgerEntry:
    """Append one entry (positive = customer owes more). Raises LedgerError if `reference` was posted."""
    if not isinstance(amount, Decimal):
        raise TypeError("ledger amounts must be Decimal")
    if amount != amount.quantize(CENT):
        raise LedgerError("Ledger amounts have at most two decimal places.", {"amount": str(amount)})
    if amount == 0:
        raise LedgerError("A ledger entry cannot be zero.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                entry = LedgerEntry.objects.create(
                    customer=customer, entry_type=entry_type, amount=amount, reference=reference,
                    description=description[:300], effective_date=effective_date or timezone.localdate(),
                    invoice=invoice, payment=payment, credit_note=credit_note, created_by=created_by,
                )
        except IntegrityError as exc:
            if LedgerEntry.objects.filter(reference=reference).exists():
                raise LedgerError("This ledger entry was already posted.", {"reference": reference}) from exc
            raise
        BillingAccount.objects.filter(customer_id=customer.pk).update(balance=F("balance") + amount)
    return entry


def ledger_balance(*, customer_id: int) -> Decimal:
    """The balance recomputed from entries (the source of truth the cached balance must equal)."""
    total = LedgerEntry.objects.filter(customer_id=customer_id).aggregate(s=Sum("amount"))["s"]
    return (total or Decimal("0")).quantize(CENT)


def invoice_lock(invoice_id: int) -> Invoice:
    """Lock and return one invoice row (call inside atomic; lock invoices in ascending id order)."""
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def invoice_apply_payment(*, invoice_id: int, amount: Decimal) -> Invoice:
    """Add `amount` (negative for a reversal) to the invoice's paid amount and set its status.

    Runs under the invoice row lock; never pays more than the total (the caller allocates any
    excess elsewhere) and never below zero.
    """
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status == Invoice.Status.VOID:
            raise LedgerError("A void invoice cannot take payments.", {"invoice": invoice.number})
        new_paid = invoice.amount_paid + amount
        if new_paid < 0 or new_paid > invoice.total:
            raise LedgerError("Payment would take the invoice outside 0..total.",
                              {"invoice": invoice.number, "paid": str(invoice.amount_paid), "amount": str(amount)})
        invoice.amount_paid = new_paid
        invoice.status = invoice_status_for(invoice, today=timezone.localdate())
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])
        from billing.services.pdf import invoice_documents_changed  # the PDF follows the money (after commit)
        invoice_documents_changed(invoice.pk)
        invoice.refresh_from_db(fields=["amount_due"])
        return invoice


def invoice_status_for(invoice: Invoice, *, today: date) -> str:
    """The status an open invoice should have given its paid amount and due date."""
    if invoice.status == Invoice.Status.VOID:
        return invoice.status
    if invoice.amount_paid >= invoice.total:
        return Invoice.Status.PAID
    if invoice.due_date < today:
        return Invoice.Status.OVERDUE
    if invoice.amount_paid > 0:
        return Invoice.Status.PARTIAL
    return Invoice.Status.UNPAID
