"""Refunds: full or partial, through the payment's provider, with a ledger entry.

    refund = refund_create(payment=payment, amount=Decimal("100.00"), reason="...", actor="ops@...")

Three steps, no HTTP inside a transaction:
1. reserve: lock the payment, check the rules (completed / partially refunded; within
   `REFUND_WINDOW_DAYS` of completion; never above what remains once pending refunds are counted)
   and insert a `pending` Refund row;
2. call the provider outside any transaction (Stripe refund with idempotency key `refund:{pk}`,
   PayPal capture refund with `PayPal-Request-Id` `refund-{pk}`; NetCash / sandbox / manual
   payments are recorded for finance to pay back by hand: status `manual`);
3. finalise in a new transaction: `refund_apply` (below), or mark the row `failed` with the reason.

Unknown outcome: when the provider call still fails with a retryable error after the client's own
retries (timeout, 5xx, 429), the refund may or may not have happened at the provider. The row then
stays `pending` without a provider id (the amount stays reserved, nothing is booked, staff see
"outcome unknown" in `failure_reason`), and `refunds_resolve_unknown` (every 10 minutes) repeats
the call with the same idempotency key: the provider answers with the refund it already made, or
makes it now; either way it is booked once. Until then a provider webhook for that payment's
refunds waits (`refund_record_from_provider` raises, the event is retried). A row whose key is
older than the provider keeps it (`UNKNOWN_OUTCOME_KEY_LIFETIME`: Stripe keeps keys 24 h, PayPal
request ids 6 h) is not called again: ops are alerted once to settle it by hand.

`refund_apply` (also used by the `charge.refunded` webhook): ledger `refund:{pk}` (+amount: the
customer owes more / has less credit), the refunded money is taken first from the payment's
unallocated credit, then back from its invoice allocations (newest invoice first; the invoice's
`amount_paid` moves by the same amount, so `check_ledger` still agrees), `amount_refunded` and the
status (partially_refunded / refunded) move under the payment's row lock, the customer is told
(`refund_issued`) and ZOHO is queued.

Finality rule (Stripe): a refund is booked only once Stripe says `succeeded`. A create call that
answers `pending` / `requires_action` (or any other non-final word) leaves the row `pending` with
its `re_` id: the amount stays reserved (counted against what is refundable), nothing is posted,
the customer is not told and ZOHO is not queued. The refund events (`refund.updated`,
`refund.failed`, `charge.refund.updated`) or a `charge.refunded` that lists the refund as
`succeeded` then call `refund_apply`; a `failed` / `canceled` report calls `refund_fail`, which
marks a pending row failed (the amount is refundable again) or, for a refund already booked,
reverses the booking once (`refund_fail` below). States only move forward: pending -> succeeded
-> failed, or pending -> failed; a late `pending` never moves a refund back. PayPal answers are
still booked unless they say FAILED / CANCELLED (no PayPal refund-status events are handled yet).

`refund_fail` on a booked refund: ledger `refund-reversal:{pk}` (-amount, the same `ledger_post`),
the money goes back onto the payment's open invoices (its own invoice first, then the oldest)
through `invoice_apply_payment` and its allocations, `amount_refunded` and the status
(completed / partially_refunded / refunded) move back under the payment's row lock, the payment is
flagged `needs_review`, ops are alerted once (`refund_failed:{pk}`) and ZOHO is queued. The customer,
already told `refund_issued`, is told once that it did not go through (`refund_reversed`, with the
balance now); staff contact them to pay it back another way.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.models import LedgerEntry
from billing.services.credit import apply_account_credit
from billing.services.ledger import invoice_apply_payment, ledger_post
from circletel.http import ProviderError
from circletel.money import format_zar
from notifications.services import notify
from payments.errors import PaymentError
from payments.models import PaymentAllocation, PaymentTransaction, Refund
from payments.services import refund_engine
from payments.services.allocation import lock_open_invoices
from zoho_sync.services.outbox import enqueue_sync

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
REFUNDABLE = (Status.COMPLETED, Status.PARTIALLY_REFUNDED)
MANUAL_PROVIDERS = (PaymentTransaction.Provider.NETCASH, PaymentTransaction.Provider.SANDBOX,
                    PaymentTransaction.Provider.MANUAL)


class RefundError(PaymentError):
    pass


def refund_window_days() -> int:
    return int(getattr(settings, "REFUND_WINDOW_DAYS", 90))


def _pending_total(payment: PaymentTransaction, **filters) -> Decimal:
    total = payment.refunds.filter(status=Refund.Status.PENDING, **filters).aggregate(s=Sum("amount"))["s"]
    return total or ZERO


def refund_reserved_at_provider(payment: PaymentTransaction) -> Decimal:
    """Pending refunds the provider already accepted (they have its id) but has not finished."""
    return _pending_total(payment, provider_refund_id__isnull=False)


def refundable_amount(payment: PaymentTransaction) -> Decimal:
    """What can still be refunded: amount - refunded - refunds in flight."""
    return payment.amount - payment.amount_refunded - _pending_total(payment)


def _check_rules(payment: PaymentTransaction, amount: Decimal, *, now) -> None:
    if payment.status not in REFUNDABLE:
        raise RefundError("Only a completed payment can be refunded.",
                          {"reference": payment.reference, "status": payment.status})
    if payment.completed_at is None or payment.completed_at < now - timedelta(days=refund_window_days()):
        raise RefundError(f"Refunds are only possible within {refund_window_days()} days of the payment.",
                          {"reference": payment.reference})
    remaining = refundable_amount(payment)
    if amount > remaining:
        raise RefundError(f"At most {format_zar(remaining)} of this payment can still be refunded.",
                          {"reference": payment.reference, "refundable": str(remaining), "amount": str(amount)})


def refund_reserve(*, payment: PaymentTransaction, amount: Decimal | None, reason: str, actor: str) -> Refund:
    """Step 1: check the rules under the payment's row lock and insert the pending refund."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundError("Give a reason for the refund.", {"reason": "required"})
    if amount is not None:
        if not isinstance(amount, Decimal):
            raise TypeError("refund amounts must be Decimal")
        if amount <= 0 or amount != amount.quantize(CENT):
            raise RefundError("A refund amount must be positive with at most two decimals.", {"amount": str(amount)})
    with transaction.atomic():
        locked = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
        value = amount if amount is not None else refundable_amount(locked)
        if value <= 0 and locked.status in REFUNDABLE:
            raise RefundError("Nothing is left to refund on this payment.", {"reference": locked.reference})
        _check_rules(locked, value, now=timezone.now())
        return Refund.objects.create(payment=locked, amount=value, reason=reason[:300], provider=locked.provider,
                                     actor=(actor or "system")[:150], status=Refund.Status.PENDING)


def _provider_refund(refund: Refund) -> tuple[str | None, str, dict]:
    """Step 2 (no transaction open), through the one refund engine. Returns (provider refund id,
    status word, raw); NetCash / sandbox / manual payments: (None, "manual", {})."""
    payment = refund.payment
    full = refund.amount == payment.amount
    keys = {PaymentTransaction.Provider.STRIPE: f"refund:{refund.pk}", PaymentTransaction.Provider.PAYPAL: f"refund-{refund.pk}"}
    if payment.provider not in keys:
        return None, "manual", {}
    if not payment.provider_transaction_id:
        what = "payment intent" if payment.provider == PaymentTransaction.Provider.STRIPE else "capture"
        raise RefundError(f"This {payment.get_provider_display()} payment has no {what} to refund.",
                          {"reference": payment.reference})
    amount, currency = (None if full else refund.amount), payment.currency
    if payment.provider == PaymentTransaction.Provider.PAYPAL and amount is not None:
        # Issue 15: PayPal took the quote's currency, never ZAR; convert at the rate recorded on the payment.
        from payments.services.paypal_currency import paypal_refund_money
        amount, currency = paypal_refund_money(raw_response=payment.raw_response, amount=amount, currency=currency)
    answer = refund_engine.provider_refund(
        provider=payment.provider, payment_id=payment.provider_transaction_id, amount=amount,
        currency=currency, key=keys[payment.provider], note=f"Refund {payment.reference}",
        metadata={"reference": payment.reference, "refund": str(refund.pk)})
    return answer.refund_id, answer.word, answer.raw
UNKNOWN_OUTCOME = "outcome unknown, asked again by the sweep"
# How long each provider keeps an idempotency key (CONTRACTS 3.4: Stripe 24 h; 4: PayPal 6 h),
# less a margin: after that a repeat could make a second refund.
UNKNOWN_OUTCOME_KEY_LIFETIME = {PaymentTransaction.Provider.STRIPE: timedelta(hours=23),
                                PaymentTransaction.Provider.PAYPAL: timedelta(hours=5)}
UNKNOWN_OUTCOME_MIN_AGE = timedelta(minutes=2)  # older than any request still making the first call


def refund_create(*, payment: PaymentTransaction, amount: Decimal | None = None, reason: str,
                  actor: str) -> Refund:
    """Refund `amount` (None = everything still refundable) of a completed payment. Returns the
    Refund: succeeded, manual, failed with `failure_reason`, or pending (the provider has not
    finished it, or the outcome of our call is unknown: module docstring); rule violations raise
    RefundError and write nothing."""
    refund = refund_reserve(payment=payment, amount=amount, reason=reason, actor=actor)
    refund.payment = PaymentTransaction.objects.select_related("customer", "invoice").get(pk=payment.pk)
    return _call_provider_and_finish(refund)


def _call_provider_and_finish(refund: Refund) -> Refund:
    """Steps 2 and 3 for a reserved (pending) refund whose `payment` is loaded."""
    payment = refund.payment
    try:
        provider_id, status_word, raw = _provider_refund(refund)
    except (ProviderError, RefundError) as exc:
        failure = refund_engine.call_failure(exc) if isinstance(exc, ProviderError) else None
        detail = failure.detail if failure else exc.message
        if failure is not None and failure.outcome == refund_engine.UNKNOWN:
            # It may have happened: keep it reserved; refunds_resolve_unknown asks again with the same key.
            Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
                failure_reason=f"{UNKNOWN_OUTCOME}: {detail}"[:2000])
            refund.refresh_from_db()
            logger.warning("refund %s of %s: outcome unknown (%s); the sweep asks again", refund.pk,
                           payment.reference, detail[:200])
            return refund
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.FAILED, failure_reason=detail[:2000], completed_at=timezone.now())
        refund.refresh_from_db()
        logger.warning("refund %s of %s failed: %s", refund.pk, payment.reference, detail[:200])
        return refund
    outcome = refund_engine.outcome_of(payment.provider, status_word) if provider_id else refund_engine.SUCCEEDED
    if outcome == refund_engine.FAILED:
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.FAILED, failure_reason=f"provider status {status_word}",
            provider_refund_id=provider_id, raw_response=raw, completed_at=timezone.now())
        refund.refresh_from_db()
        return refund
    final = Refund.Status.MANUAL if provider_id is None else Refund.Status.SUCCEEDED
    if provider_id:
        # Remember the provider's id at once: if booking fails below, the provider's own refund
        # webhook finds this pending row by id and books it (refund_record_from_provider).
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(provider_refund_id=provider_id,
                                                                                 raw_response=raw, failure_reason="")
    if outcome == refund_engine.PENDING:
        # Not final (pending / requires_action): stays reserved and unbooked until Stripe's refund
        # events say how it ended (module docstring, "Finality rule").
        refund.refresh_from_db()
        logger.info("refund %s of %s is %s at Stripe (%s); booked when it succeeds", refund.pk, payment.reference,
                    status_word, provider_id)
        return refund
    return refund_apply(refund_id=refund.pk, status=final, provider_refund_id=provider_id, raw=raw)


def refund_apply(*, refund_id: int, status: str, provider_refund_id: str | None = None, raw: dict | None = None) -> Refund:
    """Step 3: book a pending refund (idempotent by state: an applied refund is returned as is)."""
    with transaction.atomic():
        payment, refund, _ = _lock(refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        if payment.amount_refunded + refund.amount > payment.amount:
            raise RefundError("The refund is more than remains on the payment.", {"refund": refund.pk})
        _book(payment=payment, refund=refund)
        refund.status = status
        refund.provider_refund_id = provider_refund_id or refund.provider_refund_id
        refund.raw_response = raw or refund.raw_response
        refund.completed_at = timezone.now()
        refund.save(update_fields=["status", "provider_refund_id", "raw_response", "completed_at"])
    logger.info("refund %s of %s: R %s (%s)", refund.pk, payment.reference, refund.amount, refund.status)
    return refund


def _lock(refund_id: int):
    """Lock, in the fixed order, the customer's open invoices (plus those the payment is allocated
    to), then the payment, then the refund. Returns (payment, refund, locked invoices by id)."""
    payment = Refund.objects.select_related("payment").get(pk=refund_id).payment
    alloc_invoices = list(payment.allocations.values_list("invoice_id", flat=True))
    invoices = lock_open_invoices(customer_id=payment.customer_id, extra_ids=alloc_invoices)
    payment = (PaymentTransaction.objects.select_for_update(of=("self",)).select_related("customer", "invoice")
               .get(pk=payment.pk))
    return payment, Refund.objects.select_for_update().get(pk=refund_id), invoices


def _book(*, payment: PaymentTransaction, refund: Refund) -> None:
    """Ledger, allocations, payment totals, notification, ZOHO (caller holds the locks)."""
    ledger_post(customer=payment.customer, entry_type=LedgerEntry.EntryType.REFUND, amount=refund.amount,
                reference=f"refund:{refund.pk}", description=f"Refund of {payment.reference}: {refund.reason}"[:300],
                payment=payment, invoice=payment.invoice)
    allocations = list(PaymentAllocation.objects.select_for_update().filter(payment=payment).order_by("-invoice_id"))
    allocated = sum((a.amount for a in allocations), ZERO)
    credit = max(payment.amount - payment.amount_refunded - allocated, ZERO)  # the unallocated part still held
    to_take = refund.amount - min(credit, refund.amount)
    for allocation in allocations:
        if to_take <= 0:
            break
        take = min(allocation.amount, to_take)
        invoice_apply_payment(invoice_id=allocation.invoice_id, amount=-take)
        if take == allocation.amount:
            allocation.delete()
        else:
            PaymentAllocation.objects.filter(pk=allocation.pk).update(amount=F("amount") - take)
        to_take -= take
    payment.amount_refunded += refund.amount
    payment.status = Status.REFUNDED if payment.amount_refunded >= payment.amount else Status.PARTIALLY_REFUNDED
    payment.save(update_fields=["amount_refunded", "status", "updated_at"])
    if refund.amount > credit:  # invoices reopened: any other credit the customer has pays them
        apply_account_credit(customer_id=payment.customer_id)
    customer = payment.customer
    notify(event="refund_issued", customer=customer, idempotency_key=f"refund_issued:{refund.pk}",
           context={"customer_name": f"{customer.first_name} {customer.last_name}".strip(),
                    "amount": refund.amount, "reference": payment.reference, "method": payment.method,
                    "manual": refund.provider in MANUAL_PROVIDERS or refund.status == Refund.Status.MANUAL,
                    "fully_refunded": payment.status == Status.REFUNDED})
    enqueue_sync(entity=payment)
    _refresh_receipt_on_commit(payment.pk)


def _refresh_receipt_on_commit(payment_id: int) -> None:
    from payments.services.receipts import receipt_refresh_queue

    receipt_refresh_queue(payment_id=payment_id)  # a follow-up row in this transaction, rung on commit


def refund_record_from_provider(*, payment: PaymentTransaction, provider_refund_id: str, amount: Decimal,
                                raw: dict | None = None) -> Refund | None:
    """A refund the provider reports (webhook), e.g. made in the Stripe dashboard. Runs inside the
    caller's transaction; idempotent on the provider refund id. Our own in-flight refund whose
    provider id is not stored yet makes the caller retry later (raise), so one refund is never
    booked twice; pending refunds with a provider id are other refunds and do not block."""
    known = Refund.objects.filter(provider=payment.provider, provider_refund_id=provider_refund_id).first()
    if known is not None:
        if known.status == Refund.Status.PENDING:  # ours, called at the provider but not booked yet
            return refund_apply(refund_id=known.pk, status=Refund.Status.SUCCEEDED, provider_refund_id=provider_refund_id)
        return None
    # Only a pending row without the provider's id can be this refund (our call answered but the
    # id was not stored yet); pending rows with an id are other refunds still in flight.
    if payment.refunds.filter(status=Refund.Status.PENDING, provider_refund_id__isnull=True).exists():
        raise RefundError("A refund we started is still in flight; the webhook is retried later.",
                          {"reference": payment.reference})
    locked = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
    if locked.status not in REFUNDABLE:
        raise RefundError("The refunded payment is not completed here; staff must review it.",
                          {"reference": payment.reference, "status": locked.status})
    if locked.amount_refunded + amount > locked.amount:
        raise RefundError("The provider reports more refunded than the payment.", {"reference": payment.reference})
    refund = Refund.objects.create(payment=locked, amount=amount, reason="Refund reported by the provider",
                                   provider=payment.provider, provider_refund_id=provider_refund_id,
                                   actor=payment.provider, source="webhook", status=Refund.Status.PENDING)
    return refund_apply(refund_id=refund.pk, status=Refund.Status.SUCCEEDED, provider_refund_id=provider_refund_id,
                        raw=raw)


def refund_confirm(*, refund_id: int, raw: dict | None = None) -> Refund:
    """The provider says a refund we hold succeeded: book it if still pending. A refund already
    booked, manual or failed is returned as is (failed is final: a late success never revives it)."""
    return refund_apply(refund_id=refund_id, status=Refund.Status.SUCCEEDED, raw=raw)


def refund_fail(*, refund_id: int, reason: str, raw: dict | None = None) -> Refund:
    """The provider says a refund failed or was canceled. Idempotent by state.

    pending -> failed: nothing was booked, so only the row changes (the amount is refundable again).
    succeeded -> failed: the booking is reversed once (see the module docstring). failed: as is.
    """
    reason = (reason or "refund failed at the provider").strip()
    with transaction.atomic():
        payment, refund, invoices = _lock(refund_id)
        if refund.status in (Refund.Status.FAILED, Refund.Status.MANUAL):
            return refund
        booked = refund.status == Refund.Status.SUCCEEDED
        if booked:
            _unbook(payment=payment, refund=refund, invoices=invoices, reason=reason)
            reason = f"{reason} (after it was booked: reversed by ledger refund-reversal:{refund.pk})"
            _tell_customer_refund_reversed(payment=payment, refund=refund)
        refund.status = Refund.Status.FAILED
        refund.failure_reason = reason[:2000]
        refund.raw_response = raw or refund.raw_response
        refund.completed_at = timezone.now()
        refund.save(update_fields=["status", "failure_reason", "raw_response", "completed_at"])
        _alert_refund_failed(payment=payment, refund=refund, booked=booked)
    logger.warning("refund %s of %s failed at the provider%s: %s", refund.pk, payment.reference,
                   " after booking (reversed)" if booked else "", reason[:200])
    return refund


def _unbook(*, payment: PaymentTransaction, refund: Refund, invoices: dict, reason: str) -> None:
    """Undo `_book` for a refund that did not happen (caller holds the locks from `_lock`)."""
    if payment.amount_refunded < refund.amount or payment.status not in (Status.REFUNDED, Status.PARTIALLY_REFUNDED):
        raise RefundError("The failed refund cannot be reversed on this payment; staff must review it.",
                          {"reference": payment.reference, "status": payment.status, "refund": refund.pk})
    ledger_post(customer=payment.customer, entry_type=LedgerEntry.EntryType.REVERSAL, amount=-refund.amount,
                reference=f"refund-reversal:{refund.pk}",
                description=f"Refund of {payment.reference} failed at the provider: {reason}"[:300],
                payment=payment, invoice=payment.invoice)
    # The money is ours again: it pays the payment's open invoices back (its own invoice first, then
    # the oldest), as `payment_allocate` would have; whatever is left stays credit on the account.
    existing = {a.invoice_id: a for a in PaymentAllocation.objects.select_for_update().filter(payment=payment)}
    order = sorted((inv for inv in invoices.values() if inv.is_open and inv.customer_id == payment.customer_id),
                   key=lambda inv: (inv.pk != payment.invoice_id, inv.issue_date, inv.pk))
    remaining = refund.amount
    for inv in order:
        take = min(inv.total - inv.amount_paid, remaining)
        if take <= ZERO:
            continue
        invoice_apply_payment(invoice_id=inv.pk, amount=take)
        if inv.pk in existing:
            PaymentAllocation.objects.filter(pk=existing[inv.pk].pk).update(amount=F("amount") + take)
        else:
            PaymentAllocation.objects.create(payment=payment, invoice_id=inv.pk, amount=take)
        remaining -= take
        if remaining <= ZERO:
            break
    payment.amount_refunded -= refund.amount
    if payment.amount_refunded <= ZERO:
        payment.status = Status.COMPLETED
    elif payment.amount_refunded < payment.amount:
        payment.status = Status.PARTIALLY_REFUNDED
    else:
        payment.status = Status.REFUNDED
    note = f"Refund {refund.pk} ({format_zar(refund.amount)}) failed after it was booked and was reversed: {reason}"
    payment.needs_review = True
    payment.review_note = f"{payment.review_note}\n{note}".strip()[:5000]
    payment.save(update_fields=["amount_refunded", "status", "needs_review", "review_note", "updated_at"])
    apply_account_credit(customer_id=payment.customer_id, locked_invoices=invoices)  # what is left is credit
    enqueue_sync(entity=payment)
    _refresh_receipt_on_commit(payment.pk)


def _tell_customer_refund_reversed(*, payment: PaymentTransaction, refund: Refund) -> None:
    """Once per refund (idempotency key): the customer was told `refund_issued`; now the truth."""
    from billing.models import BillingAccount

    customer = payment.customer
    balance = BillingAccount.objects.filter(customer_id=customer.pk).values_list("balance", flat=True).first()
    notify(event="refund_reversed", customer=customer, idempotency_key=f"refund_reversed:{refund.pk}",
           context={"customer_name": f"{customer.first_name} {customer.last_name}".strip(), "amount": refund.amount,
                    "reference": payment.reference, "method": payment.method, "balance": balance})


def _alert_refund_failed(*, payment: PaymentTransaction, refund: Refund, booked: bool) -> None:
    """Best effort, once per refund: ops must know a customer was not paid back as expected."""
    refund_engine.refund_refused_for_good(
        key=f"refund_failed:{refund.pk}", title=f"Refund failed at {refund.provider}: {payment.reference}",
        message=(f"{format_zar(refund.amount)} was not paid back. "
                 + ("The customer was already told it was refunded; the booking was reversed. Contact them."
                    if booked else "Nothing had been booked; the amount can be refunded again.")),
        fields={"refund": refund.pk, "provider_refund_id": refund.provider_refund_id or "",
                "reason": refund.failure_reason[:300]})


def refunds_resolve_unknown(*, now=None) -> dict:
    """Ask the provider again, with the same idempotency key, about refunds whose first call ended
    with an unknown outcome (module docstring). Any reserved Stripe/PayPal refund without the
    provider's id is one, whatever the reason: the call timed out, or the process died between the
    reservation and the call (no note was written then). Returns counts: booked, pending, failed,
    unknown, expired (alerted for staff)."""
    now = now or timezone.now()
    counts = {"booked": 0, "pending": 0, "failed": 0, "unknown": 0, "expired": 0}
    candidates = (Refund.objects.select_related("payment", "payment__customer", "payment__invoice")
                  .filter(status=Refund.Status.PENDING, provider_refund_id__isnull=True,
                          provider__in=list(UNKNOWN_OUTCOME_KEY_LIFETIME), created_at__lt=now - UNKNOWN_OUTCOME_MIN_AGE)
                  .order_by("created_at"))
    for refund in candidates:
        if refund.created_at < now - UNKNOWN_OUTCOME_KEY_LIFETIME[refund.provider]:
            counts["expired"] += 1
            _alert_unknown_outcome_expired(refund)
            continue
        result = _call_provider_and_finish(refund)
        if result.status in (Refund.Status.SUCCEEDED, Refund.Status.MANUAL):
            counts["booked"] += 1
        elif result.status == Refund.Status.FAILED:
            counts["failed"] += 1
        elif result.provider_refund_id:
            counts["pending"] += 1  # the provider has it and has not finished: its events decide
        else:
            counts["unknown"] += 1
    return counts


def _alert_unknown_outcome_expired(refund: Refund) -> None:
    payment = refund.payment
    refund_engine.refund_refused_for_good(
        key=f"refund_unknown_expired:{refund.pk}", title=f"Refund outcome unknown at {refund.provider}: {payment.reference}",
        message=(f"{format_zar(refund.amount)} may or may not have been paid back, and the provider no longer "
                 "replays our request. Check the provider's dashboard, then book or fail the refund by hand."),
        fields={"refund": refund.pk, "payment": payment.reference, "since": f"{refund.created_at:%Y-%m-%d %H:%M}"})
