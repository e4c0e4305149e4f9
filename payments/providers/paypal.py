"""PayPal's server-to-server endpoint: `POST /api/paypal/webhook`, verified with PayPal's
verify-webhook-signature call before anything is stored or applied, then recorded in the inbox.

Who applies an event is decided by the inbox registry: invoice captures (`custom_id` `INV-...`)
by payments (payments/webhook_handlers.py), deposits (`RSV-...`) by reservations.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from circletel.http import ProviderError
from inbox.registry import event_json
from inbox.services import event_envelope_problem, webhook_accept, webhook_answer_json
from payments.clients import paypal as paypal_client

logger = logging.getLogger(__name__)

PROVIDER = "paypal"


def paypal_event_receive(*, body: str, headers: dict | None = None,
                         apply_inline: bool | None = None) -> tuple[int, dict]:
    """Record and apply (or queue) an already-verified event. Returns (HTTP status, JSON body).
    `apply_inline=None` follows WEBHOOK_APPLY_INLINE; the reservation sandbox passes True."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return 400, {"message": "invalid payload", "extra": {}}
    if refused := _not_an_event(parsed):
        return 400, refused
    event, created = webhook_accept(provider=PROVIDER, event_id=parsed["id"], event_type=parsed["event_type"],
                                    body=body, headers=headers or {}, apply_inline=apply_inline)
    return 200, webhook_answer_json(event, created)


def _not_an_event(parsed) -> dict | None:
    """The 400 body for a payload that is not an event we can store (an id or type that is not a
    string would otherwise be stored as its Python repr); None when it is one."""
    if not isinstance(parsed, dict):
        return {"message": "not a PayPal event", "extra": {}}
    if problem := event_envelope_problem(event_id=parsed.get("id"), event_type=parsed.get("event_type"),
                                         type_field="event_type"):
        return {"message": "not a PayPal event", "extra": {"reason": problem}}
    return None


@csrf_exempt
@require_POST
def paypal_webhook(request):
    if not (paypal_client.is_configured() and settings.PAYPAL.get("WEBHOOK_ID")):
        return JsonResponse({"message": "PayPal webhooks are not configured (PAYPAL_WEBHOOK_ID and credentials)",
                             "extra": {}}, status=503)
    if len(request.body) > getattr(settings, "WEBHOOK_MAX_BODY_BYTES", 65536):
        return JsonResponse({"message": "payload too large", "extra": {}}, status=413)
    try:
        body = request.body.decode("utf-8")
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return JsonResponse({"message": "invalid payload", "extra": {}}, status=400)
    if refused := _not_an_event(parsed):  # before asking PayPal: nothing to verify or store
        return JsonResponse(refused, status=400)
    try:
        verified = paypal_client.webhook_verify(headers=dict(request.headers), event=parsed)
    except ProviderError as exc:  # PayPal retries the delivery when we answer 5xx
        logger.warning("paypal verify-webhook-signature failed: %s", exc.message)
        return JsonResponse({"message": "could not verify the event now; retry later", "extra": {}}, status=503)
    if not verified:
        return JsonResponse({"message": "PayPal signature verification failed", "extra": {}}, status=400)
    status, payload = paypal_event_receive(body=body, headers=dict(request.headers))
    return JsonResponse(payload, status=status)


def event_resource(event) -> dict:
    """`resource` of a stored PayPal event (the inbox caches the parsed body on the event)."""
    return event_json(event).get("resource") or {}


def capture_is_ours(event, *, prefix: str, capture_known) -> bool:
    """Route match for PayPal capture events: our `custom_id` prefix (`INV-`, `RSV-`). Refunds may omit
    `custom_id`; then `capture_known(capture_id)` decides by the capture named in the refund's links."""
    resource = event_resource(event)
    custom_id = resource.get("custom_id") or ""
    if custom_id or event.event_type != "PAYMENT.CAPTURE.REFUNDED":
        return custom_id.startswith(prefix)
    capture_id = paypal_client.capture_id_from_links(resource)
    return bool(capture_id) and capture_known(capture_id)
