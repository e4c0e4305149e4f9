"""Invoice PDFs: weasyprint renders `templates/billing/invoice_pdf.html`.

Rendering runs in a task (`billing.tasks.render_invoice_pdf`) after the invoice's transaction has
committed, never inside the invoice run. Re-rendering replaces the stored file (the invoice itself
is immutable, so the content is the same).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import Invoice


def invoice_pdf_context(invoice: Invoice) -> dict:
    lines = list(invoice.lines.order_by("position", "pk"))
    credited = sum((n.total for n in invoice.credit_notes.all()), start=invoice.total * 0)
    return {
        "invoice": invoice, "customer": invoice.customer, "lines": lines, "company": settings.COMPANY,
        "payment_reference": invoice.number, "credited": credited,
        "amount_due": invoice.total - invoice.amount_paid,
        "tax_label": "Prices include VAT" if invoice.prices_include_vat else "Prices exclude VAT",
    }


def invoice_pdf_html(invoice: Invoice) -> str:
    return render_to_string("billing/invoice_pdf.html", invoice_pdf_context(invoice))


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    from weasyprint import HTML

    return HTML(string=invoice_pdf_html(invoice), base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_render_pdf(*, invoice_id: int) -> Invoice:
    """Render and store the invoice's PDF; sets `pdf_generated_at`."""
    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    data = invoice_pdf_bytes(invoice=invoice)
    old = invoice.pdf.name if invoice.pdf else None
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(data), save=False)
    invoice.pdf_generated_at = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name, pdf_generated_at=invoice.pdf_generated_at)
    if old and old != invoice.pdf.name:
        invoice.pdf.storage.delete(old)
    return invoice
