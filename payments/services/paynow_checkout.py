"""Building a Pay Now checkout for an invoice (server side).

The browser gets an auto-submitting form: to NetCash when a Pay Now service key is configured,
otherwise, when the sandbox switch is on (`circletel.sandbox`), to the built-in sandbox gateway
(`/payments/sandbox/checkout`), which posts its notify to the secret notify path through the same
code a real NetCash notify takes (`netcash_notify_response`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse

from billing.models import Invoice
from circletel.sandbox import sandbox_gateway_active
from payments.clients import netcash
from payments.errors import PaymentError
from payments.services.references import invoice_payment_reference

logger = logging.getLogger(__name__)


def invoice_checkout(*, invoice: Invoice, include_contact: bool = True) -> netcash.PayNowForm:
    """The Pay Now form for the invoice's amount due, with a fresh reference and our HMAC.

    `include_contact=False` for the public page: it must show nothing but the amount due.
    """
    invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
    if not invoice.is_open or invoice.amount_due <= 0:
        raise PaymentError("This invoice has nothing left to pay.", {"invoice": invoice.number})
    if not netcash.hmac_configured():
        raise PaymentError("Online payments are not available right now.")
    use_netcash = bool(settings.NETCASH.get("PAYNOW_SERVICE_KEY"))
    if use_netcash and not settings.NETCASH.get("NOTIFY_TOKEN"):
        # No secret notify path: NetCash could take the money but we could never book it.
        logger.error("Pay Now refused: NETCASH_NOTIFY_TOKEN is not set (system check circletel.E002)")
        raise PaymentError("Online payments are not available right now.")
    if not use_netcash and not sandbox_gateway_active():
        raise PaymentError("Online payments are not available right now.")
    action = None if use_netcash else reverse("payments:sandbox-checkout")
    customer = invoice.customer
    return netcash.paynow_form(reference=invoice_payment_reference(invoice), amount=invoice.amount_due,
                               description=f"CircleTel invoice {invoice.number}",
                               email=customer.email if include_contact else "",
                               cellphone=customer.phone if include_contact else "", kind="invoice", action_url=action)
