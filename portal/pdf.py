"""PDFs the dashboard serves: invoices (the stored file, else rendered on demand) and statements."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from billing.models import Invoice
from billing.services import pdf as billing_pdf
from portal.selectors import Statement


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The invoice's stored PDF while it is current, else one rendered now by `billing.services.pdf`
    (served, not stored: storing is the render task's job, so a GET writes nothing). A stored file older
    than the invoice's last change (a payment, credit or void whose re-render has not run yet) is stale."""
    current = invoice.pdf_generated_at is not None and invoice.pdf_generated_at >= invoice.updated_at
    if invoice.pdf and current:
        try:
            with invoice.pdf.open("rb") as fh:
                return fh.read()
        except (FileNotFoundError, OSError):
            pass
    return billing_pdf.invoice_pdf_bytes(invoice=invoice)


def statement_pdf_bytes(stmt: Statement) -> bytes:
    from weasyprint import HTML

    html = render_to_string("dashboard/statement_pdf.html", {"s": stmt, "COMPANY": settings.COMPANY})
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
