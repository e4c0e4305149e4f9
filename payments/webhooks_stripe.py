"""`POST /api/webhooks/stripe`: verify, record, then apply through `STRIPE_HANDLERS` in a task.

Verification uses the SDK (`stripe.WebhookSignature.verify_header`, tolerance 300 s) with the
configured endpoint secret; with no secret configured the endpoint refuses everything (503, fail
closed). The SDK only refuses timestamps older than the tolerance, so a signature dated more than
the same tolerance in the future is refused here too; an event whose `id` or `type` is not a
string is refused (400) before anything is stored.
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
import time
from collections.abc import Callable

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.models import WebhookEvent
from payments.webhooks import Handler, IgnoreEvent, event_envelope_problem, webhook_accept, webhook_answer_json

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
# Both ways: older than this is refused by the SDK, newer than now + this by `_dated_in_the_future`.
# The forward allowance (5 minutes) is also all the clock skew we accept between Stripe and us.
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


def _signed_timestamp(header: str) -> int:
    """The `t=` value of a header `verify_header` has accepted, read exactly as the SDK reads it.

    stripe-python 16.1.0 `stripe/_webhook.py` `WebhookSignature._get_timestamp_and_signatures`:
    `[i.split("=", 2) for i in header.split(",")]`, then the FIRST item whose key is `t`; the HMAC
    it checks is over `"%d.%s" % (timestamp, payload)`, so this is the signed timestamp (a later
    `t=` appended to the header is neither signed nor read). `verify_header` then refuses only
    `timestamp < time.time() - tolerance` (the past), hence `_dated_in_the_future`.
    """
    items = [item.split("=", 2) for item in header.split(",")]
    return int([item[1] for item in items if item[0] == "t"][0])


def _dated_in_the_future(header: str) -> bool:
    return _signed_timestamp(header) > time.time() + TOLERANCE_SECONDS


def stripe_webhook_receive(*, body: bytes, signature: str | None, secret: str, headers: dict | None = None,
                           apply_inline: bool | None = None) -> tuple[int, dict]:
    """Verify, record and apply (or queue) one delivery. Returns (HTTP status, JSON body).

    Used by the view (`apply_inline=None`: the WEBHOOK_APPLY_INLINE setting, queued by default) and
    by the reservation sandbox (`apply_inline=True`: its next page shows the result). The signature
    is checked with the SDK (`stripe.WebhookSignature.verify_header`, what `construct_event` calls)
    before the body is parsed, then its timestamp against the future; building the SDK's Event
    object is skipped: handlers read the stored JSON anyway. Every refusal stores nothing.
    """
    try:
        text = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return 400, {"message": "invalid Stripe signature", "extra": {}}
    except UnicodeDecodeError:
        return 400, {"message": "invalid payload", "extra": {}}
    if _dated_in_the_future(signature):
        logger.warning("stripe webhook signed with a timestamp more than %s s ahead; refused", TOLERANCE_SECONDS)
        return 400, {"message": "invalid Stripe signature", "extra": {"reason": "timestamp outside the tolerance zone"}}
    try:
        parsed = json.loads(text)
    except ValueError:
        return 400, {"message": "invalid payload", "extra": {}}
    if not isinstance(parsed, dict) or parsed.get("object") != "event":
        return 400, {"message": "not a Stripe event", "extra": {}}
    if problem := event_envelope_problem(event_id=parsed.get("id"), event_type=parsed.get("type")):
        return 400, {"message": "not a Stripe event", "extra": {"reason": problem}}
    event, created = webhook_accept(provider=PROVIDER, event_id=parsed["id"], event_type=parsed["type"],
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
