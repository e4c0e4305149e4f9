"""Allocate a completed payment to a customer's invoices.

Order: the invoice the payment names (if it is still open), then the oldest open invoice first
(issue date, then id). Each invoice moves through `invoice_apply_payment` under its row lock:
partial -> partial, exact -> paid. Whatever is left is credit on the account: the ledger entry
`payment:{pk}` is always for the full amount, so the balance goes negative.

Idempotent by state: a payment that already has its ledger entry and allocations is returned
as is. Locks: `lock_open_invoices` (billing.services.credit) takes the customer's money lock and
then every candidate invoice in ascending id order before any is changed, so two payments for the
same customer serialise instead of deadlocking.

A payment's unallocated part is account credit: `payment_credit_source` hands it to billing's
credit engine, which applies it to invoices issued later (oldest credit first).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import Invoice, LedgerEntry
from billing.services.credit import CreditPiece, CreditSource, lock_open_invoices
from billing.services.ledger import invoice_apply_payment, ledger_post
from payments.errors import PaymentError
from payments.models import PaymentAllocation, PaymentTransaction
from zoho_sync.services.outbox import enqueue_sync

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)

__all__ = ["lock_open_invoices", "payment_allocate", "payment_credit_source"]


def payment_ledger_reference(payment: PaymentTransaction) -> str:
    return f"payment:{payment.pk}"


def payment_allocate(*, payment: PaymentTransaction, locked_invoices: dict[int, Invoice] | None = None,
                     fresh: bool = False) -> list[PaymentAllocation]:
    """Post the payment's ledger entry once and spread it over open invoices. Returns allocations.

    `locked_invoices` (from `lock_open_invoices` in the caller's transaction) and `fresh` (the
    payment row was created in this transaction, so nothing can have been posted for it) only
    save queries on the hot webhook path.
    """
    if payment.status != PaymentTransaction.Status.COMPLETED:
        raise PaymentError("Only a completed payment can be allocated.", {"reference": payment.reference})
    # No savepoint of its own: an error here aborts the caller's whole unit of work anyway.
    with transaction.atomic(savepoint=False):
        invoices = locked_invoices if locked_invoices is not None else lock_open_invoices(
            customer_id=payment.customer_id, extra_ids=[payment.invoice_id])
        reference = payment_ledger_reference(payment)
        if not fresh and LedgerEntry.objects.filter(reference=reference).exists():
            return list(payment.allocations.all())  # already allocated (idempotent by state)
        ledger_post(customer=payment.customer, entry_type=LedgerEntry.EntryType.PAYMENT, amount=-payment.amount,
                    reference=reference, description=f"Payment {payment.reference}", payment=payment,
                    invoice=payment.invoice)
        order = sorted((inv for inv in invoices.values() if inv.is_open),
                       key=lambda inv: (inv.pk != payment.invoice_id, inv.issue_date, inv.pk))
        remaining = payment.amount
        allocations = []
        for inv in order:
            if remaining <= ZERO:
                break
            take = min(inv.total - inv.amount_paid, remaining)
            if take <= ZERO:
                continue
            invoice_apply_payment(invoice_id=inv.pk, amount=take)
            allocations.append(PaymentAllocation.objects.create(payment=payment, invoice=inv, amount=take))
            remaining -= take
        customer_id = payment.customer_id
        # Reuse the customer already loaded by the caller (saves a query after commit).
        customer = payment.customer if PaymentTransaction.customer.is_cached(payment) else None
        transaction.on_commit(lambda: _payment_received_hook(customer_id, customer))
    return allocations


def _payment_received_hook(customer_id: int, customer=None) -> None:
    """Tell dunning a payment landed (reactivates non-payment suspensions), after our commit.

    Runs after commit so a dunning problem can never undo a received payment.
    """
    from billing.models import Customer
    from billing.services.dunning import customer_payment_received

    try:
        customer_payment_received(customer=customer if customer is not None else Customer.objects.get(pk=customer_id))
    except Exception:  # the payment stands; dunning's own reprocessing catches up
        logger.exception("customer_payment_received failed for customer %s", customer_id)


# --- a payment's unallocated part is account credit (registered with billing.services.credit) ----------------

CREDIT_STATUSES = (PaymentTransaction.Status.COMPLETED, PaymentTransaction.Status.PARTIALLY_REFUNDED)


def _payments_with_credit():
    allocated = Coalesce(Subquery(PaymentAllocation.objects.filter(payment_id=OuterRef("pk")).order_by()
                                  .values("payment_id").annotate(s=Sum("amount")).values("s")[:1], output_field=MONEY),
                         Value(ZERO), output_field=MONEY)
    return (PaymentTransaction.objects.filter(status__in=CREDIT_STATUSES).annotate(allocated=allocated)
            .annotate(left=F("amount") - F("amount_refunded") - F("allocated")).filter(left__gt=0))


def _payment_pieces(customer_id: int) -> list[CreditPiece]:
    rows = (_payments_with_credit().filter(customer_id=customer_id)
            .values_list("pk", "completed_at", "created_at", "left"))
    return [CreditPiece("payment", pk, (completed or created).date(), Decimal(left).quantize(Decimal("0.01")))
            for pk, completed, created, left in rows]


def _payment_apply(piece: CreditPiece, invoice_id: int, amount) -> None:
    updated = (PaymentAllocation.objects.filter(payment_id=piece.key, invoice_id=invoice_id)
               .update(amount=F("amount") + amount))
    if not updated:
        PaymentAllocation.objects.create(payment_id=piece.key, invoice_id=invoice_id, amount=amount)
    # The ZOHO mirror follows our allocations: the payment's applied amounts changed.
    enqueue_sync(entity=PaymentTransaction(pk=piece.key))


payment_credit_source = CreditSource(
    name="payment", pieces=_payment_pieces, apply=_payment_apply,
    customers=lambda: _payments_with_credit().values_list("customer_id", flat=True))
