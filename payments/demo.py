"""Demo data for payments (`manage.py seed_demo`): idempotent, only on top of billing's demo invoices."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from billing.models import Invoice
from payments.models import Mandate, PaymentMethod, PaymentTransaction
from payments.services.mandates import mandate_account_reference, mandate_update_status
from payments.services.methods import payment_method_add_debit_order
from payments.services.payments import payment_complete, payment_fail


def _demo_invoices() -> list[Invoice]:
    """The oldest invoice of each of the first three demo customers (stable across runs)."""
    invoices = (Invoice.objects.select_related("customer")
                .filter(customer__services__provider_order_id__startswith="DEMO-")
                .exclude(status=Invoice.Status.VOID).distinct().order_by("customer_id", "issue_date", "pk"))
    chosen: dict[int, Invoice] = {}
    for invoice in invoices:
        chosen.setdefault(invoice.customer_id, invoice)
        if len(chosen) == 3:
            break
    return list(chosen.values())


def seed_demo(stdout) -> None:
    invoices = _demo_invoices()
    if not invoices:
        stdout.write("payments: no demo invoices yet; nothing to pay.")
        return
    paid = declined = 0
    for position, invoice in enumerate(invoices):
        if position == 2:
            reference = f"DEMO-DECLINED-{invoice.pk}"
            if not PaymentTransaction.objects.filter(reference=reference).exists() and invoice.amount_due > 0:
                payment_fail(reference=reference, amount=invoice.amount_due, customer=invoice.customer,
                             method="card", provider="sandbox", invoice=invoice,
                             reason="Demo: card declined by the issuing bank", provider_method="Card")
                declined += 1
            continue
        reference = f"DEMO-PAY-{invoice.pk}"
        if not PaymentTransaction.objects.filter(reference=reference).exists() and invoice.amount_due > 0:
            payment_complete(reference=reference, amount=invoice.amount_due, customer=invoice.customer,
                             method="card", provider="sandbox", invoice=invoice, provider_method="Card")
            paid += 1
    methods = 0
    if settings.FIELD_ENCRYPTION_KEYS and invoices:
        customer = invoices[0].customer
        if not PaymentMethod.objects.filter(customer=customer, method_type="debit_order").exists():
            with transaction.atomic():
                method = payment_method_add_debit_order(customer=customer, account_holder=str(customer),
                                                        account_number="62001234567", branch_code="250655",
                                                        bank_name="FNB")
                reference = mandate_account_reference(method)
                Mandate.objects.get_or_create(account_reference=reference, defaults={
                    "customer": customer, "payment_method": method, "mandate_amount": invoices[0].total,
                    "agreement_reference": reference})
                mandate_update_status(account_reference=reference, successful=True)
            methods += 1
    stdout.write(f"payments: {paid} demo payment(s), {declined} declined, {methods} debit-order method(s) "
                 f"(masked, mandate active).")
