"""Start a deposit checkout with the buyer's provider, or the local sandbox gateway.

Provider calls happen after `reserve` has committed (never inside a transaction). If the
provider refuses, the reservation is cancelled so the puppy is free again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from circletel.http import PermanentProviderError, ProviderError
from circletel.sandbox import sandbox_gateway_active
from circletel.throttle import over_limit
from notifications.services import notify
from payments.clients import paypal as paypal_client
from payments.clients import stripe as stripe_client
from reservations.errors import InvalidTransition, ProviderNotOffered, ReservationError
from reservations.models import Reservation
from reservations.selectors import deposit_provider_offered
from reservations.services.deposits import reservation_cancel

logger = logging.getLogger(__name__)

KIND = "reservation_deposit"


def provider_configured(provider: str) -> bool:
    """The provider's keys are set (the sandbox gateway is not asked; see `selectors.puppy_payment_options`)."""
    if provider == Reservation.Provider.STRIPE:
        return stripe_client.is_configured()
    return paypal_client.is_configured()


def _with_session_id(success_url: str) -> str:
    """Stripe fills in the literal `{CHECKOUT_SESSION_ID}` in success_url when it redirects the buyer
    (docs.stripe.com/payments/checkout/custom-success-page: "Add the {CHECKOUT_SESSION_ID} template
    variable to the success_url ... a literal string"). Only a hint: the page looks the session up at
    Stripe, and our own stored checkout id wins (`reservation_confirm_from_return`)."""
    return f"{success_url}{'&' if '?' in success_url else '?'}session_id={{CHECKOUT_SESSION_ID}}"


def reservation_start_checkout(*, reservation: Reservation, success_url: str, cancel_url: str,
                               sandbox_url: str, paypal_return_url: str = "") -> str:
    """Create the provider checkout for a pending reservation; returns the URL to send the buyer to."""
    if reservation.status != Reservation.Status.PENDING:
        raise InvalidTransition(f"Reservation {reservation.reference} is {reservation.status}.")
    if not deposit_provider_offered(reservation.provider, currency=reservation.currency):
        # The one rule (`selectors.deposit_provider_offered`): `reserve` refuses such a hold, so only one
        # made before the rule (a PayPal hold on a rand listing) gets here. Nothing is sent; the hold ends.
        reservation_cancel(reservation_id=reservation.pk,
                           reason=f"{reservation.get_provider_display()} does not take {reservation.currency}")
        raise ProviderNotOffered(provider=reservation.provider, currency=reservation.currency,
                                 offered=[p for p in Reservation.Provider.values
                                          if deposit_provider_offered(p, currency=reservation.currency)])
    description = f"Deposit: {reservation.puppy.name} ({reservation.puppy.breed}) {reservation.reference}"
    try:
        if provider_configured(reservation.provider):
            if reservation.provider == Reservation.Provider.STRIPE:
                # Stripe requires a session to live at least 30 minutes; a payment after our own
                # hold lapsed is handled by the late-payer path in reservation_confirm_payment.
                expires = max(reservation.expires_at, timezone.now() + timedelta(minutes=31))
                session = stripe_client.checkout_session_create(
                    amount=reservation.deposit_amount, currency=reservation.currency, description=description,
                    reference=reservation.reference, kind=KIND, success_url=_with_session_id(success_url),
                    cancel_url=cancel_url,
                    customer_email=reservation.buyer_email, expires_at=int(expires.timestamp()),
                    idempotency_key=f"reservation:{reservation.pk}:checkout")
                checkout_id, url = session.id, session.url
            else:
                # Issue 15: PayPal takes no ZAR and a deposit has nowhere to record a conversion rate, so a
                # deposit goes to PayPal only when priced in a PayPal currency (checked above; payments' own
                # rule refuses a ZAR deposit here too, CurrencyNotSupported, and the hold is cancelled below).
                from payments.services.paypal_currency import paypal_direct_quote
                money = paypal_direct_quote(amount=reservation.deposit_amount, currency=reservation.currency)
                order = paypal_client.order_create(
                    amount=money.amount, currency=money.currency,
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
        "summary": f"Payment completed for {r.currency} {r.deposit_amount}",
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


# Stripe reads the success page may make per reservation and minute (reloads while the webhook is late).
LOOKUPS_PER_MINUTE = 6
# How long a hold is kept for a capture in flight, so the expiry sweep never lapses it between our
# check and PayPal's answer (the capture call retries for well under a minute).
CAPTURE_GRACE = timedelta(minutes=5)


def _hold_for_capture(reservation_id: int, order_id: str) -> tuple[Reservation, bool]:
    """Under the reservation's row lock: is the hold still this order's buyer's? Returns (row, held).

    Held: pending, its hold not passed, and `order_id` its own order; the hold is then kept for
    `CAPTURE_GRACE` more (expiry and cancel take the same lock and see the new time). A pending hold
    whose time passed (the sweep has not run yet) is expired here, as the sweep would.
    """
    from reservations.services.deposits import _free_puppy, _lock, hold_minutes

    now = timezone.now()
    with transaction.atomic():
        r = _lock(reservation_id)
        if r.external_payment_id:
            return r, False
        held = r.status == Reservation.Status.PENDING and r.checkout_id == order_id
        if held and r.expires_at <= now:
            r.status, r.status_reason = (Reservation.Status.EXPIRED,
                                         f"hold of {hold_minutes()} minutes passed without payment")
            r.save(update_fields=["status", "status_reason", "updated_at"])
            _free_puppy(r.puppy_id)
            held = False
        if held and r.expires_at < now + CAPTURE_GRACE:
            r.expires_at = now + CAPTURE_GRACE
            r.save(update_fields=["expires_at", "updated_at"])
    return r, held


def _abandon_order(r: Reservation, order_id: str) -> None:
    """Leave the approved order uncaptured and tell the buyer (once).

    PayPal Orders v2 has no call that voids a CAPTURE-intent order (its operations are create, get,
    patch, confirm-payment-source, authorize, capture and track: paypal-rest-api-specifications
    `openapi/checkout_orders_v2.json`; void exists only for AUTHORIZE-intent authorizations,
    `POST /v2/payments/authorizations/{id}/void`). Not capturing IS the abandon: "When a transaction
    is not captured within a specified amount of time after the buyer approves it ... PayPal ...
    initiates a cancellation of the order" (default 3 hours; "Handle uncaptured payments",
    developer.paypal.com/docs/checkout/apm/reference/handle-uncaptured-payments/, and CONTRACTS 4:
    CHECKOUT.PAYMENT-APPROVAL.REVERSED). No money moves without a capture, so we make no PayPal call.
    """
    from reservations.services.deposits import _context

    note = f"PayPal order {order_id} approved after the hold lapsed: not captured"
    if note not in r.status_reason:
        Reservation.objects.filter(pk=r.pk).update(status_reason=f"{note}; {r.status_reason}"[:200],
                                                   updated_at=timezone.now())
    logger.info("reservation %s: %s", r.reference, note)
    notify(event="deposit_not_captured", email=r.buyer_email, context=_context(r),
           idempotency_key=f"deposit_not_captured:{r.pk}:{order_id}")


def reservation_paypal_capture(*, order_id: str) -> Reservation:
    """Capture an approved PayPal order and confirm the deposit (the webhook later is a no-op), only
    while the buyer still holds the puppy (checked under the reservation's row lock). After the hold
    lapsed the order is abandoned, never captured (`_abandon_order`) and `HoldLapsed` is raised, so
    the buyer is never charged for a puppy they no longer hold (and the breeder pays no PayPal fee on
    a refund)."""
    from reservations.errors import HoldLapsed, ReservationNotFound
    from reservations.services.deposits import reservation_confirm_payment

    r = Reservation.objects.filter(provider=Reservation.Provider.PAYPAL, checkout_id=order_id).first()
    if r is None:
        raise ReservationNotFound("No reservation for that PayPal order.")
    if r.external_payment_id:
        return r
    r, held = _hold_for_capture(r.pk, order_id)
    if r.external_payment_id:
        return r  # paid meanwhile (the webhook of an earlier capture)
    if not held:
        _abandon_order(r, order_id)
        raise HoldLapsed()
    capture = paypal_client.order_capture(order_id=order_id, request_id=f"reservation-{r.pk}-capture")
    if capture.capture_status == "COMPLETED" and capture.amount is not None:
        return reservation_confirm_payment(reference=r.reference, provider=Reservation.Provider.PAYPAL,
                                           external_payment_id=capture.capture_id, amount=capture.amount,
                                           currency=capture.currency or r.currency)
    if capture.capture_status in ("DECLINED", "FAILED"):
        return reservation_cancel(reservation_id=r.pk, reason=f"paypal capture {capture.capture_status.lower()}")
    r.refresh_from_db()
    return r


def reservation_confirm_from_return(*, reservation: Reservation, session_id: str = "") -> Reservation | None:
    """The buyer is back on the success page and the webhook has not confirmed the deposit yet: read
    the Checkout Session from Stripe (server to server) and apply it through the webhook's own handler
    (`reservations.webhook_handlers.checkout_session_apply`), so a late webhook does not leave a paid
    buyer looking at "pending" (Stripe's fulfilment guide: fulfil from the landing page too, through the
    same function, docs.stripe.com/checkout/fulfillment).

    Nothing the browser sends is trusted beyond the session id it names, and that only when we stored
    none: the session is fetched from Stripe, and applied only when Stripe says it is this reservation's
    deposit session (`client_reference_id` and metadata `kind`). The webhook arriving later finds the
    payment recorded and changes nothing. Returns the reservation as it is now (None: nothing asked).
    """
    from inbox.errors import IgnoreEvent
    from reservations.webhook_handlers import checkout_session_apply

    r = reservation
    if (r.provider != Reservation.Provider.STRIPE or r.sandbox or r.external_payment_id
            or r.status not in (Reservation.Status.PENDING, Reservation.Status.EXPIRED, Reservation.Status.CANCELLED)
            or not stripe_client.is_configured()):
        return None
    sid = r.checkout_id or session_id
    if not sid or not sid.startswith("cs_") or len(sid) > 255:
        return None
    if over_limit(f"reservations:success_lookup:{r.pk}", limit=LOOKUPS_PER_MINUTE, window=60):
        return None  # a reloading (or scripted) page must not turn into a stream of Stripe reads
    session = stripe_client.checkout_session_retrieve(sid)
    if session.client_reference_id != r.reference or session.metadata.get("kind") != KIND:
        logger.warning("success page of %s named checkout session %s of another reservation", r.reference, sid)
        return None
    data = {"id": session.id, "status": session.status, "payment_status": session.payment_status,
            "payment_intent": session.payment_intent, "client_reference_id": session.client_reference_id,
            "amount_total": session.amount_total, "currency": session.currency or "", "metadata": session.metadata}
    try:
        with transaction.atomic():
            checkout_session_apply(data, event_type="checkout.session.completed")
    except IgnoreEvent as exc:  # not paid yet (e.g. a delayed method): the webhook finishes it
        logger.info("success page of %s: %s", r.reference, exc)
    return Reservation.objects.select_related("puppy").get(pk=r.pk)
