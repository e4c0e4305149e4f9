"""Building a Pay Now checkout for an invoice (server side), and the sandbox gateway switch.

The browser gets an auto-submitting form: to NetCash when a Pay Now service key is configured,
otherwise to the built-in sandbox gateway (`/payments/sandbox/checkout`), which sends a correctly
signed notify through the same code the real webhook runs (`netcash_notify_response`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse

from billing.models import Invoice
from payments.clients import netcash
from payments.errors import PaymentError
from payments.services.references import invoice_payment_reference

logger = logging.getLogger(__name__)


def sandbox_gateway_active() -> bool:
    """On when SANDBOX_GATEWAY_ENABLED; with DEBUG=False only if it was explicitly set true
    (`SANDBOX_GATEWAY_EXPLICIT`, None when the env var is unset), not merely defaulted on
    because no Pay Now key is configured."""
    if not settings.SANDBOX_GATEWAY_ENABLED:
        return False
    if settings.DEBUG:
        return True
    if settings.SANDBOX_GATEWAY_EXPLICIT is True:
        logger.warning("sandbox payment gateway in use with DEBUG=False (explicitly enabled by SANDBOX_GATEWAY_ENABLED)")
        return True
    logger.error("sandbox payment gateway refused: DEBUG=False and SANDBOX_GATEWAY_ENABLED is not explicitly on")
    return False


def paynow_available() -> bool:
    return bool(settings.NETCASH.get("PAYNOW_SERVICE_KEY")) or sandbox_gateway_active()


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
    if not use_netcash and not sandbox_gateway_active():
        raise PaymentError("Online payments are not available right now.")
    action = None if use_netcash else reverse("payments:sandbox-checkout")
    customer = invoice.customer
    return netcash.paynow_form(reference=invoice_payment_reference(invoice), amount=invoice.amount_due,
                               description=f"CircleTel invoice {invoice.number}",
                               email=customer.email if include_contact else "",
                               cellphone=customer.phone if include_contact else "", kind="invoice", action_url=action)
