"""Deposit webhook handlers, registered with the inbox (`register_webhook_handlers`, called from
`ReservationsConfig.ready()`): Stripe Checkout sessions and PayPal captures for reservation
deposits, and refunds of them made by us or in the provider's dashboard.

Each route's `match` says which events are deposits (our checkout kind, an `RSV-` custom id, a
payment or refund a reservation holds); invoice payments are routed to payments by its own routes.
"""

from __future__ import annotations

from decimal import Decimal

from inbox.errors import IgnoreEvent
from inbox.models import WebhookEvent
from inbox.registry import register
from payments.clients.paypal import capture_id_from_links
from payments.clients.stripe import from_cents
from payments.providers.paypal import capture_is_ours, event_resource
from payments.providers.stripe import event_object
from reservations.models import Reservation, UnmatchedPayment
from reservations.serializers import PayPalCaptureResourceSerializer, StripeCheckoutSessionSerializer
from reservations.services import (
    deposit_charge_refunded,
    deposit_refund_update,
    reservation_cancel,
    reservation_confirm_payment,
    reservation_mark_refunded,
)
from reservations.services.deposit_checkout import KIND
from reservations.services.deposits import DEPOSIT_REFUND_KIND
from reservations.services.unmatched import UNMATCHED_REFUND_KIND, unmatched_refund_update

OWNER = "reservations"
DEPOSIT_PREFIX = "RSV-"
STRIPE = Reservation.Provider.STRIPE.value
PAYPAL = Reservation.Provider.PAYPAL.value


# --- Stripe Checkout -------------------------------------------------------------------------------------
def _is_deposit_session(event: WebhookEvent) -> bool:
    return (event_object(event).get("metadata") or {}).get("kind", "") == KIND


def stripe_checkout_session(event: WebhookEvent) -> None:
    checkout_session_apply(event_object(event), event_type=event.event_type, webhook_event=event)


def checkout_session_apply(session: dict, *, event_type: str = "checkout.session.completed",
                           webhook_event: WebhookEvent | None = None) -> Reservation | None:
    """The one handler of a deposit's Checkout Session, for the webhook and for the success page's
    server-side read of the session from Stripe (`reservations.services.checkout_return`)."""
    reference = session.get("client_reference_id") or (session.get("metadata") or {}).get("reference")
    if not reference:
        raise IgnoreEvent("checkout session has no reservation reference")
    if event_type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        r = Reservation.objects.filter(reference=reference, provider=STRIPE).first()
        if r is None:
            raise IgnoreEvent(f"no reservation {reference}")
        return reservation_cancel(reservation_id=r.pk, reason=f"stripe: {event_type}")
    data = StripeCheckoutSessionSerializer(data=session)
    if not data.is_valid():
        raise ValueError(f"unexpected checkout session shape: {data.errors}")
    s = data.validated_data
    if s["payment_status"] != "paid" or not s.get("payment_intent"):
        raise IgnoreEvent(f"payment_status is {s['payment_status']}; waiting for async_payment_succeeded")
    payer = session.get("customer_details") or {}
    return reservation_confirm_payment(
        reference=reference, provider=STRIPE, external_payment_id=s["payment_intent"],
        amount=from_cents(s["amount_total"]), currency=s["currency"].upper(), webhook_event=webhook_event,
        checkout_id=s["id"], payer_email=str(payer.get("email") or "")[:254],
        payer_name=str(payer.get("name") or "")[:150])


# --- Stripe refunds of deposits --------------------------------------------------------------------------
def _is_deposit_charge(event: WebhookEvent) -> bool:
    intent = event_object(event).get("payment_intent")
    return bool(intent) and Reservation.objects.filter(provider=STRIPE, external_payment_id=intent).exists()


def stripe_charge_refunded(event: WebhookEvent) -> None:
    """A deposit's charge refunded in full, every listed refund succeeded (e.g. in Stripe's
    dashboard): booked once on the reservation. Partial or still pending: our own refund events finish it."""
    charge = event_object(event)
    listed = ((charge.get("refunds") or {}).get("data")) or []
    if not charge.get("refunded"):
        raise IgnoreEvent("deposit charge partly refunded: deposits are refunded whole, by us")
    if any(r.get("status") != "succeeded" for r in listed):
        raise IgnoreEvent("a deposit refund is still pending: its refund events finish it")
    refund_id = listed[-1].get("id") if listed else f"{charge.get('id')}:refunded"
    if not deposit_charge_refunded(external_payment_id=charge["payment_intent"], refund_id=refund_id or ""):
        raise IgnoreEvent(f"no reservation for charge {charge.get('id')}")


def _is_deposit_refund(event: WebhookEvent) -> bool:
    refund = event_object(event)
    meta = refund.get("metadata") or {}
    if meta.get("kind") in (DEPOSIT_REFUND_KIND, UNMATCHED_REFUND_KIND):
        return True
    rid = refund.get("id")
    return bool(rid) and (Reservation.objects.filter(provider=STRIPE, refund_id=rid).exists()
                          or UnmatchedPayment.objects.filter(provider=STRIPE, refund_id=rid).exists())


def stripe_refund_changed(event: WebhookEvent) -> None:
    refund = event_object(event)
    rid, status = refund.get("id") or "", refund.get("status") or ""
    if (refund.get("metadata") or {}).get("kind") == UNMATCHED_REFUND_KIND or (
            rid and UnmatchedPayment.objects.filter(provider=STRIPE, refund_id=rid).exists()):
        if not unmatched_refund_update(provider_refund_id=rid, status=status, raw=refund):
            raise IgnoreEvent(f"no unmatched payment for refund {rid}")
        return
    if not deposit_refund_update(provider_refund_id=rid, status=status, raw=refund):
        raise IgnoreEvent(f"no reservation for refund {rid}")


# --- PayPal captures -------------------------------------------------------------------------------------
def _is_deposit_capture(event: WebhookEvent) -> bool:
    return capture_is_ours(event, prefix=DEPOSIT_PREFIX, capture_known=lambda capture_id: Reservation.objects
                           .filter(provider=PAYPAL, external_payment_id=capture_id).exists())


def paypal_capture_completed(event: WebhookEvent) -> None:
    resource = event_resource(event)
    data = PayPalCaptureResourceSerializer(data=resource)
    if not data.is_valid():
        raise ValueError(f"unexpected capture shape: {data.errors}")
    amount = resource["amount"]
    reservation_confirm_payment(reference=resource["custom_id"], provider=PAYPAL, external_payment_id=resource["id"],
                                amount=Decimal(amount["value"]), currency=amount["currency_code"],
                                webhook_event=event)


def paypal_capture_denied(event: WebhookEvent) -> None:
    resource = event_resource(event)
    r = Reservation.objects.filter(reference=resource.get("custom_id", ""), provider=PAYPAL).first()
    if r is None:
        raise IgnoreEvent("no matching reservation")
    reservation_cancel(reservation_id=r.pk, reason=f"paypal: {event.event_type}")


def paypal_capture_refunded(event: WebhookEvent) -> None:
    resource = event_resource(event)
    capture_id = capture_id_from_links(resource)
    if not capture_id:
        raise IgnoreEvent("refund without a capture link")
    reservation_mark_refunded(provider=PAYPAL, external_payment_id=capture_id, refund_id=resource.get("id", ""))


def register_webhook_handlers() -> None:
    stripe = {"provider": STRIPE, "owner": OWNER}
    register(**stripe, event_types=["checkout.session.completed", "checkout.session.async_payment_succeeded",
                                    "checkout.session.expired", "checkout.session.async_payment_failed"],
             handler=stripe_checkout_session, match=_is_deposit_session)
    register(**stripe, event_types=["charge.refunded"], handler=stripe_charge_refunded, match=_is_deposit_charge)
    register(**stripe, event_types=["refund.updated", "refund.failed", "charge.refund.updated"],
             handler=stripe_refund_changed, match=_is_deposit_refund)
    paypal = {"provider": PAYPAL, "owner": OWNER}
    register(**paypal, event_types=["PAYMENT.CAPTURE.COMPLETED"], handler=paypal_capture_completed,
             match=_is_deposit_capture)
    register(**paypal, event_types=["PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"],
             handler=paypal_capture_denied, match=_is_deposit_capture)
    register(**paypal, event_types=["PAYMENT.CAPTURE.REFUNDED"], handler=paypal_capture_refunded,
             match=_is_deposit_capture)
