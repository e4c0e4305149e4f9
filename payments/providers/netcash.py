"""NetCash's server-to-server endpoints: the Pay Now Notify (at its secret path) and the eMandate postback.

Plain Django views (no DRF): they read raw bodies and must answer fast. A Pay Now notify goes:

    netcash_notify (secret path, body checks, HMAC tamper check, invoice check)
      -> inbox.services.webhook_accept (one INSERT; the apply task queued on commit)
      -> inbox.tasks.process_webhook_event -> inbox.registry -> payments.services.netcash_paynow.paynow_apply
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from circletel.errors import ApplicationError
from inbox.models import WebhookEvent
from inbox.services import webhook_accept, webhook_answer
from payments.clients import netcash
from payments.clients.netcash import parse_form
from payments.errors import NotifyRejected
from payments.selectors import paynow_invoice_check, paynow_invoice_status
from payments.services.mandates import mandate_postback_token_valid, mandate_update_status

logger = logging.getLogger(__name__)
FORM_TYPE = "application/x-www-form-urlencoded"


def _reject(status: int, message: str, extra: dict | None = None) -> JsonResponse:
    return JsonResponse({"message": message, "extra": extra or {}}, status=status)


def netcash_notify_token_valid(token: str) -> bool:
    """The secret path segment of our Notify URL (NETCASH_NOTIFY_TOKEN), compared in constant time.
    No token configured means no notify is accepted (fail closed)."""
    expected = settings.NETCASH.get("NOTIFY_TOKEN") or ""
    return bool(expected) and hmac.compare_digest(expected.encode(), (token or "").encode())


def paynow_notify_receive(*, fields: dict, body: str, headers: dict | None = None,
                          apply_inline: bool | None = None) -> tuple[WebhookEvent | None, bool]:
    """Tamper-check one notify, check it names an open invoice of ours, record it in the inbox and
    apply it now or queue it on commit. Raises `NotifyRejected` (4xx; nothing stored).

    Returns (event, created). A queued-mode duplicate returns (None, False): nothing was read back.
    """
    notify = netcash.paynow_notify_from_fields(fields)
    paynow_invoice_check(paynow_invoice_status(notify.reference), notify.reference)
    return webhook_accept(provider=netcash.PROVIDER, event_id=f"{notify.request_trace}:{notify.reference}",
                          event_type=f"paynow.{notify.kind}", body=body, headers=headers or {},
                          apply_inline=apply_inline)


def netcash_notify_response(*, token: str, body: bytes, content_type: str, headers: dict | None = None,
                            apply_inline: bool | None = None) -> HttpResponse:
    """Everything a Pay Now notify does after reading the socket: the secret-path check first (404
    and nothing stored on a wrong token), then the body checks, record and apply once. The sandbox
    gateway calls this too, with the configured token, so its notify takes the real path.
    `apply_inline=None` follows WEBHOOK_APPLY_INLINE: off, the payment is applied by a task queued
    on commit and the answer is "OK queued"."""
    if not netcash_notify_token_valid(token):
        logger.warning("netcash notify refused: unknown notify path")
        return _reject(404, "Not found.")
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        logger.warning("netcash notify rejected: body too large (%s bytes)", len(body))
        return _reject(413, "Request body too large.")
    if (content_type or "").split(";")[0].strip().lower() != FORM_TYPE:
        logger.warning("netcash notify rejected: content type %r", (content_type or "")[:60])
        return _reject(415, "Expected application/x-www-form-urlencoded.")
    try:
        text = body.decode("utf-8")
        fields = parse_form(text)
    except (UnicodeDecodeError, ValueError):
        logger.warning("netcash notify rejected: malformed body")
        return _reject(400, "Malformed form body.")
    try:
        event, created = paynow_notify_receive(fields=fields, body=text, headers=headers or {},
                                               apply_inline=apply_inline)
    except NotifyRejected as exc:
        logger.warning("netcash notify rejected (%s): %s reference=%s", exc.status_code, exc.message,
                       (fields.get("Reference") or "")[:64])
        return _reject(exc.status_code, exc.message, exc.extra)
    status = webhook_answer(event, created)
    if created and event.status == WebhookEvent.Status.FAILED:
        # Stored and retried by the reprocess schedule; NetCash still gets its 200.
        logger.error("netcash notify %s stored but failed: %s", event.event_id, event.error[:200])
    return HttpResponse(f"OK {status}", content_type="text/plain")


@csrf_exempt
def netcash_notify(request: HttpRequest, token: str) -> HttpResponse:
    """NetCash's server-to-server Pay Now Notify, at the secret URL pasted into the NetCash portal
    (`/api/payments/netcash/notify/<NETCASH_NOTIFY_TOKEN>`). This is the only request that changes
    money for Pay Now: the Accept/Decline/Redirect posts come through the customer's browser and
    only display (`payments.views.netcash_return`). CONTRACTS 2.1 (corrected 2026-12), ADR 0010."""
    if not netcash_notify_token_valid(token):
        # Before the method or the body: a wrong path, with any method, is a plain 404 that stores
        # and parses nothing (a 405 would tell a prober the route exists).
        logger.warning("netcash notify refused: unknown notify path")
        return _reject(404, "Not found.")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _reject(400, "Bad Content-Length.")
    if declared > limit:
        logger.warning("netcash notify rejected: declared body too large (%s bytes)", declared)
        return _reject(413, "Request body too large.")
    body = request.read(limit + 1)
    return netcash_notify_response(token=token, body=body, content_type=request.META.get("CONTENT_TYPE", ""),
                                   headers={k: v for k, v in request.headers.items()})


@csrf_exempt
@require_POST
def netcash_mandate_postback(request: HttpRequest, token: str) -> HttpResponse:
    """eMandate outcome postback (CONTRACTS 2.4, [UNCONFIRMED] fields). Authenticated by the secret
    token in the URL; answers 4xx with a reason for anything we cannot apply."""
    if not mandate_postback_token_valid(token):
        logger.warning("netcash mandate postback rejected: bad token")
        return _reject(404, "Not found.")  # like the notify: a wrong secret path does not exist
    body = request.read(settings.WEBHOOK_MAX_BODY_BYTES + 1)
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        return _reject(413, "Request body too large.")
    try:
        fields = parse_form(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _reject(400, "Malformed form body.")
    reference = (fields.get("AccountRef") or fields.get("AccountReference") or "").strip()
    flag = (fields.get("MandateSuccessful") or "").strip()
    if not reference or flag not in ("0", "1"):
        return _reject(400, "AccountRef and MandateSuccessful (0/1) are required.")
    try:
        mandate_update_status(account_reference=reference, successful=flag == "1",
                              reason=fields.get("ReasonForDecline", ""), pdf_link=fields.get("MandatePDFLink", ""),
                              raw={k: v for k, v in fields.items() if k != "BankAccountNo"})
    except ApplicationError as exc:
        logger.warning("netcash mandate postback rejected: %s", exc.message)
        return _reject(exc.status_code, exc.message, exc.extra)
    return HttpResponse("OK", content_type="text/plain")
