"""PayPal (Orders v2) for invoices: create an order, capture it, and the webhook effects.

The pending PaymentTransaction (reference `INV-...-XXXXXX`, sent as the order's `custom_id`) holds
the PayPal order id in `provider_transaction_id` until the capture completes; completion (through
`payment_complete`) replaces it with the capture id, which refunds use. The buyer's capture call and
the `PAYMENT.CAPTURE.COMPLETED` webhook may both arrive: whichever is second finds the payment
completed and changes nothing. Denied / declined captures fail a pending payment and never move a
completed one back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction

from billing.models import Invoice
from circletel.http import ProviderError
from payments.clients import paypal as paypal_client
from payments.errors import PaymentError, PaymentNotFound
from payments.models import PaymentTransaction
from payments.provider_errors import classify, info_for
from payments.services.payments import payment_complete, payment_fail
from payments.services.references import invoice_payment_reference
from payments.services.stripe_payments import PaymentDeclined
from payments.webhooks import IgnoreEvent

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
PROVIDER = PaymentTransaction.Provider.PAYPAL


def paypal_order_create_for_invoice(*, invoice: Invoice, build_url: Callable[[str], str]) -> dict:
    """Create the PayPal order for the invoice's amount due. Returns {order_id, approve_url, reference}."""
    if not paypal_client.is_configured():
        raise PaymentError("PayPal payments are not available right now.")
    invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
    if not invoice.is_open or invoice.amount_due <= 0:
        raise PaymentError("This invoice has nothing left to pay.", {"invoice": invoice.number})
    with transaction.atomic():
        payment = PaymentTransaction.objects.create(
            customer=invoice.customer, invoice=invoice, amount=invoice.amount_due,
            method=PaymentTransaction.Method.PAYPAL, provider=PROVIDER, reference=invoice_payment_reference(invoice),
            status=Status.PENDING)
    result_url = build_url(f"/payments/result/{payment.reference}")
    try:
        order = paypal_client.order_create(amount=payment.amount, reference=payment.reference,
                                           description=f"CircleTel invoice {invoice.number}", return_url=result_url,
                                           cancel_url=result_url, request_id=f"payment-{payment.pk}")
    except ProviderError as exc:
        PaymentTransaction.objects.filter(pk=payment.pk, status=Status.PENDING).update(
            status=Status.FAILED, failure_reason=classify(exc).message)
        raise PaymentDeclined(classify(exc), payment=payment) from exc
    with transaction.atomic():
        PaymentTransaction.objects.filter(pk=payment.pk).update(provider_transaction_id=order.id,
                                                                raw_response={"order_id": order.id})
    return {"order_id": order.id, "approve_url": order.approve_url, "reference": payment.reference,
            "status": order.status}


def paypal_payment_for_order(order_id: str) -> PaymentTransaction | None:
    return (PaymentTransaction.objects.select_related("customer", "invoice")
            .filter(provider=PROVIDER, raw_response__order_id=order_id).first())


def paypal_capture_for_invoice(*, order_id: str) -> PaymentTransaction:
    """Capture an approved order (no transaction open during the call) and apply the result."""
    payment = paypal_payment_for_order(order_id)
    if payment is None:
        raise PaymentNotFound("No invoice payment for this PayPal order.")
    if payment.status != Status.PENDING:
        return payment
    try:
        capture = paypal_client.order_capture(order_id=order_id, request_id=f"capture-{payment.pk}")
    except ProviderError as exc:
        info = classify(exc)
        if not info.retryable:
            _fail(payment, info.message, raw={"order_id": order_id, "error_code": info.code, "provider_error": info.raw})
        raise PaymentDeclined(info, payment=payment) from exc
    return paypal_apply_capture(payment=payment, capture_id=capture.capture_id, status=capture.capture_status,
                                amount=capture.amount, currency=capture.currency, order_id=order_id)


def paypal_apply_capture(*, payment: PaymentTransaction, capture_id: str, status: str, amount: Decimal | None,
                         currency: str, order_id: str = "") -> PaymentTransaction:
    raw = {"order_id": order_id or payment.raw_response.get("order_id", ""), "capture_id": capture_id,
           "capture_status": status}
    if status == "COMPLETED":
        if currency and currency != payment.currency:
            raise PaymentError("Currency does not match the payment.", {"reference": payment.reference})
        return payment_complete(reference=payment.reference, amount=amount if amount is not None else payment.amount,
                                customer=payment.customer, method=payment.method, provider=PROVIDER,
                                invoice=payment.invoice, provider_transaction_id=capture_id, provider_method="PayPal",
                                raw=raw)
    if status in ("DECLINED", "FAILED", "DENIED"):
        return _fail(payment, info_for("card_declined").message, raw=raw)
    return payment  # PENDING: wait for PAYMENT.CAPTURE.COMPLETED


def _fail(payment: PaymentTransaction, reason: str, *, raw: dict) -> PaymentTransaction:
    if payment.status not in (Status.PENDING, Status.FAILED):
        return payment  # never move a completed payment back
    return payment_fail(reference=payment.reference, amount=payment.amount, customer=payment.customer,
                        method=payment.method, provider=PROVIDER, reason=reason, invoice=payment.invoice, raw=raw)


# --- webhook effects (inside webhook_process's transaction) ---------------------------------------------
def _payment_for_reference(reference: str) -> PaymentTransaction:
    payment = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(reference=reference, provider=PROVIDER).first())
    if payment is None:
        raise IgnoreEvent(f"no PayPal invoice payment {reference}")
    return payment


def paypal_webhook_capture_completed(resource: dict, event) -> None:
    payment = _payment_for_reference(resource.get("custom_id", ""))
    amount = resource.get("amount") or {}
    paypal_apply_capture(payment=payment, capture_id=resource["id"], status=resource.get("status", "COMPLETED"),
                         amount=Decimal(amount["value"]) if amount.get("value") else None,
                         currency=amount.get("currency_code", ""))


def paypal_webhook_capture_denied(resource: dict, event) -> None:
    payment = _payment_for_reference(resource.get("custom_id", ""))
    if payment.status not in (Status.PENDING, Status.FAILED):
        raise IgnoreEvent(f"payment {payment.reference} is already {payment.status}; late denial ignored")
    _fail(payment, info_for("card_declined").message, raw={"capture_id": resource.get("id"),
                                                           "capture_status": resource.get("status")})


def paypal_webhook_capture_refunded(resource: dict, capture_id: str) -> bool:
    """A refund resource for one of our invoice captures; False when the capture is not ours."""
    from payments.services.refunds import refund_record_from_provider

    payment = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(provider=PROVIDER, provider_transaction_id=capture_id).first())
    if payment is None:
        return False
    amount = resource.get("amount") or {}
    refund_record_from_provider(payment=payment, provider_refund_id=resource["id"],
                                amount=Decimal(amount["value"]) if amount.get("value") else payment.amount,
                                raw={"id": resource["id"], "status": resource.get("status")})
    return True
