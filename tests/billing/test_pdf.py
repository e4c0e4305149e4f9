from datetime import date
from decimal import Decimal

import pytest

from billing.models import Invoice
from billing.services.lifecycle import service_activate
from billing.services.pdf import invoice_pdf_html, invoice_render_pdf
from billing.tasks import render_invoice_pdf
from tests.billing.factories import service as make_service

pytestmark = pytest.mark.django_db


def _invoice():
    svc = make_service(monthly_price=Decimal("499.00"), installation_fee=Decimal("1091.50"))
    return service_activate(service=svc, reason="installed", activation_date=date(2026, 1, 15))


def test_html_has_everything_the_customer_needs():
    invoice = _invoice()
    html = invoice_pdf_html(invoice)
    for text in (invoice.number, invoice.customer.account_number, "CircleTel (Pty) Ltd", "15-31 Jan 2026 (17 of 31 days)",
                 "R 1,365.15", "R 178.06", "R 1,365.15", "First National Bank", "Payment reference",
                 "15 January 2026", "22 January 2026"):
        assert text in html, text
    assert (invoice.total, invoice.vat_amount) == (Decimal("1365.15"), Decimal("178.06"))


def test_task_renders_and_stores_the_pdf():
    invoice = _invoice()
    render_invoice_pdf(invoice.pk)
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert invoice.pdf.name.endswith(f"{invoice.number}.pdf")
    assert invoice.pdf_generated_at is not None
    with invoice.pdf.open("rb") as fh:
        assert fh.read(5) == b"%PDF-"
    first_name = invoice.pdf.name
    invoice_render_pdf(invoice_id=invoice.pk)  # safe to run twice: one stored file
    invoice.refresh_from_db()
    assert invoice.pdf.storage.exists(invoice.pdf.name)
    assert invoice.pdf.name == first_name or not invoice.pdf.storage.exists(first_name)


def test_customer_invoice_names_the_days_once_and_keeps_audit_detail_off_it():
    """The unrounded amount is audit detail: stored on the line (shown in the admin), not printed."""
    invoice = _invoice()
    line = invoice.lines.order_by("position").first()
    assert line.unrounded_amount == Decimal("273.6451612903")  # still stored, unchanged
    html = invoice_pdf_html(invoice)
    assert html.count("17 of 31 days") == 1
    assert "unrounded" not in html and "273.645" not in html
    assert "R 499.00" not in html  # the monthly price is not repeated in the line text
