"""Payments reads shared by the request side and the handlers (no writes)."""

from __future__ import annotations

from django.db.models import Q

from billing.models import Invoice
from payments.errors import NotifyRejected
from payments.models import PaymentTransaction
from payments.services.references import invoice_number_from_reference

INVOICE_PREFIX = "INV-"
# Money received: completed, partly or fully refunded (a reversed debit order was never collected).
# The payments admin's "received" filter and the staff reports' "Collected" and payment-method mix
# (portal/reports.py) count these statuses.
RECEIVED_STATUSES = (PaymentTransaction.Status.COMPLETED, PaymentTransaction.Status.PARTIALLY_REFUNDED,
                     PaymentTransaction.Status.REFUNDED)


# Card attempts we stopped before anything was charged (a newer attempt, a changed amount, a card Stripe no
# longer holds: `payments.services.stripe_payments._cancel_intent`). Kept for staff; not a payment to the customer.
SUPERSEDED = Q(raw_response__has_key="error_code") & Q(raw_response__error_code="superseded")


def payments_shown_to_customers(qs):
    """`qs` without the card attempts that were stopped before any charge."""
    return qs.exclude(SUPERSEDED)


def _invoices_for_reference(reference: str):
    """Our invoice a Pay Now reference (`INV-YYYY-NNNNN-XXXXXX`) names, as a queryset (empty if none)."""
    number = invoice_number_from_reference(reference) if reference.startswith(INVOICE_PREFIX) else ""
    return Invoice.objects.filter(number=number).order_by() if number else Invoice.objects.none()


def paynow_invoice_status(reference: str) -> str | None:
    """The status of the invoice a Pay Now reference names (None: not one of our invoices)."""
    return _invoices_for_reference(reference).values_list("status", flat=True).first()


def paynow_invoice(reference: str) -> Invoice | None:
    return _invoices_for_reference(reference).select_related("customer").first()


def paynow_invoice_check(status: str | None, reference: str) -> None:
    """A Pay Now notify must name one of our invoices that is not void (else 404 / 409, nothing stored)."""
    if status is None:
        raise NotifyRejected("Unknown invoice.", status_code=404, extra={"reference": reference})
    if status == Invoice.Status.VOID:
        raise NotifyRejected("The invoice is void.", status_code=409, extra={"reference": reference})


def invoice_allocations():
    """What payments paid onto the outer invoice (`OuterRef("pk")`): allocations of payments that were
    not reversed. Registered with billing's ledger check (payments/apps.py)."""
    from django.db.models import OuterRef

    from payments.models import PaymentAllocation, PaymentTransaction

    return (PaymentAllocation.objects.filter(invoice_id=OuterRef("pk"))
            .exclude(payment__status=PaymentTransaction.Status.REVERSED))
