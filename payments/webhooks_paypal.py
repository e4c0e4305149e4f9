"""PayPal: `POST /api/paypal/webhook` (verified with PayPal's verify-webhook-signature call before
anything is stored or applied), plus `create-order` and `capture` for deposits and invoices (the
invoice ones need the invoice + account number or the signed-in owner, answer every refusal the
same, and are rate limited per client address and per invoice; see `PayPalCreateOrderView`).

Handlers are a dict (`PAYPAL_HANDLERS`) keyed by event type; each is idempotent by state. The
capture's `custom_id` carries our reference; `CUSTOM_ID_HANDLERS` routes by its prefix so invoice
payments (`INV-...`) can be added next to deposits (`RSV-...`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from circletel.http import ProviderError
from circletel.throttle import client_ip, over_limit
from payments.clients import paypal as paypal_client
from payments.models import WebhookEvent
from payments.webhooks import Handler, IgnoreEvent, event_envelope_problem, webhook_accept, webhook_answer_json

logger = logging.getLogger(__name__)

PROVIDER = "paypal"


def _resource(event: WebhookEvent) -> dict:
    return json.loads(event.body).get("resource") or {}


def _capture_id_from_links(resource: dict) -> str:
    for link in resource.get("links") or []:
        if link.get("rel") == "up" and "/captures/" in link.get("href", ""):
            return link["href"].rstrip("/").rsplit("/", 1)[-1]
    return ""


# --- deposits ------------------------------------------------------------------------------------------
def _deposit_capture_completed(resource: dict, event: WebhookEvent) -> None:
    from reservations.serializers import PayPalCaptureResourceSerializer
    from reservations.services import reservation_confirm_payment

    data = PayPalCaptureResourceSerializer(data=resource)
    if not data.is_valid():
        raise ValueError(f"unexpected capture shape: {data.errors}")
    amount = resource["amount"]
    reservation_confirm_payment(reference=resource["custom_id"], provider=PROVIDER, external_payment_id=resource["id"],
                                amount=Decimal(amount["value"]), currency=amount["currency_code"],
                                webhook_event=event)


def _deposit_capture_denied(resource: dict, event: WebhookEvent) -> None:
    from reservations.models import Reservation
    from reservations.services import reservation_cancel

    r = Reservation.objects.filter(reference=resource.get("custom_id", ""), provider=PROVIDER).first()
    if r is None:
        raise IgnoreEvent("no matching reservation")
    reservation_cancel(reservation_id=r.pk, reason=f"paypal: {event.event_type}")


def _deposit_capture_refunded(resource: dict, event: WebhookEvent) -> None:
    from reservations.services import reservation_mark_refunded

    capture_id = _capture_id_from_links(resource)
    if not capture_id:
        raise IgnoreEvent("refund without a capture link")
    reservation_mark_refunded(provider=PROVIDER, external_payment_id=capture_id, refund_id=resource.get("id", ""))


CUSTOM_ID_HANDLERS: dict[str, dict[str, Callable[[dict, WebhookEvent], None]]] = {
    "RSV-": {
        "PAYMENT.CAPTURE.COMPLETED": _deposit_capture_completed,
        "PAYMENT.CAPTURE.DENIED": _deposit_capture_denied,
        "PAYMENT.CAPTURE.DECLINED": _deposit_capture_denied,
        "PAYMENT.CAPTURE.REFUNDED": _deposit_capture_refunded,
    },
}


# --- invoice payments (payments/services/paypal_payments.py) --------------------------------------------
def _invoice_capture_completed(resource: dict, event: WebhookEvent) -> None:
    from payments.services.paypal_payments import paypal_webhook_capture_completed

    paypal_webhook_capture_completed(resource, event)


def _invoice_capture_denied(resource: dict, event: WebhookEvent) -> None:
    from payments.services.paypal_payments import paypal_webhook_capture_denied

    paypal_webhook_capture_denied(resource, event)


def _invoice_capture_refunded(resource: dict, event: WebhookEvent) -> None:
    from payments.services.paypal_payments import paypal_webhook_capture_refunded

    if not paypal_webhook_capture_refunded(resource, _capture_id_from_links(resource)):
        raise IgnoreEvent("refund for a capture we do not know")


CUSTOM_ID_HANDLERS["INV-"] = {
    "PAYMENT.CAPTURE.COMPLETED": _invoice_capture_completed,
    "PAYMENT.CAPTURE.DENIED": _invoice_capture_denied,
    "PAYMENT.CAPTURE.DECLINED": _invoice_capture_denied,
    "PAYMENT.CAPTURE.REFUNDED": _invoice_capture_refunded,
}


def _route(event: WebhookEvent) -> None:
    resource = _resource(event)
    custom_id = resource.get("custom_id") or ""
    for prefix, handlers in CUSTOM_ID_HANDLERS.items():
        if custom_id.startswith(prefix) and event.event_type in handlers:
            return handlers[event.event_type](resource, event)
    if event.event_type == "PAYMENT.CAPTURE.REFUNDED" and not custom_id:
        from payments.services.paypal_payments import paypal_webhook_capture_refunded

        if paypal_webhook_capture_refunded(resource, _capture_id_from_links(resource)):
            return None  # an invoice payment's capture
        return _deposit_capture_refunded(resource, event)  # refunds may omit custom_id; match by capture id
    raise IgnoreEvent(f"no handler for custom_id {custom_id!r}")


PAYPAL_HANDLERS: dict[str, Handler] = {
    "PAYMENT.CAPTURE.COMPLETED": _route,
    "PAYMENT.CAPTURE.DENIED": _route,
    "PAYMENT.CAPTURE.DECLINED": _route,
    "PAYMENT.CAPTURE.REFUNDED": _route,
}


def paypal_event_receive(*, body: str, headers: dict | None = None,
                         apply_inline: bool | None = None) -> tuple[int, dict]:
    """Record and apply (or queue) an already-verified event. Returns (HTTP status, JSON body).
    `apply_inline=None` follows WEBHOOK_APPLY_INLINE; the reservation sandbox passes True."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return 400, {"message": "invalid payload", "extra": {}}
    if refused := _not_an_event(parsed):
        return 400, refused
    event, created = webhook_accept(provider=PROVIDER, event_id=parsed["id"], event_type=parsed["event_type"],
                                    body=body, headers=headers or {}, handlers=PAYPAL_HANDLERS,
                                    apply_inline=apply_inline)
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
    except (UnicodeDecodeError, ValueError):
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


# --- buyer-facing order endpoints (PayPal JS buttons) -----------------------------------------------------
def _rate_window() -> int:
    return settings.PAYPAL_INVOICE_RATE_WINDOW


def _over_limit(key: str, limit: int) -> bool:
    return over_limit(key, limit=limit, window=_rate_window())  # the public /pay/ page's counter


def _too_many(what: str, request) -> Response:
    logger.warning("paypal invoice %s rate limit hit from %s", what, client_ip(request))
    return Response({"message": "Too many attempts. Please try again in a few minutes.", "extra": {}}, status=429,
                    headers={"Retry-After": str(_rate_window())})


def _ip_throttled(request, what: str) -> Response | None:
    limit = settings.PAYPAL_INVOICE_RATE_LIMIT_PER_IP
    return _too_many(what, request) if _over_limit(f"payments:paypal_invoice:ip:{client_ip(request)}", limit) else None


def _invoice_throttled(request, invoice_number: str) -> Response | None:
    limit = settings.PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE
    return _too_many("create-order", request) if _over_limit(f"payments:paypal_invoice:inv:{invoice_number}",
                                                              limit) else None


def _posted(request, field: str):
    """One field of the posted body, or None (also for a JSON body that is not an object: the
    serializer then answers 400 instead of the view failing)."""
    return request.data.get(field) if hasattr(request.data, "get") else None


def _create_order_schema():
    from reservations.serializers import PayPalCreateOrderSerializer

    return PayPalCreateOrderSerializer


def _capture_schema():
    from reservations.serializers import PayPalCaptureSerializer

    return PayPalCaptureSerializer


class PayPalCreateOrderView(APIView):
    """`POST /api/paypal/create-order` `{"kind": "reservation_deposit", "reference": "RSV-..."}` or
    `{"kind": "invoice", "invoice_number": "INV-...", "account_number": "CT-..."}`.

    Invoice orders need what the public /pay/ page needs, the invoice number and the customer's
    account number, or the invoice's customer signed in (session; then the account number may be
    left out, and Django's CSRF check applies as to any session post). Anonymous without an account
    number: 400 on the field, before any lookup. Every other refusal (no such invoice, wrong account
    number, someone else's, paid, void, nothing due) is the same 404 `{"message": "We could not find
    an open invoice with those details.", "extra": {}}` (`InvoiceOrderRefused`), and a PayPal
    decline (402) carries no payment id or reference of ours: the answers reveal nothing about an
    invoice the caller cannot prove is theirs.

    Rate limits, fixed windows of PAYPAL_INVOICE_RATE_WINDOW seconds (600) in the Django cache, like
    the public /pay/ page: every invoice create-order and invoice capture post from one client address
    counts towards PAYPAL_INVOICE_RATE_LIMIT_PER_IP (20), and create-order posts naming one invoice
    number, from any address, towards PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE (30). The per-invoice
    count is taken before the lookup, for numbers that do not exist too (so a 429 says nothing about
    existence), and it caps guessing the account number of a known invoice from many addresses;
    anyone holding the number can use it up for a window. Over a limit: 429 `{"message", "extra": {}}`
    with `Retry-After` (the window), and nothing is created. A repeat within the limit reuses the
    invoice's pending order (`paypal_order_create_for_invoice`), so it costs no PayPal call.

    Deposits are not throttled here; `paypal_order_for_reservation` orders only for a pending
    reservation's reference (`reservation_start_checkout` refuses any other status).
    """

    authentication_classes = [SessionAuthentication]  # the signed-in owner; CSRF-checked when signed in
    permission_classes = [AllowAny]

    @extend_schema(tags=["paypal"], request=_create_order_schema(), responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        if _posted(request, "kind") == "invoice":  # Payments II: pay an invoice (like the public pay page)
            return self._invoice(request)
        from reservations.serializers import PayPalCreateOrderSerializer
        from reservations.services import paypal_order_for_reservation

        data = PayPalCreateOrderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = paypal_order_for_reservation(reference=data.validated_data["reference"],
                                             build_url=request.build_absolute_uri)
        return Response(order, status=201)

    def _invoice(self, request):
        from payments.api.serializers import PayPalInvoiceOrderInput
        from payments.services.paypal_payments import paypal_order_create_for_payer

        if limited := _ip_throttled(request, "create-order"):
            return limited
        data = PayPalInvoiceOrderInput(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if limited := _invoice_throttled(request, v["invoice_number"]):
            return limited
        order = paypal_order_create_for_payer(invoice_number=v["invoice_number"],
                                              account_number=v.get("account_number", ""), user=request.user,
                                              build_url=request.build_absolute_uri)
        return Response(order, status=201)


class PayPalCaptureView(APIView):
    """`POST /api/paypal/capture` `{"order_id": "..."}` -> the reservation's or invoice payment's status.

    An invoice order (one we created for an invoice, or any post with `"kind": "invoice"` or an
    `invoice_number`) needs the same proof as its create-order: `invoice_number` + `account_number`
    of the order's own invoice, or the invoice's customer signed in. Any refusal, including an order
    that is not ours or not that invoice's, is the create-order 404 (`InvoiceOrderRefused`), and
    nothing is captured. Captures of invoice orders count towards the per-address limit of
    `PayPalCreateOrderView`. Deposit orders are captured by order id alone, as before.
    """

    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(tags=["paypal"], request=_capture_schema(), responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        from reservations.serializers import PayPalCaptureSerializer
        from reservations.services import reservation_paypal_capture

        data = PayPalCaptureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order_id = data.validated_data["order_id"]
        from payments.services.paypal_payments import paypal_payment_for_order

        if (_posted(request, "kind") == "invoice" or _posted(request, "invoice_number") is not None
                or paypal_payment_for_order(order_id) is not None):  # Payments II: an invoice order
            return self._invoice(request, order_id)
        r = reservation_paypal_capture(order_id=order_id)
        return Response({"reference": r.reference, "status": r.status, "refund_state": r.refund_state})

    def _invoice(self, request, order_id: str):
        from payments.api.serializers import PayPalInvoiceCaptureInput
        from payments.services.paypal_payments import paypal_capture_for_payer

        if limited := _ip_throttled(request, "capture"):
            return limited
        data = PayPalInvoiceCaptureInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        p = paypal_capture_for_payer(order_id=order_id, invoice_number=v.get("invoice_number", ""),
                                     account_number=v.get("account_number", ""), user=request.user)
        return Response({"reference": p.reference, "status": p.status,
                         "invoice": p.invoice.number if p.invoice else None})
