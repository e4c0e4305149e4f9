"""Account credit: money the customer has with us that no invoice has taken yet, applied to open invoices.

Credit appears when a payment is larger than what is open (its unallocated part), when a credit note
is larger than what is unpaid on its invoice (its remainder), and when a failed refund gives money
back. Whenever an invoice is issued or credit appears, `apply_account_credit` spreads every piece of
unapplied credit (oldest first) over the customer's open invoices (oldest first) in the same
transaction, so the books never hold an open invoice beside unused credit: dunning, suspension and
debit orders then act only on what is really owed.

Applying credit moves no money on the ledger (the credit is already there as a negative balance);
it records who paid what onto which invoice: a `payments.PaymentAllocation` for a payment's credit, a
`CreditNoteAllocation` for a credit note's. `check_ledger` proves both (they are registered paid
sources) and that no customer has open invoices and unapplied credit at once.

Sources register here (billing never imports the apps above it): billing registers credit notes;
payments registers payments (payments/apps.py).

Locks: the customer's `BillingAccount` row is the per-customer money lock. `lock_open_invoices`
takes it first, then the open invoices in ascending id order; every path that allocates, refunds,
reverses, credits or issues an invoice calls it before changing anything, so they serialise per
customer instead of deadlocking, and credit can never be spent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import BillingAccount, CreditNote, Invoice
from billing.models.invoices import CreditNoteAllocation
from billing.services.ledger import invoice_apply_payment

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class CreditPiece:
    """One piece of unapplied credit: `source` names the registered source, `key` its row."""

    source: str
    key: int
    since: date
    amount: Decimal


@dataclass(frozen=True)
class CreditSource:
    name: str
    pieces: Callable[[int], Iterable[CreditPiece]]  # the customer's unapplied credit (caller holds the account lock)
    apply: Callable[[CreditPiece, int, Decimal], None]  # record `amount` of the piece paid onto invoice id
    customers: Callable[[], QuerySet]  # customer ids with unapplied credit (values_list flat), for the sweep


_SOURCES: dict[str, CreditSource] = {}


def register_credit_source(source: CreditSource) -> None:
    _SOURCES[source.name] = source


# --- locks ------------------------------------------------------------------------------------------------

def account_lock(customer_id: int) -> None:
    """Take the customer's money lock (their BillingAccount row) for the rest of the transaction.

    `no_key`: the row's key never changes, and a plain FOR UPDATE would also block rows that merely
    reference it (an invoice inserted for this customer in another transaction)."""
    list(BillingAccount.objects.select_for_update(no_key=True).filter(customer_id=customer_id).values_list("pk"))


def lock_open_invoices(*, customer_id: int, extra_ids=()) -> dict[int, Invoice]:
    """Take the customer's money lock, then lock their open invoices (plus `extra_ids`) in ascending id order."""
    account_lock(customer_id)
    wanted = Q(customer_id=customer_id, status__in=Invoice.OPEN_STATUSES)
    extra = [i for i in extra_ids if i]
    if extra:
        wanted |= Q(pk__in=extra)
    locked = (Invoice.objects.select_for_update().filter(wanted).order_by("pk")
              .only("pk", "number", "customer_id", "status", "total", "amount_paid", "issue_date", "due_date"))
    return {inv.pk: inv for inv in locked}


# --- applying credit -------------------------------------------------------------------------------------

def unapplied_credit_pieces(customer_id: int) -> list[CreditPiece]:
    pieces = [p for source in _SOURCES.values() for p in source.pieces(customer_id) if p.amount > 0]
    return sorted(pieces, key=lambda p: (p.since, p.source, p.key))


def unapplied_credit(customer_id: int) -> Decimal:
    return sum((p.amount for p in unapplied_credit_pieces(customer_id)), ZERO)


def apply_account_credit(*, customer_id: int, locked_invoices: dict[int, Invoice] | None = None) -> Decimal:
    """Spread the customer's unapplied credit over their open invoices, oldest first. Returns the amount applied.

    Runs in the caller's transaction (or its own); takes the customer's locks unless the caller
    passes the invoices it already locked with `lock_open_invoices`."""
    with transaction.atomic(savepoint=False):
        fresh = locked_invoices is None
        if fresh:  # locked just now: the rows are current and every open invoice is among them
            invoices = lock_open_invoices(customer_id=customer_id)
            open_ids = {pk for pk, inv in invoices.items() if inv.is_open}
        else:
            # The caller locked earlier: an invoice it created since is open too, and rows may be stale.
            invoices = locked_invoices
            open_ids = set(Invoice.objects.filter(customer_id=customer_id, status__in=Invoice.OPEN_STATUSES)
                           .values_list("pk", flat=True))
            missing = open_ids - set(invoices)
            if missing:
                invoices = {**invoices, **{inv.pk: inv for inv in Invoice.objects.select_for_update().filter(pk__in=missing)}}
        if not open_ids:
            return ZERO
        pieces = unapplied_credit_pieces(customer_id)
        if not pieces:
            return ZERO
        order = sorted((invoices[i] for i in open_ids), key=lambda inv: (inv.issue_date, inv.pk))
        applied = ZERO
        pieces_left = [[p, p.amount] for p in pieces]
        for inv in order:
            if fresh:
                owed = inv.total - inv.amount_paid
            else:
                due = Invoice.objects.filter(pk=inv.pk).values_list("total", "amount_paid").first()
                owed = due[0] - due[1]
            for slot in pieces_left:
                if owed <= ZERO:
                    break
                piece, left = slot
                take = min(left, owed)
                if take <= ZERO:
                    continue
                invoice_apply_payment(invoice_id=inv.pk, amount=take)
                _SOURCES[piece.source].apply(piece, inv.pk, take)
                slot[1] = left - take
                owed -= take
                applied += take
        if applied:
            logger.info("applied R %s of account credit for customer %s", applied, customer_id)
        return applied


def credit_apply_sweep(*, limit: int = 5000) -> dict:
    """Apply credit for every customer who has both unapplied credit and an open invoice.

    The safety net behind the write paths (which apply credit themselves): runs before dunning and
    the debit-order run, and heals books written before credit was applied automatically."""
    candidates = customers_with_open_invoices_and_credit()[:limit]
    customers = applied = 0
    total = ZERO
    for customer_id in candidates:
        with transaction.atomic():
            amount = apply_account_credit(customer_id=customer_id)
        customers += 1
        if amount:
            applied += 1
            total += amount
    return {"customers_checked": customers, "customers_applied": applied, "amount": total}


# --- billing's own source: credit-note remainders -------------------------------------------------------------

def _note_allocated():
    rows = CreditNoteAllocation.objects.filter(credit_note_id=OuterRef("pk")).order_by().values("credit_note_id")
    return Coalesce(Subquery(rows.annotate(s=Sum("amount")).values("s")[:1], output_field=MONEY),
                    Value(ZERO), output_field=MONEY)


def _notes_with_credit() -> QuerySet:
    return (CreditNote.objects.annotate(allocated=_note_allocated())
            .annotate(left=F("total") - F("applied_amount") - F("allocated")).filter(left__gt=0))


def _note_pieces(customer_id: int) -> list[CreditPiece]:
    rows = _notes_with_credit().filter(customer_id=customer_id).values_list("pk", "issue_date", "left")
    return [CreditPiece("credit_note", pk, since, Decimal(left).quantize(Decimal("0.01"))) for pk, since, left in rows]


def _note_apply(piece: CreditPiece, invoice_id: int, amount: Decimal) -> None:
    updated = (CreditNoteAllocation.objects.filter(credit_note_id=piece.key, invoice_id=invoice_id)
               .update(amount=F("amount") + amount))
    if not updated:
        CreditNoteAllocation.objects.create(credit_note_id=piece.key, invoice_id=invoice_id, amount=amount)
    # The ZOHO mirror applies the credit to that invoice too (zoho_sync reads these rows by registration).
    from zoho_sync.services.outbox import enqueue_sync

    enqueue_sync(entity=Invoice(pk=invoice_id))


def invoice_credit_allocations() -> QuerySet:
    """What credit-note remainders paid onto the outer invoice (`OuterRef("pk")`), for `check_ledger`."""
    return CreditNoteAllocation.objects.filter(invoice_id=OuterRef("pk"))


def customers_with_credit(among: Iterable[int] | None = None) -> set[int]:
    """Customers with unapplied credit (only those in `among`, if given): one query per source."""
    out: set[int] = set()
    for source in _SOURCES.values():
        rows = source.customers()
        if among is not None:
            rows = rows.filter(customer_id__in=list(among))
        out.update(rows)
    return out


def customers_with_open_invoices_and_credit() -> list[int]:
    """Customers whose books break the rule "no open invoice beside unapplied credit" (check_ledger)."""
    with_credit = customers_with_credit()
    return sorted(set(Invoice.objects.filter(customer_id__in=with_credit, status__in=Invoice.OPEN_STATUSES)
                      .values_list("customer_id", flat=True)))


register_credit_source(CreditSource(
    name="credit_note", pieces=_note_pieces, apply=_note_apply,
    customers=lambda: _notes_with_credit().values_list("customer_id", flat=True)))
