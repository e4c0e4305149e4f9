"""Payments API (DRF): customers see and pay only their own payments; refunds are staff-only.

Views parse input, call one service or selector and render. `POST process` and `POST refund`
honour an `Idempotency-Key` header (payments/services/idempotency.py).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db.models import Q
from django.http import FileResponse, Http404
from django.http.request import RawPostDataException
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Invoice
from billing.selectors import customer_for_user
from circletel.drf import API_AUTHENTICATION, BoundedLimitOffsetPagination, ErrorSerializer
from circletel.errors import ApplicationError, error_body
from payments.api.serializers import (
    AddCardInput,
    HistoryFilter,
    PaymentMethodOut,
    PaymentOut,
    ProcessInput,
    RefundInput,
    RefundOut,
)
from payments.errors import PaymentNotFound
from payments.models import PaymentMethod, PaymentTransaction
from payments.selectors import payments_shown_to_customers
from payments.services.idempotency import (
    IdempotencyKeyInProgress,
    idempotency_begin,
    idempotency_finish,
    idempotency_release,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="8-255 printable characters; a repeat with the same body within 24 h replays the first response.")


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


NO_CUSTOMER = _error("No such object, or the sign-in is not linked to a customer account")
IDEMPOTENCY_ERRORS = {409: _error("A request with this Idempotency-Key is still in progress (see `Retry-After`), "
                                  "or the request conflicts with the current state"),
                      422: _error("This Idempotency-Key was used with a different request")}
PROVIDER_DOWN = _error("The payment provider did not answer or refused the request (`extra.retryable`)")


class PaymentsAPIView(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]


def _retryable(exc: ApplicationError) -> bool:
    """Whether the error tells the client to try again (provider down, rate limited): such an answer
    is not stored under the key. The signal is the provider-error mapping's `retryable` flag, set on
    provider errors and carried in `extra` by `PaymentDeclined` (payments/provider_errors.py)."""
    if getattr(exc, "retryable", False) is True:
        return True
    return isinstance(exc.extra, dict) and exc.extra.get("retryable") is True


def _request_body(request) -> bytes:
    """The body the idempotency fingerprint is taken of: the raw bytes, read before DRF parses the
    stream. A multipart body is parsed before the view (RejectNulBytesMiddleware reads its fields),
    so its bytes are gone: its fields, sorted, stand for it (reading `request.body` was a 500)."""
    try:
        return request.body
    except RawPostDataException:
        fields = sorted((key, value) for key, values in request._request.POST.lists() for value in values)
        return json.dumps(fields, ensure_ascii=False).encode()


def _with_idempotency(request, run):
    """Run `run()` -> (status, body) once per Idempotency-Key (when the header is given)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, body = run()
        return Response(body, status=status)
    try:
        outcome = idempotency_begin(user=request.user, key=key, method=request.method, path=request.path,
                                    body=_request_body(request), content_type=request.content_type)
    except IdempotencyKeyInProgress as exc:
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code,
                        headers={"Retry-After": str(exc.retry_after)})
    if outcome.replay is not None:
        status, body = outcome.replay
        return Response(body, status=status, headers={"Idempotent-Replayed": "true"})
    retryable = False
    try:
        status, body = run()
    except ApplicationError as exc:
        status, body = exc.status_code, error_body(exc)
        retryable = _retryable(exc)
    except serializers.ValidationError as exc:
        status, body = 400, {"message": "Validation error", "extra": {"fields": exc.detail}}
    except Exception:
        idempotency_release(record=outcome.record)
        raise
    idempotency_finish(record=outcome.record, status=status, body=body, retryable=retryable)
    return Response(body, status=status)


def _payments_for(user):
    qs = PaymentTransaction.objects.select_related("invoice", "payment_method", "receipt")
    if user.is_staff and not hasattr(user, "customer"):
        return qs
    return payments_shown_to_customers(qs.filter(customer=customer_for_user(user)))


def _payment_or_404(user, pk: int) -> PaymentTransaction:
    payment = _payments_for(user).filter(pk=pk).first()
    if payment is None:
        raise Http404("No such payment.")
    return payment


class ProcessPaymentView(PaymentsAPIView):
    """`POST /api/payments/process`: pay one of your invoices with a saved card, or start a flow."""

    @extend_schema(summary="Pay one of your invoices: charge a saved card, or start a Stripe, PayPal or Pay Now flow",
                   request=ProcessInput, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="`saved_method`, `stripe`, "
                                                   "`paypal`: the payment or what the browser needs next"),
                              200: OpenApiResponse(OpenApiTypes.OBJECT, description="`netcash`: the Pay Now form "
                                                   "(`action_url`, `fields`)"),
                              402: _error("The card was declined (`extra.code`, `extra.retryable`)"),
                              404: _error("No such invoice or saved card of yours, or the sign-in is not linked "
                                          "to a customer account"),
                              **IDEMPOTENCY_ERRORS,
                              409: _error("The amount due is not `expected_amount` (`extra.amount_due`), another "
                                          "card payment for the invoice is going through, `save_card` while you "
                                          "have the most saved methods allowed, or a request with this "
                                          "Idempotency-Key is still in progress"),
                              502: PROVIDER_DOWN})
    def post(self, request):
        _request_body(request)  # read before request.data so the idempotency fingerprint sees the raw bytes
        return _with_idempotency(request, lambda: self._process(request))

    def _process(self, request):
        data = ProcessInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = customer_for_user(request.user)
        invoice = Invoice.objects.select_related("customer").filter(pk=v["invoice_id"], customer=customer).first()
        if invoice is None:
            raise Http404("No such invoice.")
        flow = v["flow"]
        if flow == "saved_method":
            from payments.services.stripe_payments import payment_intent_create_for_invoice

            method = PaymentMethod.objects.filter(pk=v["payment_method_id"], customer=customer,
                                                  deleted_at__isnull=True).first()
            if method is None:
                raise PaymentNotFound("This saved card is not available any more (it may have been removed). "
                                      "Choose another way to pay.", {"removed": [v["payment_method_id"]]})
            result = payment_intent_create_for_invoice(invoice=invoice, payment_method=method,
                                                       build_url=request.build_absolute_uri,
                                                       expected_amount=v.get("expected_amount"))
            result.payment.refresh_from_db()
            answer = {"flow": flow, "payment": PaymentOut(result.payment).data, "return_url": result.return_url}
            if result.intent.status == "requires_action":
                # The bank wants the customer to confirm (3-D Secure): Stripe.js finishes it with
                # `handleNextAction` and the intent's client secret; the webhook completes the payment.
                answer |= {"next_action": "authenticate", "client_secret": result.intent.client_secret,
                           "payment_intent": result.intent.id,
                           "publishable_key": settings.STRIPE.get("PUBLISHABLE_KEY", "")}
            return 201, answer
        if flow == "stripe":
            from payments.services.stripe_payments import payment_intent_create_for_invoice

            result = payment_intent_create_for_invoice(invoice=invoice, save_card=v["save_card"],
                                                       build_url=request.build_absolute_uri,
                                                       expected_amount=v.get("expected_amount"),
                                                       new_attempt=v["new_attempt"])
            return 201, {"flow": flow, "payment": PaymentOut(result.payment).data,
                         "amount_cents": result.intent.amount,
                         "client_secret": result.intent.client_secret, "payment_intent": result.intent.id,
                         "publishable_key": settings.STRIPE.get("PUBLISHABLE_KEY", ""),
                         "return_url": result.return_url}
        if flow == "paypal":
            from payments.services.paypal_payments import paypal_order_create_for_invoice

            order = paypal_order_create_for_invoice(invoice=invoice, build_url=request.build_absolute_uri)
            return 201, {"flow": flow, **order}
        from payments.services.paynow_checkout import invoice_checkout

        form = invoice_checkout(invoice=invoice)
        return 200, {"flow": flow, "action_url": form.action_url, "fields": form.fields}


class PaymentHistoryView(PaymentsAPIView):
    """`GET /api/payments/history?status=&method=&date_from=&date_to=&limit=&offset=` (paginated; staff
    without a customer account see everyone's)."""

    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(summary="Your payments, newest first (paginated, filterable)",
                   parameters=[HistoryFilter], responses={200: PaymentOut(many=True), 404: NO_CUSTOMER})
    def get(self, request):
        f = HistoryFilter(data=request.query_params)
        f.is_valid(raise_exception=True)
        v = f.validated_data
        qs = _payments_for(request.user)
        if v.get("status"):
            qs = qs.filter(status=v["status"])
        if v.get("method"):
            qs = qs.filter(method=v["method"])
        if v.get("date_from"):
            qs = qs.filter(created_at__date__gte=v["date_from"])
        if v.get("date_to"):
            qs = qs.filter(created_at__date__lte=v["date_to"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs.order_by("-created_at", "-pk"), request, view=self)
        return paginator.get_paginated_response(PaymentOut(page, many=True).data)


class PaymentDetailView(PaymentsAPIView):
    @extend_schema(summary="One of your payments", responses={200: PaymentOut, 404: NO_CUSTOMER})
    def get(self, request, pk: int):
        return Response(PaymentOut(_payment_or_404(request.user, pk)).data)


class PaymentReceiptView(PaymentsAPIView):
    """`GET /api/payments/{id}/receipt`: the receipt PDF (rendered now if the task has not run yet)."""

    @extend_schema(summary="A completed payment's receipt (PDF)",
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY,
                              404: _error("No such payment of yours, or it has no receipt (not completed)")})
    def get(self, request, pk: int):
        from payments.services.receipts import receipt_issue

        payment = _payment_or_404(request.user, pk)
        receipt = receipt_issue(payment_id=payment.pk)
        if receipt is None:
            raise Http404("This payment has no receipt (it was not completed).")
        return FileResponse(receipt.pdf.open("rb"), content_type="application/pdf", as_attachment=True,
                            filename=f"{receipt.number}.pdf")


class RefundView(PaymentsAPIView):
    """`POST /api/payments/refund` (staff): refund all or part of a completed payment. 201 when it is
    booked (or recorded for manual payout), 202 when the provider has it pending, 502 when the
    provider refused it (nothing booked)."""

    permission_classes = [IsAdminUser]

    @extend_schema(summary="Refund all or part of a completed payment (staff)",
                   request=RefundInput, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: OpenApiResponse(RefundOut, description="Booked (or recorded for manual payout)"),
                              202: OpenApiResponse(RefundOut, description="The provider has it pending"),
                              400: _error("Invalid input, or the payment cannot be refunded by that much"),
                              404: _error("No such payment"), **IDEMPOTENCY_ERRORS,
                              502: _error("The provider refused the refund or did not answer; nothing was "
                                          "booked")})
    def post(self, request):
        _request_body(request)
        return _with_idempotency(request, lambda: self._refund(request))

    def _refund(self, request):
        from payments.services.refunds import refund_create

        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        payment = PaymentTransaction.objects.filter(pk=v["payment_id"]).first()
        if payment is None:
            raise Http404("No such payment.")
        refund = refund_create(payment=payment, amount=v.get("amount"), reason=v["reason"],
                               actor=f"api:{request.user.get_username()}")
        if refund.status == refund.Status.FAILED:
            return 502, {"message": "The provider did not accept the refund; nothing was booked.",
                         "extra": {"refund": refund.pk}}
        # 202: the provider accepted it but has not finished (booked when its refund event says so).
        return (202 if refund.status == refund.Status.PENDING else 201), RefundOut(refund).data


class PaymentMethodsView(PaymentsAPIView):
    """`GET` your saved methods (masked); `POST` save a card tokenised by Stripe.js."""

    @extend_schema(summary="Your saved payment methods (masked)",
                   responses={200: PaymentMethodOut(many=True), 404: NO_CUSTOMER})
    def get(self, request):
        customer = customer_for_user(request.user)
        methods = PaymentMethod.objects.filter(customer=customer, deleted_at__isnull=True)
        return Response(PaymentMethodOut(methods, many=True).data)

    @extend_schema(summary="Save a card tokenised by Stripe.js (`pm_...`)", request=AddCardInput,
                   responses={201: PaymentMethodOut,
                              400: _error("Invalid input, not a card, or card payments are not available"),
                              402: _error("Stripe refused the card or did not answer (`extra.code`, "
                                          "`extra.retryable`)"),
                              404: NO_CUSTOMER,
                              409: _error("You already have the most saved methods allowed; remove one first")})
    def post(self, request):
        from payments.services.stripe_payments import stripe_card_attach

        data = AddCardInput(data=request.data)
        data.is_valid(raise_exception=True)
        method = stripe_card_attach(customer=customer_for_user(request.user),
                                    payment_method_id=data.validated_data["stripe_payment_method_id"],
                                    make_primary=data.validated_data["make_primary"])
        return Response(PaymentMethodOut(method).data, status=201)


class PaymentMethodDetailView(PaymentsAPIView):
    @extend_schema(summary="Remove one of your saved methods (a card is detached at Stripe too, right after)",
                   responses={204: None, 404: _error("No such saved method of yours")})
    def delete(self, request, pk: int):
        from payments.services.methods import payment_method_delete

        method = PaymentMethod.objects.filter(Q(pk=pk), customer=customer_for_user(request.user),
                                              deleted_at__isnull=True).first()
        if method is None:
            raise Http404("No such payment method.")
        payment_method_delete(method=method)
        return Response(status=204)


__all__ = ["PaymentDetailView", "PaymentHistoryView", "PaymentMethodDetailView", "PaymentMethodsView",
           "PaymentReceiptView", "ProcessPaymentView", "RefundView"]
