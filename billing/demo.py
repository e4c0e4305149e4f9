"""Billing demo data: services for the demo customers, activated with pro-rata invoices, a few
recurring invoices from the run (one of them voided and reissued), one pending and one suspended
service; the business customer has a VAT number, printed on its tax invoices. Idempotent: a customer
that already has its demo service (provider order id `DEMO-...`) is left alone. (The paid invoice whose
PDF says PAID comes from payments' demo payments; `portal.demo` renders the PDFs the money moved on.)
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Customer, CustomerService, Invoice, Suspension
from billing.services.invoice_run import invoice_run
from billing.services.invoices import invoice_reissue
from billing.services.lifecycle import service_activate, service_suspend
from billing.services.orders import orders_import_csv, orders_link_to_customers

D = Decimal

# email, type, package, down/up, cap, price, install, router, router model, billing day, days ago, state
DEMO_SERVICES = [
    ("thandiwe.nkosi@example.co.za", "fibre", "Fibre 100/50", 100, 50, None, D("899.00"), D("0.00"),
     D("0.00"), "", 1, 75, "active"),
    ("pieter.vdm@example.co.za", "lte", "LTE 60 GB", 20, 10, 60, D("399.00"), D("0.00"), D("1299.00"),
     "Huawei B535", 25, 52, "active"),
    ("sipho@dlamini-logistics.example.co.za", "fibre", "Business Fibre 200/200", 200, 200, None, D("1899.00"),
     D("1500.00"), D("0.00"), "", 30, 40, "active"),
    ("aisha.patel@example.co.za", "fibre", "Fibre 25/25", 25, 25, None, D("499.00"), D("999.00"), D("0.00"),
     "", 5, 0, "pending"),
    ("johan@karoo-guesthouse.example.co.za", "lte", "LTE Uncapped", 10, 5, None, D("749.00"), D("0.00"),
     D("0.00"), "", 5, 64, "suspended"),
]


def seed_demo(stdout) -> None:
    today = timezone.localdate()
    created = 0
    for (email, kind, package, down, up, cap, price, install, router, router_model, day, days_ago,
         state) in DEMO_SERVICES:
        customer = Customer.objects.filter(email__iexact=email).first()
        if customer is None or CustomerService.objects.filter(customer=customer,
                                                               provider_order_id__startswith="DEMO-").exists():
            continue
        with transaction.atomic():
            service = CustomerService.objects.create(
                customer=customer, service_type=kind, package_name=package, download_mbps=down, upload_mbps=up,
                data_cap_gb=cap, monthly_price=price, installation_fee=install, router_fee=router,
                router_model=router_model, billing_day=day,
                installation_address=customer.billing_address or "Demo address",
                provider_name="Openserve" if kind == "fibre" else "MTN", provider_order_id=f"DEMO-{customer.pk:05d}",
            )
            if state != "pending":
                service_activate(service=service, reason="Demo: installed and tested by technician",
                                 activation_date=today - timedelta(days=days_ago))
            if state == "suspended":
                service_suspend(service=service, reason="Demo: customer asked to pause while renovating",
                                kind=Suspension.Kind.CUSTOMER_REQUEST, skip_billing=True,
                                on=today - timedelta(days=10))
        created += 1
    if created:
        # Bring the activated services up to date: one recurring invoice per period since activation.
        result = invoice_run(run_date=today, triggered_by="demo")
        _demo_vat_number()
        _demo_registration_number()
        reissued = _reissue_one()
        stdout.write(f"billing: {created} demo service(s), {result.created} recurring invoice(s), "
                     f"{reissued} reissued.")
    else:
        stdout.write("billing: demo services already present.")
    _seed_orders(stdout)


DEMO_VAT_NUMBER = "4530187266"  # made up, in the SARS format (10 digits starting with 4)


def _demo_vat_number() -> None:
    """The business demo customer is a VAT vendor: its VAT number prints on its tax invoices (documents
    follow: the reissue below and every later render carry it)."""
    from billing.services.customers import customer_vat_number_set

    customer = Customer.objects.filter(email__iexact="sipho@dlamini-logistics.example.co.za",
                                       account_type=Customer.AccountType.BUSINESS, vat_number="").first()
    if customer is not None:
        customer_vat_number_set(customer=customer, vat_number=DEMO_VAT_NUMBER)


DEMO_REGISTRATION_NUMBER = "2015/123456/07"  # made up, in the CIPC format (YYYY/NNNNNN/NN; 07 = (Pty) Ltd)


def _demo_registration_number() -> None:
    """The business demo customer is a registered company: a NetCash mandate for it carries the number
    as `RegistrationNumber` (`payments.services.mandates.mandate_add_request`)."""
    from billing.services.customers import customer_registration_number_set

    customer = Customer.objects.filter(email__iexact="sipho@dlamini-logistics.example.co.za",
                                       account_type=Customer.AccountType.BUSINESS, registration_number="").first()
    if customer is not None:
        customer_registration_number_set(customer=customer, registration_number=DEMO_REGISTRATION_NUMBER)


def _reissue_one() -> str:
    """Void and reissue the business customer's latest monthly invoice, as staff do when an invoice
    must show something else (the admin links the two; ZOHO voids its copy and gets the new one)."""
    invoice = (Invoice.objects.filter(customer__email__iexact="sipho@dlamini-logistics.example.co.za",
                                      invoice_type=Invoice.InvoiceType.RECURRING, status=Invoice.Status.UNPAID,
                                      replaced_by__isnull=True, replaces__isnull=True)
               .order_by("-period_start").first())
    if invoice is None:
        return "none"
    replacement = invoice_reissue(invoice=invoice, reason="Demo: reissued with the company's VAT number on it",
                                  actor="demo")
    return f"{invoice.number} as {replacement.number}"


def _seed_orders(stdout) -> None:
    """Import the sample legacy export (good rows become orders, bad rows show as order issues),
    then link orders to customers; both are idempotent."""
    sample = settings.BASE_DIR / "docs" / "samples" / "orders_sample.csv"
    if not sample.exists():
        return
    result = orders_import_csv(path=sample)
    linked = orders_link_to_customers()
    stdout.write(f"billing: sample orders imported ({result.imported} new), {linked.linked} linked to customers.")
