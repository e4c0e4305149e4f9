"""Start a deposit checkout with the buyer's provider, or the local sandbox gateway.

Provider calls happen after `reserve` has committed (never inside a transaction). If the
provider refuses, the reservation is cancelled so the puppy is free again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from circletel.http import PermanentProviderError, ProviderError
from circletel.sandbox import sandbox_gateway_active
from payments.clients import paypal as paypal_client
from payments.clients import stripe as stripe_client
from reservations.errors import InvalidTransition, ReservationError
from reservations.models import Reservation
from reservations.services.deposits import reservation_cancel

KIND = "reservation_deposit"


def provider_configured(provider: str) -> bool:
    if provider == Reservation.Provider.STRIPE:
        return stripe_client.is_configured()
    return paypal_client.is_configured()


def reservation_start_checkout(*, reservation: Reservation, success_url: str, cancel_url: str,
                               sandbox_url: str, paypal_return_url: str = "") -> str:
    """Create the provider checkout for a pending reservation; returns the URL to send the buyer to."""
    if reservation.status != Reservation.Status.PENDING:
        raise InvalidTransition(f"Reservation {reservation.reference} is {reservation.status}.")
    description = f"Deposit: {reservation.puppy.name} ({reservation.puppy.breed}) {reservation.reference}"
    try:
        if provider_configured(reservation.provider):
            if reservation.provider == Reservation.Provider.STRIPE:
                # Stripe requires a session to live at least 30 minutes; a payment after our own
                # hold lapsed is handled by the late-payer path in reservation_confirm_payment.
                expires = max(reservation.expires_at, timezone.now() + timedelta(minutes=31))
                session = stripe_client.checkout_session_create(
                    amount=reservation.deposit_amount, currency=reservation.currency, description=description,
                    reference=reservation.reference, kind=KIND, success_url=success_url, cancel_url=cancel_url,
                    customer_email=reservation.buyer_email, expires_at=int(expires.timestamp()),
                    idempotency_key=f"reservation:{reservation.pk}:checkout")
                checkout_id, url = session.id, session.url
            else:
                order = paypal_client.order_create(
                    amount=reservation.deposit_amount, currency=reservation.currency,
                    reference=reservation.reference, description=description,
                    return_url=paypal_return_url or success_url, cancel_url=cancel_url,
                    request_id=f"reservation-{reservation.pk}-order")
                checkout_id, url = order.id, order.approve_url
            if not url:
                raise PermanentProviderError(f"{reservation.provider} returned no checkout link",
                                             provider=reservation.provider)
            Reservation.objects.filter(pk=reservation.pk).update(checkout_id=checkout_id, updated_at=timezone.now())
            reservation.checkout_id = checkout_id
            return url
        if sandbox_gateway_active():
            Reservation.objects.filter(pk=reservation.pk).update(sandbox=True, updated_at=timezone.now())
            reservation.sandbox = True
            return sandbox_url
    except ProviderError:
        reservation_cancel(reservation_id=reservation.pk, reason="the payment provider refused the checkout")
        raise
    reservation_cancel(reservation_id=reservation.pk, reason="payment provider not configured")
    raise ReservationError(f"{reservation.get_provider_display()} payments are not available right now.")


def sandbox_webhook_secret() -> str:
    """The sandbox gateway's own signing secret (derived from SECRET_KEY; never the real Stripe one)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"reservations-sandbox-stripe-webhook", hashlib.sha256)
    return "whsec_sandbox_" + digest.hexdigest()[:32]


def _sandbox_ids(r: Reservation) -> tuple[str, str, str]:
    token = r.reference.replace("RSV-", "").upper()
    return f"evt_sandbox_{token}", f"cs_sandbox_{token}", f"pi_sandbox_{token}"


def sandbox_stripe_event(r: Reservation, *, created: int | None = None) -> dict:
    """A `checkout.session.completed` event shaped like Stripe's (CONTRACTS 3.2/3.3)."""
    event_id, session_id, pi = _sandbox_ids(r)
    cents = stripe_client.to_cents(r.deposit_amount)
    return {
        "id": event_id, "object": "event", "api_version": None, "created": created or int(time.time()),
        "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": "paid", "payment_intent": pi, "client_reference_id": r.reference,
            "amount_total": cents, "currency": r.currency.lower(),
            "customer_details": {"email": r.buyer_email, "name": r.buyer_name},
            "metadata": {"kind": KIND, "reference": r.reference},
        }},
    }


def sandbox_paypal_event(r: Reservation) -> dict:
    token = r.reference.replace("RSV-", "").upper()
    capture_id = f"SBX{token}".ljust(17, "0")[:17]
    return {
        "id": f"WH-SANDBOX-{token}", "event_version": "1.0", "create_time": timezone.now().isoformat(),
        "resource_type": "capture", "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "summary": f"Payment completed for ZAR {r.deposit_amount}",
        "resource": {"id": capture_id, "status": "COMPLETED", "custom_id": r.reference,
                     "amount": {"currency_code": r.currency, "value": f"{r.deposit_amount:.2f}"},
                     "supplementary_data": {"related_ids": {"order_id": f"SBXORDER{token}".ljust(17, "0")[:17]}}},
    }


def sandbox_approve(*, reservation: Reservation):
    """Pay a sandbox deposit: send a signed provider event through the real webhook code path."""
    if not sandbox_gateway_active() or not reservation.sandbox:
        raise ReservationError("The sandbox gateway is not enabled for this reservation.")
    if reservation.provider == Reservation.Provider.STRIPE:
        import stripe

        from payments.providers.stripe import stripe_webhook_receive

        body = json.dumps(sandbox_stripe_event(reservation))
        header = stripe.WebhookSignature.generate_signature_header(body, sandbox_webhook_secret())
        return stripe_webhook_receive(body=body.encode(), signature=header, secret=sandbox_webhook_secret(),
                                      headers={"Stripe-Signature": header, "User-Agent": "circletel-sandbox"},
                                      apply_inline=True)
    from payments.providers.paypal import paypal_event_receive

    body = json.dumps(sandbox_paypal_event(reservation))
    # In-process and trusted: the sandbox is the sender, so there is no PayPal signature to verify.
    return paypal_event_receive(body=body, headers={"User-Agent": "circletel-sandbox"}, apply_inline=True)


def sandbox_decline(*, reservation: Reservation) -> Reservation:
    if not reservation.sandbox:
        raise ReservationError("The sandbox gateway is not enabled for this reservation.")
    return reservation_cancel(reservation_id=reservation.pk, reason="declined at the sandbox checkout")


def checkout_urls(reservation: Reservation, build_url) -> dict:
    """Absolute URLs for the checkout flow; `build_url` is `request.build_absolute_uri`."""
    from django.urls import reverse

    ref = reservation.reference
    return {
        "success_url": build_url(reverse("reservations:success", args=[ref])),
        "cancel_url": build_url(reverse("reservations:cancelled", args=[ref])),
        "sandbox_url": build_url(reverse("reservations:sandbox", args=[ref])),
        "paypal_return_url": build_url(reverse("reservations:paypal-return", args=[ref])),
    }


def paypal_order_for_reservation(*, reference: str, build_url) -> dict:
    """Create (or replay, same PayPal-Request-Id) the PayPal order for a pending deposit."""
    from reservations.errors import ReservationNotFound

    r = (Reservation.objects.select_related("puppy")
         .filter(reference=reference, provider=Reservation.Provider.PAYPAL).first())
    if r is None:
        raise ReservationNotFound(f"No PayPal reservation {reference}.")
    url = reservation_start_checkout(reservation=r, **checkout_urls(r, build_url))
    return {"id": r.checkout_id, "approve_url": url, "reference": r.reference}


def reservation_paypal_capture(*, order_id: str) -> Reservation:
    """Capture an approved PayPal order and confirm the deposit (the webhook later is a no-op)."""
    from reservations.errors import ReservationNotFound
    from reservations.services.deposits import reservation_confirm_payment

    r = Reservation.objects.filter(provider=Reservation.Provider.PAYPAL, checkout_id=order_id).first()
    if r is None:
        raise ReservationNotFound("No reservation for that PayPal order.")
    if r.external_payment_id:
        return r
    capture = paypal_client.order_capture(order_id=order_id, request_id=f"reservation-{r.pk}-capture")
    if capture.capture_status == "COMPLETED" and capture.amount is not None:
        return reservation_confirm_payment(reference=r.reference, provider=Reservation.Provider.PAYPAL,
                                           external_payment_id=capture.capture_id, amount=capture.amount,
                                           currency=capture.currency or r.currency)
    if capture.capture_status in ("DECLINED", "FAILED"):
        return reservation_cancel(reservation_id=r.pk, reason=f"paypal capture {capture.capture_status.lower()}")
    r.refresh_from_db()
    return r
