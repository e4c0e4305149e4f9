"""Portal demo step (`manage.py seed_demo` runs it last, after billing's and payments' demo data):
a customer in credit whose new invoice is paid from it, a billing-day change with its stub line, and
the invoice PDFs follow the money there too.

Payments made by the demo queue fresh renders on the documents queue (`billing.services.pdf`), which
only run with a documents worker. So that a demo shows at once what a customer downloads, the PDFs of
invoices whose money moved (paid, part-paid, credited, void) are rendered here when the stored file is
missing or older than the invoice's last change. Idempotent: a current file is left alone.
"""

from __future__ import annotations

from django.db.models import F, Q

from billing.models import Invoice
from billing.services.pdf import invoice_render_pdf

DEMO_EMAIL_DOMAIN = "example.co.za"


CREDIT_DEMO = ("lerato.credit@example.co.za", "Lerato", "Mokoena")
DAY_CHANGE_DEMO = ("bongani.days@example.co.za", "Bongani", "Khumalo")


def _demo_customer(email: str, first: str, last: str):
    """A demo customer with a login (the demo password, like every demo customer)."""
    from billing.management.commands.seed_demo import DEMO_PASSWORD
    from billing.models import Customer
    from billing.services.customers import customer_sign_up

    existing = Customer.objects.filter(email__iexact=email).first()
    return existing, existing or customer_sign_up(email=email, password=DEMO_PASSWORD, first_name=first,
                                                  last_name=last)


def _credit_and_day_change(stdout) -> None:
    """Issue 16 in the demo: a customer in credit whose new invoice is paid from it, and a billing-day
    change with its explained stub line. Idempotent: customers that exist are left alone."""
    from datetime import timedelta
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from billing.models import CustomerService
    from billing.services.lifecycle import service_activate, service_change_billing_day
    from payments.services.payments import payment_complete

    today = timezone.localdate()
    existing, customer = _demo_customer(*CREDIT_DEMO)
    if existing is None:
        with transaction.atomic():
            payment_complete(reference="DEMO-PREPAY-LERATO", amount=Decimal("2000.00"), customer=customer,
                             method="eft", provider="manual")
            service = CustomerService.objects.create(
                customer=customer, service_type="fibre", package_name="Fibre 50/50", download_mbps=50,
                upload_mbps=50, monthly_price=Decimal("899.00"), billing_day=1,
                installation_address="12 Jan Smuts Ave, Johannesburg", provider_name="Openserve",
                provider_order_id=f"DEMO-CREDIT-{customer.pk:05d}")
            invoice = service_activate(service=service, reason="Demo: installed", activation_date=today)
        stdout.write(f"portal: {customer.account_number} prepaid R 2,000.00; invoice {invoice.number} "
                     f"({invoice.total}) was paid from that credit at issue.")
    existing, customer = _demo_customer(*DAY_CHANGE_DEMO)
    if existing is None:
        with transaction.atomic():
            service = CustomerService.objects.create(
                customer=customer, service_type="fibre", package_name="Fibre 100/100", download_mbps=100,
                upload_mbps=100, monthly_price=Decimal("999.00"), billing_day=1,
                installation_address="4 Florida Rd, Durban", provider_name="Openserve",
                provider_order_id=f"DEMO-DAYS-{customer.pk:05d}")
            start = today.replace(day=1)
            service_activate(service=service, reason="Demo: installed", activation_date=start)
            stub = service_change_billing_day(service=service, new_day=25 if today.day < 25 else 5,
                                              reason="Demo: salary is paid on a later day", on=start + timedelta(days=1))
        line = stub.lines.get().description if stub else "no stub"
        stdout.write(f"portal: {customer.account_number} moved to billing day {service.billing_day}: {line}.")


def seed_demo(stdout) -> None:
    _credit_and_day_change(stdout)
    moved = (Invoice.objects.filter(customer__email__iendswith=DEMO_EMAIL_DOMAIN)
             .filter(Q(amount_paid__gt=0) | Q(status=Invoice.Status.VOID))
             .filter(Q(pdf="") | Q(pdf_generated_at__isnull=True) | Q(pdf_generated_at__lt=F("updated_at")))
             .order_by("pk"))
    rendered = [invoice_render_pdf(invoice_id=pk).number for pk in moved.values_list("pk", flat=True)]
    paid = (Invoice.objects.filter(customer__email__iendswith=DEMO_EMAIL_DOMAIN, status=Invoice.Status.PAID)
            .order_by("pk").values_list("number", flat=True).first())
    note = f"; {paid} is paid and its PDF says PAID" if paid else ""
    stdout.write(f"portal: {len(rendered)} invoice PDF(s) rendered to follow the money{note}.")
