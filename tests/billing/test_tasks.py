from datetime import date

import pytest

from billing.models import CustomerService, Invoice
from billing.schedules import SCHEDULES
from billing.services.invoice_run import invoice_run
from billing.tasks import notify_invoices_issued, render_invoice_pdfs
from notifications.models import NotificationLog
from tests.billing.factories import service as make_service

pytestmark = pytest.mark.django_db


def test_run_followups_notify_once_and_render_pdfs():
    make_service(status=CustomerService.Status.ACTIVE, next_billing_date=date(2026, 2, 1))
    invoice_run(run_date=date(2026, 1, 29), followups=False)
    ids = list(Invoice.objects.values_list("pk", flat=True))
    notify_invoices_issued(ids)
    notify_invoices_issued(ids)  # a retried task sends nothing twice
    assert NotificationLog.objects.filter(event="invoice_issued", channel="email").count() == 1
    render_invoice_pdfs(ids)
    invoice = Invoice.objects.get()
    assert invoice.pdf_generated_at is not None and invoice.pdf.name.endswith(".pdf")


def test_schedules_declare_the_run_at_two_and_dunning():
    specs = {s.name: s for s in SCHEDULES}
    assert specs["invoice_run"].cron == "0 2 * * *"
    assert specs["invoice_run"].func == "billing.tasks.run_invoice_run"
    assert specs["dunning"].func == "billing.tasks.run_dunning"
