"""Reconciliation: recompute balances and paid amounts from their sources and list every difference.

- a customer's `BillingAccount.balance` must equal the sum of their ledger entries;
- an invoice's `amount_paid` must equal what the registered payment sources say was paid onto it
  (payments registers its allocations of payments not reversed: `register_invoice_paid_source`)
  plus the part of its credit notes applied to it;
- every issued invoice has its `invoice:{pk}` ledger entry for exactly its total;
- no customer has an open invoice beside unapplied account credit (`billing.services.credit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import BillingAccount, CreditNote, Customer, Invoice, LedgerEntry
from billing.proration import money

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)

# Apps above billing register what they paid onto invoices: a callable returning a queryset over
# their rows for `invoice_id=OuterRef("pk")` with an `amount` column (billing never imports them).
_INVOICE_PAID_SOURCES: list[Callable[[], QuerySet]] = []


def register_invoice_paid_source(source: Callable[[], QuerySet]) -> None:
    if source not in _INVOICE_PAID_SOURCES:
        _INVOICE_PAID_SOURCES.append(source)


@dataclass(frozen=True)
class Difference:
    kind: str  # balance | invoice_paid | invoice_entry | unapplied_credit
    ref: str
    stored: Decimal
    recomputed: Decimal

    def __str__(self):
        return f"{self.kind} {self.ref}: stored {self.stored}, recomputed {self.recomputed}"



def _paid_from_sources():
    total = Value(ZERO, output_field=MONEY)
    for source in _INVOICE_PAID_SOURCES:
        rows = source().order_by()
        total = total + Coalesce(Subquery(rows.values("invoice_id").annotate(s=Sum("amount")).values("s")[:1],
                                          output_field=MONEY), Value(ZERO), output_field=MONEY)
    return total


def ledger_differences(*, chunk: int = 5000) -> list[Difference]:
    out: list[Difference] = []
    entries = LedgerEntry.objects.filter(customer_id=OuterRef("customer_id")).order_by()
    accounts = BillingAccount.objects.annotate(recomputed=Coalesce(
        Subquery(entries.values("customer_id").annotate(s=Sum("amount")).values("s")[:1], output_field=MONEY),
        Value(ZERO), output_field=MONEY)).select_related("customer").order_by("pk")
    for acc in accounts.iterator(chunk_size=chunk):
        if money(Decimal(acc.balance)) != money(Decimal(acc.recomputed)):
            out.append(Difference("balance", acc.customer.account_number, acc.balance, money(Decimal(acc.recomputed))))

    credits = CreditNote.objects.filter(invoice_id=OuterRef("pk")).order_by()
    own_entry = LedgerEntry.objects.filter(invoice_id=OuterRef("pk"), entry_type=LedgerEntry.EntryType.INVOICE).order_by()
    invoices = Invoice.objects.annotate(
        allocated=_paid_from_sources(),
        credited=Coalesce(Subquery(credits.values("invoice_id").annotate(s=Sum("applied_amount")).values("s")[:1],
                                   output_field=MONEY), Value(ZERO), output_field=MONEY),
        entry=Subquery(own_entry.values("amount")[:1], output_field=MONEY),
    ).values("number", "amount_paid", "total", "allocated", "credited", "entry").order_by("pk")
    for inv in invoices.iterator(chunk_size=chunk):
        paid = money(Decimal(inv["allocated"]) + Decimal(inv["credited"]))
        if money(Decimal(inv["amount_paid"])) != paid:
            out.append(Difference("invoice_paid", inv["number"], inv["amount_paid"], paid))
        entry = money(Decimal(inv["entry"])) if inv["entry"] is not None else None
        if entry != money(Decimal(inv["total"])):
            out.append(Difference("invoice_entry", inv["number"], inv["total"], entry if entry is not None else ZERO))

    from billing.services.credit import customers_with_open_invoices_and_credit, unapplied_credit
    for customer_id in customers_with_open_invoices_and_credit():
        account = Customer.objects.filter(pk=customer_id).values_list("account_number", flat=True).first()
        # stored: the credit left unapplied; recomputed: what it should be (applied to the open invoices).
        out.append(Difference("unapplied_credit", account, unapplied_credit(customer_id), ZERO))
    return out
