"""Dashboard (customer) and staff APIs. Customers see only their own rows: another customer's id
is a 404. Token authentication is listed first so an anonymous caller gets 401."""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Invoice, ServiceActionLog
from billing.models.services import BILLING_DAYS
from billing.selectors import customer_for_user
from billing.services import lifecycle
from billing.services.ledger import ledger_balance
from circletel.drf import API_AUTHENTICATION, ErrorSerializer
from circletel.errors import ApplicationError
from payments.models import Mandate
from payments.services.methods import payment_method_add_card, payment_method_delete, payment_method_set_primary
from portal import selectors
from portal.api import serializers as s
from portal.pdf import invoice_pdf_bytes
from portal.services import debit_order_method_add

AUTH = API_AUTHENTICATION
# 401/403 (and 400 for inputs) are added to every operation by `circletel.drf.document_error_responses`.
ERRORS = {404: OpenApiResponse(ErrorSerializer, description="Not found (or another customer's)")}


class IsCustomer(BasePermission):
    """Signed in and linked to a customer; the customer is put on `request.customer`."""

    message = "This sign-in is not linked to a customer account."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        try:
            request.customer = customer_for_user(request.user)
        except Http404:
            return False
        return True


class CustomerAPIView(APIView):
    authentication_classes = AUTH
    permission_classes = [IsCustomer]


class StaffAPIView(APIView):
    authentication_classes = AUTH
    permission_classes = [IsAdminUser]


class SummaryView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="Balance, amount due, next invoice, services, recent activity",
                   responses={200: s.SummarySerializer})
    def get(self, request):
        return Response(s.SummarySerializer(selectors.dashboard_summary(customer=request.customer)).data)


class BillingView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="Billing account, preferences and payment methods",
                   responses={200: s.BillingSerializer})
    def get(self, request):
        customer = request.customer
        services = selectors.customer_services(customer=customer)
        data = {
            "account_number": customer.account_number, "account": customer.billing_account,
            "billing_days": list(BILLING_DAYS),
            "next_invoice": selectors.next_invoice_preview(customer=customer, services=services,
                                                           today=timezone.localdate()),
            "payment_methods": selectors.customer_payment_methods(customer=customer),
        }
        return Response(s.BillingSerializer(data).data)


class ServicesView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="The caller's services with this cycle's usage",
                   responses={200: s.ServiceCardSerializer(many=True)})
    def get(self, request):
        cards = selectors.service_cards(services=selectors.customer_services(customer=request.customer),
                                        today=timezone.localdate())
        return Response(s.ServiceCardSerializer(cards, many=True).data)


class ServiceDetailView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="One of the caller's services",
                   responses={200: s.ServiceCardSerializer, **ERRORS})
    def get(self, request, pk):
        service = selectors.customer_service(customer=request.customer, service_id=pk)
        return Response(s.ServiceCardSerializer(
            selectors.service_cards(services=[service], today=timezone.localdate())[0]).data)


class UsageView(CustomerAPIView):
    @extend_schema(
        tags=["dashboard"], summary="Daily usage of one service (default: its current cycle)",
        parameters=[OpenApiParameter("service", int, required=True),
                    OpenApiParameter("from", OpenApiTypes.DATE), OpenApiParameter("to", OpenApiTypes.DATE)],
        responses={200: s.UsageSerializer, 400: ErrorSerializer,
                   404: OpenApiResponse(ErrorSerializer, description="No such service (or another customer's)")})
    def get(self, request):
        q = s.UsageQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        service = selectors.customer_service(customer=request.customer, service_id=q.validated_data["service"])
        today = timezone.localdate()
        start, end = selectors.current_cycle(service, today)
        date_from = q.validated_data.get("date_from") or start
        date_to = q.validated_data.get("date_to") or min(today, end - timedelta(days=1))
        if date_from > date_to or (date_to - date_from).days > 400:
            raise ApplicationError("Ask for a range of at most 400 days, `from` before `to`.")
        days = selectors.daily_usage(service=service, start=date_from, end=date_to)
        return Response(s.UsageSerializer({
            "service": service.pk, "from": date_from, "to": date_to, "cap_gb": service.data_cap_gb,
            "total_mb": sum((d["total_mb"] for d in days), selectors.ZERO), "days": days}).data)


@extend_schema(tags=["dashboard"], summary="The caller's invoices, newest first",
               parameters=[OpenApiParameter("status", str, enum=["open", *Invoice.Status.values])],
               responses={200: s.InvoiceListSerializer(many=True),
                          400: OpenApiResponse(ErrorSerializer, description="Unknown status (`extra.allowed`)")})
class InvoiceListView(ListAPIView):
    authentication_classes = AUTH
    permission_classes = [IsCustomer]
    serializer_class = s.InvoiceListSerializer

    def get_queryset(self):
        wanted = self.request.query_params.get("status") or None
        if wanted and wanted != "open" and wanted not in Invoice.Status.values:
            raise ApplicationError("Unknown invoice status.", {"allowed": ["open", *Invoice.Status.values]})
        return selectors.customer_invoices(customer=self.request.customer, status=wanted)


class InvoiceDetailView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="One invoice with lines, VAT and payments",
                   responses={200: s.InvoiceDetailSerializer, **ERRORS})
    def get(self, request, pk):
        return Response(s.InvoiceDetailSerializer(
            selectors.customer_invoice(customer=request.customer, invoice_id=pk)).data)


class InvoicePdfView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="The invoice PDF",
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY, **ERRORS})
    def get(self, request, pk):
        invoice = selectors.customer_invoice(customer=request.customer, invoice_id=pk)
        response = HttpResponse(invoice_pdf_bytes(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response


class PaymentMethodsView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="The caller's payment methods (masked)",
                   responses={200: s.PaymentMethodSerializer(many=True)})
    def get(self, request):
        return Response(s.PaymentMethodSerializer(
            selectors.customer_payment_methods(customer=request.customer), many=True).data)

    @extend_schema(tags=["dashboard"], summary="Add a debit-order bank account (and request its eMandate) "
                                               "or a tokenised card",
                   request=s.PaymentMethodCreateSerializer,
                   responses={201: s.PaymentMethodCreatedSerializer, 400: ErrorSerializer,
                              409: OpenApiResponse(ErrorSerializer, description="Already the most saved methods "
                                                                                "allowed; remove one first")})
    def post(self, request):
        q = s.PaymentMethodCreateSerializer(data=request.data)
        q.is_valid(raise_exception=True)
        d = q.validated_data
        if d["method_type"] == "debit_order":
            method, message = debit_order_method_add(
                customer=request.customer,
                **{k: d[k] for k in ("account_holder", "account_number", "branch_code", "account_type", "bank_name",
                                     "make_primary")})
            mandate = Mandate.objects.filter(payment_method_id=method.pk).order_by("-created_at", "-pk").first()
            mandate_url = mandate.mandate_url if mandate else ""
        else:
            method = payment_method_add_card(
                customer=request.customer,
                **{k: d[k] for k in ("brand", "last_four", "expiry_month", "expiry_year", "token", "make_primary")})
            message, mandate_url = f"{method.display_name} was saved.", ""
        method.mandate_url = mandate_url
        method.message = message
        return Response(s.PaymentMethodCreatedSerializer(method).data, status=http.HTTP_201_CREATED)


class PaymentMethodDetailView(CustomerAPIView):
    @extend_schema(tags=["dashboard"], summary="Make this method primary", request=s.PaymentMethodUpdateSerializer,
                   description="Only a usable method can be made primary: a debit order whose mandate is pending, "
                               "declined or cancelled, or an expired card, answers 400 with the reason "
                               '(`extra.reason` = "not_usable"). A debit order becomes primary by itself once its '
                               "mandate is signed, when the customer has no usable primary.",
                   responses={200: s.PaymentMethodSerializer, 400: ErrorSerializer, **ERRORS})
    def patch(self, request, pk):
        method = selectors.customer_payment_method(customer=request.customer, method_id=pk)
        q = s.PaymentMethodUpdateSerializer(data=request.data)
        q.is_valid(raise_exception=True)
        method = payment_method_set_primary(method=method)
        return Response(s.PaymentMethodSerializer(method).data)

    @extend_schema(tags=["dashboard"], summary="Remove this method (soft delete)",
                   responses={204: None, **ERRORS})
    def delete(self, request, pk):
        method = selectors.customer_payment_method(customer=request.customer, method_id=pk)
        payment_method_delete(method=method)
        return Response(status=http.HTTP_204_NO_CONTENT)


# --- staff ---------------------------------------------------------------------------------------

STAFF_ERRORS = {403: OpenApiResponse(ErrorSerializer, description="Staff only"),
                404: OpenApiResponse(ErrorSerializer, description="No such customer, service or invoice")}


def _staff_service(customer_id, service_id):
    customer = selectors.customer_by_id(customer_id)
    return customer, selectors.customer_service(customer=customer, service_id=service_id)


class LifecycleActionView(StaffAPIView):
    action: str = ""

    @extend_schema(tags=["admin"], request=s.LifecycleActionSerializer,
                   responses={200: s.ServiceSerializer, 400: ErrorSerializer,
                              409: OpenApiResponse(ErrorSerializer, description="Not allowed from the service's "
                                                                                "current state"),
                              **STAFF_ERRORS})
    def post(self, request, customer_id, service_id):
        _customer, service = _staff_service(customer_id, service_id)
        q = s.LifecycleActionSerializer(data=request.data)
        q.is_valid(raise_exception=True)
        d = q.validated_data
        if self.action == "suspend" and not d.get("kind"):
            raise ApplicationError("Choose a suspension type (`kind`).", {"field": "kind"})
        when = d.get("effective_date")
        common = {"service": service, "reason": d["reason"], "actor": request.user}
        if self.action == "activate":
            lifecycle.service_activate(**common, activation_date=when)
        elif self.action == "suspend":
            lifecycle.service_suspend(**common, kind=d["kind"], skip_billing=d["skip_billing"], on=when)
        elif self.action == "reactivate":
            lifecycle.service_reactivate(**common, on=when)
        else:
            lifecycle.service_cancel(**common, on=when)
        service.refresh_from_db()
        return Response(s.ServiceSerializer(service).data)


def lifecycle_view(action: str):
    return extend_schema(summary=f"{action.title()} a customer's service (writes the service-action log)")(
        type(f"Service{action.title()}View", (LifecycleActionView,), {"action": action})).as_view()


class AdminCustomerBillingView(StaffAPIView):
    @extend_schema(tags=["admin"], summary="A customer's billing account, services and recent activity",
                   responses={200: s.AdminBillingSerializer, **STAFF_ERRORS})
    def get(self, request, customer_id):
        customer = selectors.customer_by_id(customer_id)
        summary = selectors.dashboard_summary(customer=customer, recent=10)
        return Response(s.AdminBillingSerializer({
            "customer": customer, "account": customer.billing_account,
            "ledger_balance": ledger_balance(customer_id=customer.pk), "amount_due": summary.amount_due,
            "services": [c.service for c in summary.cards], "recent_invoices": summary.recent_invoices,
            "recent_payments": summary.recent_payments,
            "payment_methods": selectors.customer_payment_methods(customer=customer),
        }).data)


class AdminInvoiceView(StaffAPIView):
    @extend_schema(tags=["admin"], summary="An invoice with its payments and their ZOHO sync state",
                   responses={200: s.AdminInvoiceSerializer, **STAFF_ERRORS})
    def get(self, request, pk):
        try:
            invoice = (Invoice.objects.select_related("customer", "service")
                       .prefetch_related("lines", "payments").get(pk=pk))
        except (Invoice.DoesNotExist, ValueError):
            raise Http404
        return Response(s.AdminInvoiceSerializer(invoice).data)


class AdminServiceAuditView(StaffAPIView):
    @extend_schema(tags=["admin"], summary="A service's lifecycle audit log and suspensions",
                   responses={200: s.AuditSerializer, **STAFF_ERRORS})
    def get(self, request, customer_id, service_id):
        _customer, service = _staff_service(customer_id, service_id)
        return Response(s.AuditSerializer({
            "service": service,
            "actions": ServiceActionLog.objects.filter(service_id=service.pk).order_by("-created_at", "-pk"),
            "suspensions": service.suspensions.order_by("-suspended_on", "-pk"),
        }).data)
