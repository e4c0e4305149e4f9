"""PDFs the dashboard serves: invoices (stored file, else the billing renderer) and statements."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from billing.dashboard.integrations import call_with_supported_kwargs, invoice_pdf_renderer
from billing.dashboard.selectors import Statement
from billing.models import Invoice


def invoice_pdf_bytes(invoice: Invoice) -> bytes | None:
    """The invoice's stored PDF, or one rendered on demand by the billing PDF module; None if neither."""
    if invoice.pdf:
        try:
            with invoice.pdf.open("rb") as fh:
                return fh.read()
        except (FileNotFoundError, OSError):
            pass
    render = invoice_pdf_renderer()
    if render is None:
        return None
    result = call_with_supported_kwargs(render, invoice=invoice, invoice_id=invoice.pk)
    if isinstance(result, bytes | bytearray):
        return bytes(result)
    if hasattr(result, "read"):  # a FieldFile / file object
        with result.open("rb") if hasattr(result, "open") else result as fh:
            return fh.read()
    invoice.refresh_from_db(fields=["pdf"])
    if invoice.pdf:
        with invoice.pdf.open("rb") as fh:
            return fh.read()
    return None


def statement_pdf_bytes(stmt: Statement) -> bytes:
    from weasyprint import HTML

    html = render_to_string("dashboard/statement_pdf.html", {"s": stmt, "COMPANY": settings.COMPANY})
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
