"""Payment state changes: record pending, complete, fail, reverse.

Every function is idempotent by state and runs in one transaction:
- `payment_complete`: pending/failed/new -> completed; allocates (ledger `payment:{pk}` once),
  queues the ZOHO sync and, after commit, the receipt task (receipt number, PDF and the receipt
  email `payment_received:{pk}` with the PDF attached). A completed payment never moves back.
- `payment_fail`: new/pending -> failed with the reason, notifies `payment_failed`. A decline for
  an already completed reference does not reverse it: the payment is flagged `needs_review`.
- `payment_record_pending`: new -> pending (bank EFT, retail, debit orders awaiting settlement).
- `payment_reverse`: completed -> reversed (a settled debit order returned unpaid).

Concurrency: the customer's open invoices are locked first (ascending ids), then the payment row
(unique `reference`) is created or locked, so a customer's return and the provider's notify
arriving together apply the payment once.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Customer, Invoice, LedgerEntry
from billing.services.credit import apply_account_credit
from billing.services.ledger import invoice_apply_payment, ledger_post
from circletel.follow_ups import follow_up
from notifications.services import notify, notify_ops
from payments.errors import PaymentError
from payments.models import PaymentMethod, PaymentTransaction
from payments.services.allocation import lock_open_invoices, payment_allocate
from zoho_sync.services.outbox import enqueue_sync

STRIPE_OPEN_INTENTS_REVIEW = "payments.services.stripe_payments.stripe_open_intents_review"

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
CENT = Decimal("0.01")

def _get_or_create_locked(*, reference: str, defaults: dict,
                          expect_existing: bool = False) -> tuple[PaymentTransaction, bool]:
    """The payment row under lock, created from `defaults` if missing. INSERT first (a notify usually
    brings a new payment); `expect_existing` (a provider confirming a payment we started, e.g. a
    Stripe intent) locks first and saves the failed INSERT and its savepoint."""
    if expect_existing:
        existing = PaymentTransaction.objects.select_for_update().filter(reference=reference).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            return PaymentTransaction.objects.create(reference=reference, **defaults), True
    except IntegrityError:
        existing = PaymentTransaction.objects.select_for_update().filter(reference=reference).first()
        if existing is None:
            raise
        return existing, False


def _check_amount(amount) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError("payment amounts must be Decimal")
    if amount <= 0 or amount != amount.quantize(CENT):
        raise PaymentError("A payment amount must be positive with at most two decimals.", {"amount": str(amount)})
    return amount


def _defaults(*, customer, invoice, amount, method, provider, provider_transaction_id, provider_method, raw,
              payment_method) -> dict:
    return {"customer": customer, "invoice": invoice, "amount": amount, "method": method, "provider": provider,
            "provider_transaction_id": provider_transaction_id or None, "provider_method": provider_method[:40],
            "raw_response": raw or {}, "payment_method": payment_method}


def payment_complete(*, reference: str, amount: Decimal, customer: Customer, method: str, provider: str,
                     invoice: Invoice | None = None, provider_transaction_id: str | None = None,
                     provider_method: str = "", raw: dict | None = None,
                     payment_method: PaymentMethod | None = None, expect_existing: bool = False) -> PaymentTransaction:
    """Complete (creating if needed) the payment `reference`, allocate it, queue receipt + sync.
    `expect_existing`: the payment row was created when the payment started (saves a failed INSERT)."""
    _check_amount(amount)
    if invoice is not None and invoice.customer_id != customer.pk:
        raise PaymentError("The invoice belongs to another customer.", {"reference": reference})
    with transaction.atomic():
        locked = lock_open_invoices(customer_id=customer.pk, extra_ids=[invoice.pk if invoice else None])
        payment, created = _get_or_create_locked(reference=reference, defaults=_defaults(
            customer=customer, invoice=invoice, amount=amount, method=method, provider=provider,
            provider_transaction_id=provider_transaction_id, provider_method=provider_method, raw=raw,
            payment_method=payment_method) | {"status": Status.COMPLETED, "completed_at": timezone.now()},
            expect_existing=expect_existing)
        if not created:
            if payment.status not in (Status.PENDING, Status.FAILED):
                return payment  # already completed (or later refunded/reversed): nothing to do
            if payment.amount != amount or payment.customer_id != customer.pk:
                raise PaymentError("The confirmation does not match the recorded payment.",
                                   {"reference": reference, "recorded": str(payment.amount), "confirmed": str(amount)})
            payment.status = Status.COMPLETED
            payment.completed_at = timezone.now()
            payment.failure_reason = ""
            if provider_transaction_id:
                payment.provider_transaction_id = provider_transaction_id
            if raw:
                payment.raw_response = raw
            if provider_method:
                payment.provider_method = provider_method[:40]
            payment.save()
        payment_allocate(payment=payment, locked_invoices=locked, fresh=created)
        if (PaymentTransaction.objects.filter(customer_id=customer.pk, provider=PaymentTransaction.Provider.STRIPE,
                                              status=Status.PENDING).exclude(pk=payment.pk).exists()):
            # What the customer owes changed: open card attempts for the old amount are cancelled.
            follow_up(STRIPE_OPEN_INTENTS_REVIEW, customer.pk)
        enqueue_sync(entity=payment)
        # The receipt (number, PDF) and its email (`payment_received`, with the PDF attached) are
        # made by the issue_receipt task after commit (idempotent; see payments/services/receipts.py).
        from payments.services.receipts import receipt_queue
        receipt_queue(payment_id=payment.pk)  # a follow-up row in this transaction, rung on commit
    logger.info("payment %s completed: R %s (%s)", payment.reference, payment.amount, payment.provider)
    return payment


def payment_flag_for_review(*, payment: PaymentTransaction, note: str, trace: str | None) -> PaymentTransaction:
    """Flag a payment for staff (`needs_review`, the note appended) and alert ops once per trace. Call it
    inside the transaction that holds the payment's row."""
    payment.needs_review = True
    payment.review_note = f"{payment.review_note}\n{note}".strip()[:2000]
    payment.save(update_fields=["needs_review", "review_note", "updated_at"])
    _alert_ops(payment=payment, note=note, trace=trace)
    return payment


def _alert_ops(*, payment: PaymentTransaction, note: str, trace: str | None) -> None:
    """Best effort: an ops alert must never undo the review flag."""
    try:
        with transaction.atomic():
            notify_ops(event="payment_needs_review", idempotency_key=f"payment_review:{payment.pk}:{trace}",
                       context={"reference": payment.reference, "note": note}, email=False)
    except Exception:
        logger.exception("could not alert ops about payment %s", payment.reference)


def payment_record_pending(*, reference: str, amount: Decimal, customer: Customer, method: str, provider: str,
                           invoice: Invoice | None = None, provider_transaction_id: str | None = None,
                           provider_method: str = "", raw: dict | None = None,
                           payment_method: PaymentMethod | None = None) -> PaymentTransaction:
    """Record a payment the provider has not confirmed yet. An existing payment is left as is."""
    _check_amount(amount)
    with transaction.atomic():
        payment, _ = _get_or_create_locked(reference=reference, defaults=_defaults(
            customer=customer, invoice=invoice, amount=amount, method=method, provider=provider,
            provider_transaction_id=provider_transaction_id, provider_method=provider_method, raw=raw,
            payment_method=payment_method) | {"status": Status.PENDING})
    return payment


def payment_fail(*, reference: str, amount: Decimal, customer: Customer, method: str, provider: str, reason: str,
                 invoice: Invoice | None = None, provider_transaction_id: str | None = None,
                 provider_method: str = "", raw: dict | None = None,
                 notify_customer: bool = True) -> PaymentTransaction:
    """Record a declined/failed payment and tell the customer; never reverses a completed one.
    `notify_customer=False` for an attempt the customer cancelled themselves (no "payment failed" email)."""
    _check_amount(amount)
    reason = (reason or "Declined").strip()[:500]
    with transaction.atomic():
        payment, created = _get_or_create_locked(reference=reference, defaults=_defaults(
            customer=customer, invoice=invoice, amount=amount, method=method, provider=provider,
            provider_transaction_id=None, provider_method=provider_method, raw=raw, payment_method=None)
            | {"status": Status.FAILED, "failure_reason": reason})
        if not created:
            if payment.status == Status.FAILED:
                return payment
            if payment.status != Status.PENDING:
                note = (f"{timezone.now():%Y-%m-%d %H:%M} {provider} reported '{reason}' "
                        f"(trace {provider_transaction_id or '-'}) after the payment was {payment.status}; not reversed.")
                payment_flag_for_review(payment=payment, note=note, trace=provider_transaction_id)
                logger.warning("payment %s: decline after completion flagged for review", payment.reference)
                return payment
            payment.status = Status.FAILED
            payment.failure_reason = reason
            payment.raw_response = raw or payment.raw_response
            payment.save(update_fields=["status", "failure_reason", "raw_response", "updated_at"])
        if not notify_customer:
            return payment
        notify(event="payment_failed", customer=customer, idempotency_key=f"payment_failed:{payment.pk}",
               context={"customer_name": f"{customer.first_name} {customer.last_name}".strip(),
                        "amount": payment.amount,
                        "method": payment.method, "reference": payment.reference,
                        "invoice_number": invoice.number if invoice else "", "reason": reason})
    return payment


def payment_reverse(*, payment: PaymentTransaction, reason: str, unpaid_fee: Decimal | None = None) -> PaymentTransaction:
    """Reverse a completed payment (e.g. debit order returned unpaid).

    Posts `payment_reversal:{pk}` (+amount) to the ledger, takes back every allocation (the invoices
    reopen, so dunning picks them up again), invoices the optional unpaid fee (an adjustment invoice
    through billing's `invoice_create`), and queues the ZOHO sync. Idempotent by state.
    """
    with transaction.atomic():
        # Locks in the house order: the customer's money lock and invoices first, then the payment.
        alloc_ids = list(payment.allocations.values_list("invoice_id", flat=True))
        invoices = lock_open_invoices(customer_id=payment.customer_id, extra_ids=alloc_ids)
        payment = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
        if payment.status == Status.REVERSED:
            return payment
        if payment.status != Status.COMPLETED:
            raise PaymentError("Only a completed payment can be reversed.", {"reference": payment.reference})
        allocations = list(payment.allocations.select_related("invoice").order_by("invoice_id"))
        ledger_post(customer=payment.customer, entry_type=LedgerEntry.EntryType.REVERSAL, amount=payment.amount,
                    reference=f"payment_reversal:{payment.pk}", description=f"Returned: {payment.reference} ({reason})"[:300],
                    payment=payment, invoice=payment.invoice)
        for allocation in allocations:
            invoice_apply_payment(invoice_id=allocation.invoice_id, amount=-allocation.amount)
        # Reversed before anything else is issued: its unallocated part is no longer credit to spend.
        payment.status = Status.REVERSED
        payment.reversed_at = timezone.now()
        payment.reversal_reason = reason[:500]
        payment.save(update_fields=["status", "reversed_at", "reversal_reason", "updated_at"])
        if unpaid_fee and unpaid_fee > 0:
            from billing.services.invoices import LineSpec, invoice_create

            invoice_create(customer=payment.customer, invoice_type=Invoice.InvoiceType.ADJUSTMENT,
                           lines=[LineSpec(description=f"Unpaid debit order fee ({payment.reference})",
                                           amount=unpaid_fee)],
                           notes=f"Returned payment {payment.reference}: {reason}"[:500])
        # Reopened invoices take any other credit the customer still has (a credit note's, say).
        apply_account_credit(customer_id=payment.customer_id, locked_invoices=invoices)
        enqueue_sync(entity=payment)
        notify(event="payment_failed", customer=payment.customer, idempotency_key=f"payment_reversed:{payment.pk}",
               context={"customer_name": f"{payment.customer.first_name} {payment.customer.last_name}".strip(),
                        "amount": payment.amount,
                        "method": payment.method, "reference": payment.reference,
                        "invoice_number": payment.invoice.number if payment.invoice else "", "reason": reason})
    return payment
