"""Invoice writes: issue, void (+ reissue), credit notes, and the after-commit follow-ups.

An invoice is built from `LineSpec`s whose amounts are entered the way the customer sees prices
(VAT-inclusive for personal accounts, exclusive for business, `settings.BILLING`); VAT is computed
once per invoice by `billing.vat`. Numbers come gap-free from the `invoice` sequence inside the
creating transaction. Issuing posts the ledger entry `invoice:{pk}`, queues the `invoice_issued`
notification (sent after commit) and the PDF task (after commit). Issued invoices are never
edited: `invoice_void` + `invoice_reissue`, or `credit_note_create`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditNote, Customer, CustomerService, Invoice, InvoiceLine, LedgerEntry
from billing.proration import ProrataExplanation, explain_prorata, money, prorata_days
from billing.services.credit import apply_account_credit, lock_open_invoices
from billing.services.ledger import invoice_apply_payment, invoice_lock, ledger_post
from billing.services.pdf import invoice_documents_changed
from billing.vat import vat_breakdown
from circletel.errors import ApplicationError
from circletel.follow_ups import follow_up
from circletel.sequences import format_number, next_values

ZERO = Decimal("0.00")


class InvoiceError(ApplicationError):
    pass


@dataclass(frozen=True)
class LineSpec:
    """One line to put on an invoice; `amount` is in the account's price convention."""

    description: str
    amount: Decimal
    quantity: Decimal = Decimal("1")
    unit_price: Decimal | None = None
    period_start: date | None = None
    period_end: date | None = None
    days_charged: int | None = None
    days_in_period: int | None = None
    unrounded_amount: Decimal | None = None

    def to_model(self, invoice: Invoice, position: int) -> InvoiceLine:
        return InvoiceLine(
            invoice=invoice, position=position, description=self.description[:300], quantity=self.quantity,
            unit_price=self.amount if self.unit_price is None else self.unit_price, amount=self.amount,
            period_start=self.period_start, period_end=self.period_end, days_charged=self.days_charged,
            days_in_period=self.days_in_period,
            unrounded_amount=None if self.unrounded_amount is None else self.unrounded_amount.quantize(Decimal("1e-10")),
        )


# --- pure builders (shared by activation, the invoice run and the dashboard preview) ---------------------

def prices_include_vat_for(customer: Customer) -> bool:
    return bool(settings.BILLING["PRICES_INCLUDE_VAT"][customer.account_type])


def due_date_for(*, customer: Customer, invoice_type: str, issue_date: date, period_start: date | None = None) -> date:
    """Recurring invoices are due on the billing day (period start); others after the account's due days."""
    if invoice_type == Invoice.InvoiceType.RECURRING and period_start is not None:
        return max(period_start, issue_date)
    days = settings.BILLING["DUE_DAYS_BUSINESS" if customer.is_business else "DUE_DAYS_PERSONAL"]
    return issue_date + timedelta(days=days)


def _d(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def date_span(first: date, last: date) -> str:
    """Inclusive days, as short as stays clear: "15-31 Jan 2026", "25 Jan - 24 Feb 2026",
    "25 Dec 2025 - 24 Jan 2026", "31 Jan 2026"."""
    if first == last:
        return _d(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}-{_d(last)}"
    if first.year == last.year:
        return f"{first.day} {first:%b} - {_d(last)}"
    return f"{_d(first)} - {_d(last)}"


def explanation_line(service: CustomerService, e: ProrataExplanation, *, label: str = "") -> LineSpec:
    """A service charge line that explains itself: "Fibre 50/50, 15-31 Jan 2026 (17 of 31 days)".

    The text is what the customer reads (invoice page, PDF, ZOHO); the monthly price and the
    unrounded amount stay in their own columns of the line for staff. Lines issued before this
    wording keep their stored text ("15 Jan 2026 - 31 Jan 2026 (17/31 days of R 499.00)")."""
    last_day = e.period_end - timedelta(days=1)
    text = f"{label or service.package_name}, {date_span(e.period_start, last_day)}"
    if not e.is_full_period:
        text += f" ({e.describe()})"
    return LineSpec(description=text, amount=e.amount, unit_price=e.amount, period_start=e.period_start,
                    period_end=e.period_end, days_charged=e.days_charged, days_in_period=e.days_in_period,
                    unrounded_amount=e.unrounded)


def recurring_line(service: CustomerService, period_start: date, period_end: date, skipped_days: int = 0) -> LineSpec:
    """The monthly charge for [period_start, period_end), less skip-billing suspension days."""
    days_in_period = (period_end - period_start).days
    unrounded, amount = prorata_days(service.monthly_price, days_in_period - skipped_days, days_in_period)
    e = ProrataExplanation(monthly_price=service.monthly_price, period_start=period_start, period_end=period_end,
                           days_charged=days_in_period - skipped_days, days_in_period=days_in_period,
                           unrounded=unrounded, amount=amount)
    return explanation_line(service, e)


def activation_lines(service: CustomerService, activation: date) -> list[LineSpec]:
    """First invoice: pro-rata to the next billing date, then installation and router as separate lines."""
    e = explain_prorata(service.monthly_price, activation, service.billing_day)
    lines = [explanation_line(service, e)]
    if service.installation_fee > 0:
        lines.append(LineSpec(description="Installation (once-off)", amount=service.installation_fee))
    if service.router_fee > 0:
        router = f"Router {service.router_model}".strip() if service.router_model else "Router"
        lines.append(LineSpec(description=f"{router} (once-off)", amount=service.router_fee))
    return lines


@dataclass(frozen=True)
class InvoiceTotals:
    subtotal: Decimal
    vat_amount: Decimal
    total: Decimal


def invoice_totals(lines: list[LineSpec], *, prices_include_vat: bool) -> InvoiceTotals:
    gross = sum((line.amount for line in lines), ZERO)
    b = vat_breakdown(gross, prices_include_vat=prices_include_vat)
    return InvoiceTotals(subtotal=b.subtotal, vat_amount=b.vat, total=b.total)


def bill_to(customer: Customer) -> dict:
    """Who the tax invoice is addressed to, kept on the invoice as issued (later profile edits never change it)."""
    return {"bill_to_name": customer.display_name[:200],
            "customer_vat_number": customer.vat_number if customer.is_business else ""}


def invoice_number(issue_date: date, value: int) -> str:
    return format_number("INV", issue_date.year, value)


# --- writes ----------------------------------------------------------------------------------------------

def invoice_create(*, customer: Customer, invoice_type: str, lines: list[LineSpec],
                   service: CustomerService | None = None, issue_date: date | None = None,
                   period_start: date | None = None, period_end: date | None = None, notes: str = "",
                   created_by: str = "system", replaces: Invoice | None = None) -> Invoice:
    """Issue one invoice: number, lines, VAT, due date, ledger entry, notification and PDF after commit.

    `replaces` is the void invoice this one reissues (see `invoice_reissue`)."""
    if invoice_type not in Invoice.InvoiceType.values:
        raise InvoiceError("Unknown invoice type.", {"invoice_type": invoice_type})
    if not lines:
        raise InvoiceError("An invoice needs at least one line.")
    for line in lines:
        if not isinstance(line.amount, Decimal) or line.amount != money(line.amount) or line.amount < 0:
            raise InvoiceError("Line amounts are non-negative Rands and cents.", {"line": line.description})
    if service is not None and service.customer_id != customer.pk:
        raise InvoiceError("The service belongs to another customer.")
    if replaces is not None and not Invoice.objects.filter(pk=replaces.pk, customer=customer,
                                                           status=Invoice.Status.VOID).exists():
        raise InvoiceError("Only a void invoice of the same customer can be replaced.", {"replaces": replaces.number})
    issue_date = issue_date or timezone.localdate()
    inclusive = prices_include_vat_for(customer)
    totals = invoice_totals(lines, prices_include_vat=inclusive)
    if totals.total <= 0:
        raise InvoiceError("An invoice must have a positive total.")
    with transaction.atomic():
        # The customer's money lock first (see billing.services.credit), then the new invoice.
        locked = lock_open_invoices(customer_id=customer.pk)
        number = invoice_number(issue_date, next_values("invoice", 1)[0])
        invoice = Invoice.objects.create(
            number=number, customer=customer, service=service, invoice_type=invoice_type, issue_date=issue_date,
            due_date=due_date_for(customer=customer, invoice_type=invoice_type, issue_date=issue_date,
                                  period_start=period_start),
            period_start=period_start, period_end=period_end, prices_include_vat=inclusive,
            subtotal=totals.subtotal, vat_amount=totals.vat_amount, total=totals.total, notes=notes,
            replaces=replaces, **bill_to(customer),
        )
        InvoiceLine.objects.bulk_create([line.to_model(invoice, i) for i, line in enumerate(lines)])
        ledger_post(customer=customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=invoice.total,
                    reference=f"invoice:{invoice.pk}", description=f"Invoice {number}", effective_date=issue_date,
                    invoice=invoice, created_by=created_by)
        paid_from_credit = apply_account_credit(customer_id=customer.pk, locked_invoices=locked)
        if paid_from_credit:
            invoice.refresh_from_db(fields=["amount_paid", "amount_due", "status"])
        _notify_issued(invoice)
        if not invoice.is_subscription_invoice:
            # ZOHO gets its own copy now; a monthly invoice waits for ZOHO's and the sweep links it.
            _zoho_enqueue(invoice)
        if not paid_from_credit:  # (credit paying it recorded the render already: one render either way)
            follow_up("billing.tasks.render_invoice_pdf", invoice.pk, queue=settings.Q_DOCUMENTS_QUEUE)
    return invoice


def invoice_void(*, invoice: Invoice, reason: str, actor: str = "system") -> Invoice:
    """Void an unpaid invoice: status void, and a ledger entry reversing what is still owed on it."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceError("A reason is required to void an invoice.")
    with transaction.atomic():
        lock_open_invoices(customer_id=invoice.customer_id, extra_ids=[invoice.pk])
        locked = invoice_lock(invoice.pk)
        if locked.status == Invoice.Status.VOID:
            raise InvoiceError("This invoice is already void.", {"invoice": locked.number})
        if locked.amount_paid > credited_applied(locked):
            raise InvoiceError("An invoice with payments cannot be voided; refund or credit it instead.",
                               {"invoice": locked.number, "amount_paid": str(locked.amount_paid)})
        outstanding = locked.total - credited_total(locked)
        locked.status = Invoice.Status.VOID
        locked.voided_at = timezone.now()
        locked.void_reason = reason
        locked.save(update_fields=["status", "voided_at", "void_reason", "updated_at"])
        if outstanding > 0:
            ledger_post(customer=locked.customer, entry_type=LedgerEntry.EntryType.VOID, amount=-outstanding,
                        reference=f"void:{locked.pk}", description=f"Void {locked.number}: {reason}",
                        invoice=locked, created_by=actor)
        # Every void reaches ZOHO: ours voids the invoice we created, or ZOHO's own subscription
        # invoice for a monthly one (linked first if the sweep had not linked it yet).
        _zoho_enqueue(locked)
        invoice_documents_changed(locked.pk)  # the PDF says VOID (after commit)
    return locked


def invoice_reissue(*, invoice: Invoice, reason: str, lines: list[LineSpec] | None = None,
                    actor: str = "system") -> Invoice:
    """Void `invoice` and issue a replacement (same lines unless given) in one transaction."""
    with transaction.atomic():
        voided = invoice_void(invoice=invoice, reason=reason, actor=actor)
        if lines is None:
            lines = [LineSpec(description=x.description, amount=x.amount, quantity=x.quantity, unit_price=x.unit_price,
                              period_start=x.period_start, period_end=x.period_end, days_charged=x.days_charged,
                              days_in_period=x.days_in_period, unrounded_amount=x.unrounded_amount)
                     for x in voided.lines.all()]
        return invoice_create(customer=voided.customer, invoice_type=voided.invoice_type, lines=lines,
                              service=voided.service, period_start=voided.period_start, period_end=voided.period_end,
                              notes=f"Replaces {voided.number}: {reason}", created_by=actor, replaces=voided)


def credited_total(invoice: Invoice) -> Decimal:
    # To the cent: SQLite (the local database) adds decimals as floats.
    return money(Decimal(str(invoice.credit_notes.aggregate(s=Sum("total"))["s"] or 0)))


def credited_applied(invoice: Invoice) -> Decimal:
    return money(Decimal(str(invoice.credit_notes.aggregate(s=Sum("applied_amount"))["s"] or 0)))


def line_credit(invoice: Invoice, line: InvoiceLine, days: int, *, gross_lines: Decimal | None = None) -> Decimal:
    """The VAT-inclusive credit for `days` unused days of a service line, from what was invoiced.

    The line's share of the invoice total (so its price and its VAT basis, exclusive or inclusive,
    as invoiced; never today's price) per charged day: crediting every charged day of a one-line
    invoice gives back exactly its total. R 1,000 excl. VAT for 31 days, 10 unused: R 370.97."""
    if not line.days_charged or days <= 0:
        return ZERO
    days = min(days, line.days_charged)
    if gross_lines is None:
        gross_lines = sum((x.amount for x in invoice.lines.all()), ZERO)
    if gross_lines <= 0:
        return ZERO
    return money(invoice.total * line.amount * days / (gross_lines * line.days_charged))


def credit_note_create(*, invoice: Invoice, amount: Decimal, reason: str, created_by: str = "system",
                       issue_date: date | None = None, period_start: date | None = None,
                       period_end: date | None = None) -> CreditNote:
    """Credit part of an invoice (`amount` is VAT-inclusive). Never more than what is still uncredited.

    The credit first reduces what is unpaid on the invoice (it moves `amount_paid`); any rest is
    credit on the account (the ledger entry carries the full amount), applied at once to the
    customer's other open invoices (`billing.services.credit`).
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceError("A reason is required for a credit note.")
    if not isinstance(amount, Decimal) or amount <= 0 or amount != money(amount):
        raise InvoiceError("A credit note amount is a positive amount in Rands and cents.", {"amount": str(amount)})
    issue_date = issue_date or timezone.localdate()
    with transaction.atomic():
        open_invoices = lock_open_invoices(customer_id=invoice.customer_id, extra_ids=[invoice.pk])
        locked = invoice_lock(invoice.pk)
        if locked.status == Invoice.Status.VOID:
            raise InvoiceError("A void invoice cannot be credited.", {"invoice": locked.number})
        available = locked.total - credited_total(locked)
        if amount > available:
            raise InvoiceError("The credit exceeds what is still uncredited on the invoice.",
                               {"invoice": locked.number, "available": str(available), "amount": str(amount)})
        b = vat_breakdown(amount, prices_include_vat=True)
        applied = min(amount, locked.total - locked.amount_paid)
        number = format_number("CN", issue_date.year, next_values("credit_note", 1)[0])
        note = CreditNote.objects.create(number=number, invoice=locked, customer_id=locked.customer_id, reason=reason,
                                         period_start=period_start, period_end=period_end,
                                         subtotal=b.subtotal, vat_amount=b.vat, total=amount, applied_amount=applied,
                                         issue_date=issue_date, created_by=created_by)
        ledger_post(customer=locked.customer, entry_type=LedgerEntry.EntryType.CREDIT_NOTE, amount=-amount,
                    reference=f"credit_note:{note.pk}", description=f"Credit note {number} on {locked.number}",
                    effective_date=issue_date, invoice=locked, credit_note=note, created_by=created_by)
        if applied > 0:
            invoice_apply_payment(invoice_id=locked.pk, amount=applied)
        if amount > applied:  # the rest is account credit: it pays the customer's other open invoices
            apply_account_credit(customer_id=locked.customer_id, locked_invoices=open_invoices)
        invoice_documents_changed(locked.pk)  # the PDF lists the credit note
        _zoho_enqueue(locked)  # the invoice sync mirrors its credit notes in ZOHO
    return note


# --- follow-ups --------------------------------------------------------------------------------------------

def invoice_notification_context(invoice: Invoice) -> dict:
    return {
        "invoice_number": invoice.number, "customer_name": invoice.customer.display_name,
        "account_number": invoice.customer.account_number, "total": invoice.total,
        "amount_due": invoice.total - invoice.amount_paid, "due_date": invoice.due_date,
        "issue_date": invoice.issue_date, "period_start": invoice.period_start, "period_end": invoice.period_end,
    }


def _notify_issued(invoice: Invoice) -> None:
    from notifications.services import notify

    # Email and SMS, each as the customer's preferences say (notify skips a channel switched off or without address).
    notify(event="invoice_issued", customer=invoice.customer, context=invoice_notification_context(invoice),
           idempotency_key=f"invoice_issued:{invoice.pk}", channels=("email", "sms"))


def invoices_notify_issued(*, invoice_ids: list[int]) -> int:
    """Queue `invoice_issued` for invoices made in bulk (idempotent per invoice by its key)."""
    count = 0
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).select_related("customer__billing_account"):
        if invoice.status == Invoice.Status.VOID:
            continue
        with transaction.atomic():
            _notify_issued(invoice)
        count += 1
    return count


def _zoho_enqueue(entity) -> None:
    from zoho_sync.services.outbox import enqueue_sync

    enqueue_sync(entity=entity)
