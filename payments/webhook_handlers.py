"""Payments' webhook handlers, registered with the inbox (`register_webhook_handlers`, called from
`PaymentsConfig.ready()`): invoice payments through NetCash Pay Now, Stripe and PayPal.

Each route says which events are ours with a `match` (an invoice reference, our payment intent
kind, a payment or refund row we hold); deposits register their own routes from the
reservations app. A handler takes the stored event, runs inside the inbox's transaction, is
idempotent by state and may raise `IgnoreEvent(reason)`.
"""

from __future__ import annotations

from inbox.errors import IgnoreEvent
from inbox.models import WebhookEvent
from inbox.registry import register
from payments.clients.paypal import capture_id_from_links
from payments.models import PaymentTransaction
from payments.providers.paypal import capture_is_ours, event_resource
from payments.providers.stripe import event_object
from payments.services import netcash_paynow, paypal_payments, stripe_payments

OWNER = "payments"
INVOICE_PREFIX = "INV-"


# --- Stripe ----------------------------------------------------------------------------------------------
def stripe_intent_succeeded(event: WebhookEvent) -> None:
    stripe_payments.stripe_intent_succeeded(intent=event_object(event))


def stripe_intent_failed(event: WebhookEvent) -> None:
    stripe_payments.stripe_intent_failed(intent=event_object(event))


def stripe_charge_refunded(event: WebhookEvent) -> None:
    stripe_payments.stripe_charge_refunded(charge=event_object(event))


def stripe_refund_changed(event: WebhookEvent) -> None:
    """data.object is a Refund: a pending refund succeeded, failed or was canceled (see refunds.py)."""
    stripe_payments.stripe_refund_changed(refund=event_object(event))


def _stripe_invoice_intent(event: WebhookEvent) -> bool:
    return stripe_payments.stripe_intent_is_invoice_payment(event_object(event))


def _stripe_invoice_charge(event: WebhookEvent) -> bool:
    return stripe_payments.stripe_charge_is_invoice_payment(event_object(event))


def _stripe_invoice_refund(event: WebhookEvent) -> bool:
    return stripe_payments.stripe_refund_is_invoice_refund(event_object(event))


# --- PayPal ----------------------------------------------------------------------------------------------
def paypal_capture_completed(event: WebhookEvent) -> None:
    paypal_payments.paypal_webhook_capture_completed(event_resource(event), event)


def paypal_capture_denied(event: WebhookEvent) -> None:
    paypal_payments.paypal_webhook_capture_denied(event_resource(event), event)


def paypal_capture_refunded(event: WebhookEvent) -> None:
    resource = event_resource(event)
    if not paypal_payments.paypal_webhook_capture_refunded(resource, capture_id_from_links(resource)):
        raise IgnoreEvent("refund for a capture we do not know")


def _paypal_invoice_capture(event: WebhookEvent) -> bool:
    return capture_is_ours(event, prefix=INVOICE_PREFIX, capture_known=lambda capture_id: PaymentTransaction.objects
                           .filter(provider=PaymentTransaction.Provider.PAYPAL, provider_transaction_id=capture_id)
                           .exists())


def register_webhook_handlers() -> None:
    netcash_paynow.register_handlers()
    stripe = {"provider": "stripe", "owner": OWNER}
    register(**stripe, event_types=["payment_intent.succeeded"], handler=stripe_intent_succeeded,
             match=_stripe_invoice_intent)
    register(**stripe, event_types=["payment_intent.payment_failed"], handler=stripe_intent_failed,
             match=_stripe_invoice_intent)
    register(**stripe, event_types=["charge.refunded"], handler=stripe_charge_refunded, match=_stripe_invoice_charge)
    register(**stripe, event_types=["refund.updated", "refund.failed", "charge.refund.updated"],
             handler=stripe_refund_changed, match=_stripe_invoice_refund)
    paypal = {"provider": "paypal", "owner": OWNER}
    register(**paypal, event_types=["PAYMENT.CAPTURE.COMPLETED"], handler=paypal_capture_completed,
             match=_paypal_invoice_capture)
    register(**paypal, event_types=["PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"],
             handler=paypal_capture_denied, match=_paypal_invoice_capture)
    register(**paypal, event_types=["PAYMENT.CAPTURE.REFUNDED"], handler=paypal_capture_refunded,
             match=_paypal_invoice_capture)
