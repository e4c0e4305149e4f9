"""PayPal order endpoints for the buyer's browser (PayPal JS buttons): `POST /api/paypal/create-order`
and `POST /api/paypal/capture`, for deposits and invoices. The invoice ones need the invoice + account
number or the signed-in owner, answer every refusal the same, and are rate limited per client address
and per invoice (see `PayPalCreateOrderView`).

The portal dispatches: invoice orders to payments (`payments.services.paypal_payments`), deposit
orders to reservations (`reservations.services`). Each app keeps its own services; only this
routing sits above both.
"""

from __future__ import annotations

import logging

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from circletel.drf import ErrorSerializer
from circletel.throttle import client_ip, over_limit
from payments.api.serializers import PayPalInvoiceCaptureInput, PayPalInvoiceOrderInput
from payments.services.paypal_payments import (
    InvoiceOrderRefused,
    paypal_capture_for_payer,
    paypal_order_create_for_payer,
    paypal_payment_for_order,
)
from reservations.errors import ReservationNotFound
from reservations.serializers import PayPalCaptureSerializer, PayPalCreateOrderSerializer
from reservations.services import paypal_order_for_reservation, reservation_paypal_capture

logger = logging.getLogger(__name__)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


REFUSED = _error("No open invoice with those details, or not a deposit order of ours (the same answer for "
                 "every refusal)")
RATE_LIMITED = _error("Too many attempts from this address or for this invoice; see `Retry-After`")
PROVIDER_DOWN = _error("PayPal did not answer or refused the request")


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

    An invoice order answers 201 `{"order_id", "approve_url", "reference", "status", "paypal": {"currency",
    "amount", "amount_zar", "rate", "text"}}`: PayPal takes no ZAR, so the invoice's rand amount is charged
    in PAYPAL_CURRENCY at PAYPAL_ZAR_RATE (`payments.services.paypal_currency`), and the page shows
    `paypal.text` ("R 499.00 is charged as USD 26.97 through PayPal (R 18.50 = USD 1)") before sending the
    payer to `approve_url`. Without a valid rate: 400 "PayPal payments are not available right now.",
    nothing created or sent (issue 15; ADR 0014).

    Deposits are not throttled here; `paypal_order_for_reservation` orders only for a pending
    reservation's reference (`reservation_start_checkout` refuses any other status).
    """

    authentication_classes = [SessionAuthentication]  # the signed-in owner; CSRF-checked when signed in
    permission_classes = [AllowAny]

    @extend_schema(tags=["paypal"], summary="Create a PayPal order for an invoice or a reservation deposit",
                   request=PayPalCreateOrderSerializer,
                   responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="`order_id`, `approve_url` and "
                                                   "(invoices) the `paypal` currency quote"),
                              400: _error("Invalid input, or PayPal payments are not available right now"),
                              402: _error("PayPal declined"), 404: REFUSED,
                              409: _error("The reservation is not pending"), 429: RATE_LIMITED,
                              502: PROVIDER_DOWN})
    def post(self, request):
        if _posted(request, "kind") == "invoice":  # an invoice (like the public pay page): payments
            return self._invoice(request)
        # a deposit: reservations
        data = PayPalCreateOrderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = paypal_order_for_reservation(reference=data.validated_data["reference"],
                                             build_url=request.build_absolute_uri)
        return Response(order, status=201)

    def _invoice(self, request):
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

    @extend_schema(tags=["paypal"], summary="Capture an approved PayPal order (invoice or deposit)",
                   request=PayPalCaptureSerializer,
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The reservation's or the "
                                                   "invoice payment's `reference` and `status`"),
                              400: ErrorSerializer, 402: _error("PayPal declined the capture"), 404: REFUSED,
                              409: _error("PayPal captured another amount or currency than ordered (not booked), "
                                          "or the reservation's hold lapsed"),
                              429: RATE_LIMITED, 502: PROVIDER_DOWN})
    def post(self, request):
        data = PayPalCaptureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order_id = data.validated_data["order_id"]
        if (_posted(request, "kind") == "invoice" or _posted(request, "invoice_number") is not None
                or paypal_payment_for_order(order_id) is not None):  # an invoice order: payments
            return self._invoice(request, order_id)
        try:
            r = reservation_paypal_capture(order_id=order_id)
        except ReservationNotFound:
            # An order that is neither a deposit's nor an invoice's gets the invoice refusal's exact
            # answer, so a probe cannot tell invoice orders from unknown ones.
            raise InvoiceOrderRefused() from None
        return Response({"reference": r.reference, "status": r.status, "refund_state": r.refund_state})

    def _invoice(self, request, order_id: str):
        if limited := _ip_throttled(request, "capture"):
            return limited
        data = PayPalInvoiceCaptureInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        p = paypal_capture_for_payer(order_id=order_id, invoice_number=v.get("invoice_number", ""),
                                     account_number=v.get("account_number", ""), user=request.user)
        return Response({"reference": p.reference, "status": p.status,
                         "invoice": p.invoice.number if p.invoice else None})
