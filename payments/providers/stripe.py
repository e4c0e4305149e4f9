"""Stripe's server-to-server endpoint: `POST /api/webhooks/stripe`, verified, then recorded in the inbox.

Verification uses the SDK (`stripe.WebhookSignature.verify_header`, tolerance 300 s) with the
configured endpoint secret; with no secret configured the endpoint refuses everything (503, fail
closed). The SDK only refuses timestamps older than the tolerance, so a signature dated more than
the same tolerance in the future is refused here too; an event whose `id` or `type` is not a
string is refused (400) before anything is stored. A verified event is recorded in the inbox and
answered `{"status": "queued"}`; the inbox task applies it after commit through the handler an
app registered for it (invoice payments: payments/webhook_handlers.py; deposits: reservations).
"""

from __future__ import annotations

import json
import logging
import time

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbox.registry import event_json
from inbox.services import event_envelope_problem, webhook_accept, webhook_answer_json

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
# Both ways: older than this is refused by the SDK, newer than now + this by `_dated_in_the_future`.
# The forward allowance (5 minutes) is also all the clock skew we accept between Stripe and us.
TOLERANCE_SECONDS = 300


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
    except (ValueError, RecursionError):
        return 400, {"message": "invalid payload", "extra": {}}
    if not isinstance(parsed, dict) or parsed.get("object") != "event":
        return 400, {"message": "not a Stripe event", "extra": {}}
    if problem := event_envelope_problem(event_id=parsed.get("id"), event_type=parsed.get("type")):
        return 400, {"message": "not a Stripe event", "extra": {"reason": problem}}
    event, created = webhook_accept(provider=PROVIDER, event_id=parsed["id"], event_type=parsed["type"],
                                    body=text, headers=headers or {}, apply_inline=apply_inline)
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


def event_object(event) -> dict:
    """`data.object` of a stored Stripe event (the inbox caches the parsed body on the event)."""
    return event_json(event)["data"]["object"]
