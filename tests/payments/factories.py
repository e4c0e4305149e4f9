"""Payments test helpers: invoices built directly (totals given), Pay Now notify forms."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from billing.models import Invoice
from payments.clients import netcash
from tests.factories import CustomerFactory  # noqa: F401
from tests.webhooks import deliver

_counter = {"n": 0}


def make_invoice(customer, total, *, issue_date=None, due_date=None, number=None, status=Invoice.Status.UNPAID):
    _counter["n"] += 1
    issue_date = issue_date or timezone.localdate() - timedelta(days=10 - _counter["n"] % 5)
    total = Decimal(total)
    vat = (total * Decimal(15) / Decimal(115)).quantize(Decimal("0.01"))
    return Invoice.objects.create(
        number=number or f"INV-2026-{70000 + _counter['n']:05d}", customer=customer,
        invoice_type=Invoice.InvoiceType.RECURRING, issue_date=issue_date,
        due_date=due_date or (issue_date + timedelta(days=30)), prices_include_vat=True,
        subtotal=total - vat, vat_amount=vat, total=total, status=status,
    )


def notify_fields(reference, amount, *, accepted=True, trace="TRACE-1", reason="", method="1", signed_amount=None,
                  signature=None):
    signed = Decimal(signed_amount if signed_amount is not None else amount)
    return {
        "TransactionAccepted": "true" if accepted else "false",
        "Reason": reason or ("Success" if accepted else "Declined"),
        "RequestTrace": trace,
        "Reference": reference,
        "Amount": amount if isinstance(amount, str) else netcash.rands(Decimal(amount)),
        "Extra1": "invoice",
        "Extra2": netcash.rands(signed),
        "Extra3": signature if signature is not None else netcash.paynow_signature(reference=reference, amount=signed),
        "Method": method,
    }


def notify_url(token=None):
    """The secret Notify URL pasted into the NetCash portal (NETCASH_NOTIFY_TOKEN in the settings)."""
    return f"/api/payments/netcash/notify/{token if token is not None else settings.NETCASH['NOTIFY_TOKEN']}"


def post_notify(client, fields, *, run_tasks=True, url=None, **extra):
    """Post a notify as NetCash does, to the secret notify path (`tests.webhooks.deliver`: with
    `run_tasks` the queued apply task runs before this returns)."""
    return deliver(client, url or notify_url(), urlencode(fields),
                   content_type="application/x-www-form-urlencoded", run_tasks=run_tasks, **extra)


def debit_order(customer, number="62001234567", *, mandate="pending", make_primary=True, bank=None):
    """A saved debit order (through the service) whose mandate is in `mandate` state."""
    from payments.models import PaymentMethod
    from payments.services.methods import payment_method_add_debit_order

    bank = bank or {"account_holder": "T Mokoena", "branch_code": "250655"}
    method = payment_method_add_debit_order(customer=customer, account_number=number, make_primary=make_primary,
                                            **bank)
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_status=mandate)
    method.refresh_from_db()
    return method


def saved_card(customer, last_four="4242", *, primary=True, expiry_year=2030):
    """A saved card (through the service), Visa, expiring December `expiry_year`."""
    from payments.services.methods import payment_method_add_card

    return payment_method_add_card(customer=customer, brand="Visa", last_four=last_four, expiry_month=12,
                                   expiry_year=expiry_year, make_primary=primary)
