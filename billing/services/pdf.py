"""Invoice PDFs: weasyprint renders `templates/billing/invoice_pdf.html`.

Rendering runs in a task (`billing.tasks.render_invoice_pdf`, on the documents queue) after the
invoice's transaction has committed, never inside the invoice run. The lines and totals of an issued
invoice never change, but the document follows the money: whenever its paid amount or status moves
(paid, part-paid, credited, a payment reversed or refunded, voided) `invoice_documents_changed` queues
a fresh render, once per transaction per invoice, after commit. The new file replaces the stored one
(same number), so a download always shows the payments and credits listed, the amount due now, the
"PAID" or "VOID" mark, and "Please pay by" only while something is still due.

What paid the invoice is read from data billing owns or was handed (billing never imports the apps
above it): the paid sources registered with `billing.services.ledger_check` (payments registers its
allocations), each described by its ledger entry; credit notes on the invoice; allocations of credit
notes' remainders. `invoice_payments_and_credits` returns them; the dashboard's invoice page shows the
same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import CreditNote, Invoice, LedgerEntry
from circletel.follow_ups import follow_up
from circletel.money import format_zar

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")


# --- re-rendering when the money moves ----------------------------------------------------------------

class _RenderAfterCommit:
    """The on-commit marker of one invoice's render follow-up; comparable, so a transaction that moves
    the same invoice several times (a payment spread, a credit note, a reversal) records it once."""

    def __init__(self, invoice_id: int):
        self.invoice_id = invoice_id

    def __call__(self) -> None:
        pass  # the follow-up rings itself on commit; this entry only marks "already recorded"

    def __eq__(self, other):
        return isinstance(other, _RenderAfterCommit) and other.invoice_id == self.invoice_id

    def __hash__(self):
        return hash(("render-invoice-pdf", self.invoice_id))


def invoice_documents_changed(invoice_id: int) -> None:
    """The invoice's paid amount or status changed: render its PDF again after this transaction commits.

    Recorded as a follow-up row in this transaction (`circletel.follow_ups`), so a lost task never
    leaves a stale PDF. Once per transaction per invoice (not rolled back with a savepoint)."""
    connection = transaction.get_connection()
    marker = _RenderAfterCommit(invoice_id)
    if connection.in_atomic_block and any(entry[1] == marker for entry in connection.run_on_commit):
        return
    follow_up("billing.tasks.render_invoice_pdf", invoice_id, queue=settings.Q_DOCUMENTS_QUEUE)
    if connection.in_atomic_block:
        transaction.on_commit(marker)


# --- what paid the invoice --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MoneyRow:
    """One payment or credit shown on an invoice: `amount` is what it took off this invoice."""

    on: date
    description: str
    amount: Decimal


def _paid_sources() -> list:
    from billing.services import ledger_check

    return list(getattr(ledger_check, "_INVOICE_PAID_SOURCES", []))


def _source_rows(source, invoice_id: int) -> list:
    """The rows of a registered paid source for one invoice.

    A source is written for `check_ledger` as a subquery (`invoice_id=OuterRef("pk")` over invoices);
    nesting it under a one-invoice query resolves that reference without knowing the source's model."""
    rows = source()
    model = rows.model
    invoice = Invoice.objects.filter(pk=invoice_id).filter(Exists(rows.filter(pk=OuterRef(OuterRef("pk")))))
    return list(model._default_manager.filter(Exists(invoice)).order_by("pk"))


def _local_date(value) -> date | None:
    if value is None:
        return None
    return timezone.localdate(value) if timezone.is_aware(value) else value.date()


def _describe_source_rows(rows: list) -> list[MoneyRow]:
    payment_ids = {getattr(r, "payment_id", None) for r in rows} - {None}
    entries = {e.payment_id: e for e in LedgerEntry.objects.filter(
        payment_id__in=payment_ids, entry_type=LedgerEntry.EntryType.PAYMENT)} if payment_ids else {}
    note_ids = {getattr(r, "credit_note_id", None) for r in rows} - {None}
    notes = {n.pk: n for n in CreditNote.objects.filter(pk__in=note_ids).select_related("invoice")} if note_ids else {}
    out = []
    for row in rows:
        entry = entries.get(getattr(row, "payment_id", None))
        note = notes.get(getattr(row, "credit_note_id", None))
        made = _local_date(getattr(row, "created_at", None))
        if entry is not None:
            text = entry.description
            if made and made > entry.effective_date:  # paid from account credit later than it arrived
                text += f" (received {entry.effective_date.day} {entry.effective_date:%b %Y}, credit applied)"
            out.append(MoneyRow(on=made or entry.effective_date, description=text, amount=row.amount))
        elif note is not None:
            out.append(MoneyRow(on=made or note.issue_date,
                                description=f"Credit from credit note {note.number} (on {note.invoice.number})",
                                amount=row.amount))
        else:
            out.append(MoneyRow(on=made or timezone.localdate(), description="Payment", amount=row.amount))
    return out


def _credit_note_allocation_model():
    """`CreditNoteAllocation` (credit-note remainders paid onto other invoices), when billing has it."""
    from billing.models import invoices as invoice_models

    return getattr(invoice_models, "CreditNoteAllocation", None)


def invoice_payments_and_credits(invoice: Invoice) -> list[MoneyRow]:
    """Every payment and credit that took something off `invoice`, oldest first; their amounts add up to
    `invoice.amount_paid` (a row "Other payments and credits" carries any part no source explains)."""
    rows: list = []
    models_seen = set()
    for source in _paid_sources():
        found = _source_rows(source, invoice.pk)
        models_seen.add(source().model)
        rows.extend(found)
    allocation_model = _credit_note_allocation_model()
    if allocation_model is not None and allocation_model not in models_seen:
        rows.extend(allocation_model._default_manager.filter(invoice_id=invoice.pk).order_by("pk"))
    out = _describe_source_rows(rows)
    for note in invoice.credit_notes.order_by("issue_date", "pk"):
        text = f"Credit note {note.number}: {note.reason}"
        rest = note.total - note.applied_amount
        if rest > 0:
            text += f" ({format_zar(rest)} of its {format_zar(note.total)} is credit on your account)"
        out.append(MoneyRow(on=note.issue_date, description=text, amount=note.applied_amount))
    explained = sum((r.amount for r in out), ZERO)
    if explained != invoice.amount_paid:
        out.append(MoneyRow(on=timezone.localdate(invoice.updated_at) if invoice.updated_at else invoice.issue_date,
                            description="Other payments and credits", amount=invoice.amount_paid - explained))
    return sorted(out, key=lambda r: r.on)


# --- the document -------------------------------------------------------------------------------------------

def invoice_document_facts(invoice: Invoice) -> dict:
    """What the PDF and the dashboard's invoice page both show beyond the lines: the money rows, the
    amount due now, the PAID/VOID marks, whether to ask for payment, and the void/reissue links."""
    from billing.services.invoices import credited_applied  # (invoices imports this module)

    rows = invoice_payments_and_credits(invoice)
    is_void = invoice.status == Invoice.Status.VOID
    amount_due = ZERO if is_void else invoice.total - invoice.amount_paid
    replaced_by = Invoice.objects.filter(replaces_id=invoice.pk).only("pk", "number", "issue_date").first()
    return {
        "money_rows": rows, "amount_due": amount_due, "is_void": is_void,
        "is_paid": invoice.status == Invoice.Status.PAID,
        # Settled by its own credit notes alone (no money received): says "credited", not "paid".
        "is_credited": (invoice.status == Invoice.Status.PAID and invoice.amount_paid > 0
                        and credited_applied(invoice) >= invoice.amount_paid),
        "paid_on": max((r.on for r in rows), default=None) if invoice.status == Invoice.Status.PAID else None,
        "ask_to_pay": not is_void and amount_due > 0,
        "replaces": invoice.replaces if invoice.replaces_id else None, "replaced_by": replaced_by,
        # As issued: the VAT number and name on the invoice, never the profile's current ones.
        "show_vat_number": bool(invoice.customer_vat_number), "customer_vat_number": invoice.customer_vat_number,
        "bill_to_name": invoice.bill_to_name or invoice.customer.display_name,
    }


def invoice_pdf_context(invoice: Invoice) -> dict:
    lines = list(invoice.lines.order_by("position", "pk"))
    credited = sum((n.total for n in invoice.credit_notes.all()), start=invoice.total * 0)
    return {
        "invoice": invoice, "customer": invoice.customer, "lines": lines, "company": settings.COMPANY,
        "payment_reference": invoice.number, "credited": credited,
        "tax_label": "Prices include VAT" if invoice.prices_include_vat else "Prices exclude VAT",
        **invoice_document_facts(invoice),
    }


def invoice_pdf_html(invoice: Invoice) -> str:
    return render_to_string("billing/invoice_pdf.html", invoice_pdf_context(invoice))


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    from weasyprint import HTML

    return HTML(string=invoice_pdf_html(invoice), base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_render_pdf(*, invoice_id: int) -> Invoice:
    """Render and store the invoice's PDF as it stands now; sets `pdf_generated_at`."""
    invoice = Invoice.objects.select_related("customer", "replaces").get(pk=invoice_id)
    data = invoice_pdf_bytes(invoice=invoice)
    old = invoice.pdf.name if invoice.pdf else None
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(data), save=False)
    invoice.pdf_generated_at = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name, pdf_generated_at=invoice.pdf_generated_at)
    if old and old != invoice.pdf.name:
        invoice.pdf.storage.delete(old)
    return invoice
