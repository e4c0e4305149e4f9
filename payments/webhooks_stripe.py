"""`POST /api/webhooks/stripe`: verify, record, then apply through `STRIPE_HANDLERS` in a task.

Verification uses the SDK (`stripe.Webhook.construct_event`, tolerance 300 s) with the configured
endpoint secret; with no secret configured the endpoint refuses everything (503, fail closed).
A verified event is recorded and answered `{"status": "queued"}`; the task
`payments.tasks.process_webhook_event` applies it after commit (see `payments.webhooks.webhook_accept`).
Adding an event type: `STRIPE_HANDLERS["payment_intent.succeeded"] = handler` (or the
`stripe_handler` decorator); a handler takes the stored WebhookEvent, runs inside the processing
transaction, must be idempotent by state, and may raise `IgnoreEvent(reason)`.
Checkout sessions are routed again by `metadata.kind` (`CHECKOUT_KIND_HANDLERS`), so invoice
payments can share `checkout.session.completed` with reservation deposits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.models import WebhookEvent
from payments.webhooks import Handler, IgnoreEvent, webhook_accept, webhook_answer_json

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
TOLERANCE_SECONDS = 300

STRIPE_HANDLERS: dict[str, Handler] = {}
CHECKOUT_KIND_HANDLERS: dict[str, Callable[[dict, WebhookEvent], None]] = {}


def stripe_handler(*event_types: str):
    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            STRIPE_HANDLERS[event_type] = fn
        return fn

    return register


def event_object(event: WebhookEvent) -> dict:
    return json.loads(event.body)["data"]["object"]


@stripe_handler("checkout.session.completed", "checkout.session.async_payment_succeeded",
                "checkout.session.expired", "checkout.session.async_payment_failed")
def _checkout_session(event: WebhookEvent) -> None:
    session = event_object(event)
    kind = (session.get("metadata") or {}).get("kind", "")
    handler = CHECKOUT_KIND_HANDLERS.get(kind)
    if handler is None:
        raise IgnoreEvent(f"checkout session kind {kind!r} is not handled")
    handler(session, event)


def _reservation_deposit(session: dict, event: WebhookEvent) -> None:
    from reservations.models import Reservation
    from reservations.serializers import StripeCheckoutSessionSerializer
    from reservations.services import reservation_cancel, reservation_confirm_payment

    reference = session.get("client_reference_id") or (session.get("metadata") or {}).get("reference")
    if not reference:
        raise IgnoreEvent("checkout session has no reservation reference")
    if event.event_type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        r = Reservation.objects.filter(reference=reference, provider=PROVIDER).first()
        if r is None:
            raise IgnoreEvent(f"no reservation {reference}")
        reservation_cancel(reservation_id=r.pk, reason=f"stripe: {event.event_type}")
        return
    data = StripeCheckoutSessionSerializer(data=session)
    if not data.is_valid():
        raise ValueError(f"unexpected checkout session shape: {data.errors}")
    s = data.validated_data
    if s["payment_status"] != "paid" or not s.get("payment_intent"):
        raise IgnoreEvent(f"payment_status is {s['payment_status']}; waiting for async_payment_succeeded")
    from payments.clients.stripe import from_cents

    reservation_confirm_payment(reference=reference, provider=PROVIDER, external_payment_id=s["payment_intent"],
                                amount=from_cents(s["amount_total"]), currency=s["currency"].upper(),
                                webhook_event=event, checkout_id=s["id"])


CHECKOUT_KIND_HANDLERS["reservation_deposit"] = _reservation_deposit


# --- invoice payments (payments/services/stripe_payments.py) -------------------------------------------
@stripe_handler("payment_intent.succeeded")
def _intent_succeeded(event: WebhookEvent) -> None:
    from payments.services.stripe_payments import stripe_intent_succeeded

    stripe_intent_succeeded(intent=event_object(event))


@stripe_handler("payment_intent.payment_failed")
def _intent_failed(event: WebhookEvent) -> None:
    from payments.services.stripe_payments import stripe_intent_failed

    stripe_intent_failed(intent=event_object(event))


@stripe_handler("charge.refunded")
def _charge_refunded(event: WebhookEvent) -> None:
    """An invoice payment's refunds (payments/services/stripe_payments.py); a reservation deposit's
    charge refunded in full, every listed refund succeeded, goes to the reservations app."""
    from payments.services.stripe_payments import stripe_charge_refunded

    charge = event_object(event)
    try:
        stripe_charge_refunded(charge=charge)
    except IgnoreEvent:
        if not _deposit_charge_refunded(charge):
            raise


def _deposit_charge_refunded(charge: dict) -> bool:
    from reservations.services import deposit_charge_refunded

    listed = ((charge.get("refunds") or {}).get("data")) or []
    if not charge.get("refunded") or not charge.get("payment_intent"):
        return False  # partly refunded: deposits are refunded whole, by us
    if any(r.get("status") != "succeeded" for r in listed):
        return False  # a refund still pending: its refund events finish it
    refund_id = listed[-1].get("id") if listed else f"{charge.get('id')}:refunded"
    return deposit_charge_refunded(external_payment_id=charge["payment_intent"], refund_id=refund_id or "")


@stripe_handler("refund.updated", "refund.failed", "charge.refund.updated")
def _refund_changed(event: WebhookEvent) -> None:
    """data.object is a Refund: a pending refund succeeded, failed or was canceled (see refunds.py).
    A refund of a reservation deposit (no invoice payment) goes to the reservations app."""
    from payments.services.stripe_payments import stripe_refund_changed
    from reservations.services import deposit_refund_update

    refund = event_object(event)
    try:
        stripe_refund_changed(refund=refund)
    except IgnoreEvent:
        if not deposit_refund_update(provider_refund_id=refund.get("id") or "", status=refund.get("status") or "",
                                     raw=refund):
            raise


def stripe_webhook_receive(*, body: bytes, signature: str | None, secret: str, headers: dict | None = None,
                           apply_inline: bool | None = None) -> tuple[int, dict]:
    """Verify, record and apply (or queue) one delivery. Returns (HTTP status, JSON body).

    Used by the view (`apply_inline=None`: the WEBHOOK_APPLY_INLINE setting, queued by default) and
    by the reservation sandbox (`apply_inline=True`: its next page shows the result). The signature
    is checked with the SDK (`stripe.WebhookSignature.verify_header`, what `construct_event` calls)
    before the body is parsed; building the SDK's Event object is skipped: handlers read the stored
    JSON anyway.
    """
    try:
        text = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return 400, {"message": "invalid Stripe signature", "extra": {}}
    except UnicodeDecodeError:
        return 400, {"message": "invalid payload", "extra": {}}
    try:
        parsed = json.loads(text)
    except ValueError:
        return 400, {"message": "invalid payload", "extra": {}}
    if not isinstance(parsed, dict) or not parsed.get("id") or not parsed.get("type") or (
            parsed.get("object") != "event"):
        return 400, {"message": "not a Stripe event", "extra": {}}
    event, created = webhook_accept(provider=PROVIDER, event_id=str(parsed["id"]), event_type=str(parsed["type"]),
                                    body=text, headers=headers or {}, handlers=STRIPE_HANDLERS,
                                    apply_inline=apply_inline)
    return 200, webhook_answer_json(event, created)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    secret = settings.STRIPE.get("WEBHOOK_SECRET")
    if not secret:
        return JsonResponse({"message": "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)", "extra": {}},
                            status=503)
    if len(request.body) > getattr(settings, "WEBHOOK_MAX_BODY_BYTES", 65536):
        return JsonResponse({"message": "payload too large", "extra": {}}, status=413)
    status, payload = stripe_webhook_receive(body=request.body, signature=request.headers.get("Stripe-Signature"),
                                             secret=secret, headers=dict(request.headers))
    return JsonResponse(payload, status=status)


__all__ = ["CHECKOUT_KIND_HANDLERS", "STRIPE_HANDLERS", "stripe_handler", "stripe_webhook",
           "stripe_webhook_receive"]
