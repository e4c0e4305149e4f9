"""The payments ops console. Payments, events and methods are read-only here: money moves only
through services, from actions that ask for confirmation and a reason."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.utils import timezone

from billing.admin import CUSTOMER_FIELD_NOTES, InvoiceAdmin
from billing.models import Customer
from circletel.admin_tools import (
    MoneyColumnsMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonForm,
    reason_action,
    zar_column,
)
from circletel.errors import ApplicationError
from circletel.money import format_zar
from payments.models import (
    DebitOrderItem,
    DebitOrderRun,
    IdempotencyKey,
    Mandate,
    NetcashStatement,
    NetcashStatementLine,
    PaymentAllocation,
    PaymentMethod,
    PaymentTransaction,
    Receipt,
    ReconciliationIssue,
    ReconciliationReport,
    Refund,
    StripeCustomer,
)
from payments.selectors import RECEIVED_STATUSES
from payments.services.debit_orders import debit_order_item_return
from payments.services.netcash_statement import reconciliation_issue_resolve
from payments.services.refunds import refund_create

# Searching by who paid: the customer's name, email, company or account number.
CUSTOMER_SEARCH = ("customer__first_name", "customer__last_name", "customer__email", "customer__account_number",
                   "customer__company_name")
PAYMENT_CUSTOMER_SEARCH = tuple(f"payment__{lookup}" for lookup in CUSTOMER_SEARCH)


class RefundForm(ReasonForm):
    amount = forms.DecimalField(required=False, min_value=Decimal("0.01"), max_digits=12, decimal_places=2,
                                help_text="Rands. Leave empty to refund everything still refundable.")


class AllocationInline(admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    amount_zar = staticmethod(zar_column("amount"))
    readonly_fields = ("invoice", "amount_zar", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


class ReceivedFilter(admin.SimpleListFilter):
    """Money received: the payments the admin index counts as "Collected" and in the payment-method
    mix (`RECEIVED_STATUSES`: completed, partly or fully refunded; its links use `?received=yes`)."""

    title = "money received"
    parameter_name = "received"

    def lookups(self, request, model_admin):
        return [("yes", "Received (completed, partly or fully refunded)"),
                ("no", "Not received (pending, failed, reversed)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status__in=RECEIVED_STATUSES)
        if self.value() == "no":
            return queryset.exclude(status__in=RECEIVED_STATUSES)
        return queryset


def _refund_outcome(refund: Refund) -> str:
    """What happened to a refund just made, in words for the action's message; a failed one raises."""
    amount = format_zar(refund.amount)
    try:
        provider = PaymentTransaction.Provider(refund.provider).label
    except ValueError:
        provider = refund.provider
    if refund.status == Refund.Status.FAILED:
        raise ApplicationError(f"{amount} not refunded through {provider}: {refund.failure_reason}")
    if refund.status == Refund.Status.SUCCEEDED:
        return f"{amount} refunded through {provider} ({refund.provider_refund_id})."
    if refund.status == Refund.Status.MANUAL:
        return f"{amount} recorded; finance pays it back by hand."
    if refund.provider_refund_id:
        return (f"{amount} sent to {provider}; {provider} has not completed it yet, so it is booked "
                f"(and the customer emailed) when {provider} confirms it.")
    # Pending without a provider id: the outcome of our call is unknown (payments.services.refunds).
    return (f"{amount} sent to {provider} but the provider did not answer; retried automatically "
            "(nothing is booked until it answers).")


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    list_display = ("reference", "customer", "invoice", "amount", "amount_refunded", "method", "provider", "status",
                    "needs_review", "completed_at", "created_at")
    list_filter = ("provider", "status", ReceivedFilter, "method", "needs_review",
                   ("created_at", admin.DateFieldListFilter), "zoho_sync_status")
    search_fields = ("reference", "provider_transaction_id", "invoice__number", *CUSTOMER_SEARCH)
    list_select_related = ("customer", "invoice")
    raw_id_fields = ("customer", "invoice", "payment_method")
    date_hierarchy = "created_at"
    inlines = [AllocationInline]
    exclude = ("payment_method",)
    actions = ["refund"]

    @admin.action(description="Refund (asks for the amount and a reason)")
    def refund(self, request, queryset):
        actor = request.user.get_username()

        def apply(payment, data):
            return _refund_outcome(refund_create(payment=payment, amount=data["amount"], reason=data["reason"],
                                                 actor=actor))

        return reason_action(
            self, request, queryset, title="Refund payments", apply=apply, form_class=RefundForm,
            intro="This changes money on customer accounts. A refund takes the money back from the payment's "
                  "unused credit first, then off the invoices it paid (they may reopen as unpaid or overdue), "
                  "and the customer is emailed once the refund is booked.")


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    """Masked only: the encrypted bank details and card tokens are never shown."""

    list_display = ("display_name", "customer", "method_type", "mandate_status", "is_primary", "deleted_at")
    list_filter = ("method_type", "mandate_status", "is_primary")
    search_fields = ("display_name", "mandate_reference", *CUSTOMER_SEARCH)
    list_select_related = ("customer",)
    fields = ("customer", "method_type", "display_name", "last_four", "card_expiry_month", "card_expiry_year",
              "mandate_reference", "mandate_status", "is_primary", "deleted_at", "created_at")
    readonly_fields = fields


@admin.register(Mandate)
class MandateAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    list_display = ("account_reference", "customer", "status", "mandate_amount", "commencement_day", "created_at",
                    "last_checked_at")
    list_filter = ("status",)
    search_fields = ("account_reference", *CUSTOMER_SEARCH)
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "payment_method")


class DebitOrderItemInline(admin.TabularInline):
    model = DebitOrderItem
    extra = 0
    can_delete = False
    amount_zar = staticmethod(zar_column("amount"))
    fields = ("line_number", "invoice", "customer", "amount_zar", "status", "hold_reason", "unpaid_code", "payment")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DebitOrderRun)
class DebitOrderRunAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    """Each step NetCash takes: uploaded, load report (rejected lines), awaiting authorisation with the
    cut-off, authorised, processed. Items settle only from statement lines (see Statement lines)."""

    list_display = ("batch_name", "action_date", "status", "load_status", "cutoff", "batch_status", "item_count",
                    "rejected_count", "held_count", "total_amount", "created_at")
    list_filter = ("status", "action_date")
    search_fields = ("batch_name", "file_token")
    inlines = [DebitOrderItemInline]

    @admin.display(description="authorise by", ordering="authorise_by")
    def cutoff(self, obj):
        if not obj.authorise_by:
            return "-"
        text = f"{timezone.localtime(obj.authorise_by):%Y-%m-%d %H:%M}"
        if obj.status == DebitOrderRun.Status.AWAITING_AUTHORISATION:
            return f"{text} (authorise in the NetCash portal)"
        return text


@admin.register(DebitOrderItem)
class DebitOrderItemAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    list_display = ("invoice", "customer", "action_date", "amount", "status", "hold_reason", "unpaid_code", "run")
    list_filter = ("status", "action_date")
    search_fields = ("invoice__number", "account_reference", *CUSTOMER_SEARCH)
    list_select_related = ("invoice", "customer", "run")
    raw_id_fields = ("invoice", "customer", "payment_method", "payment", "run")
    actions = ["mark_returned"]

    @admin.action(description="Record as returned unpaid (reverses the payment)")
    def mark_returned(self, request, queryset):
        return reason_action(
            self, request, queryset, title="Record returned debit orders",
            intro="This reverses the payments and reopens their invoices.",
            apply=lambda item, data: debit_order_item_return(item=item, reason=data["reason"]))


# --- NetCash statement reconciliation (read-only; issues are resolved with a reason) -------------------------
class StatementLineInline(ReadOnlyInline, admin.TabularInline):
    model = NetcashStatementLine
    fields = ("line_date", "code", "description", "amount", "effect", "account_reference", "reference", "outcome",
              "note")
    readonly_fields = fields
    show_change_link = True
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("line_date", "pk")


@admin.register(NetcashStatement)
class NetcashStatementAdmin(ReadOnlyAdmin):
    list_display = ("statement_date", "kind", "status", "line_count", "new_line_count", "requested_at", "retrieved_at",
                    "error")
    list_filter = ("kind", "status")
    date_hierarchy = "statement_date"
    exclude = ("raw_text",)
    inlines = [StatementLineInline]


@admin.register(NetcashStatementLine)
class NetcashStatementLineAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    """Every statement line and what it did; filter outcome = "Matches nothing of ours" for the
    statement receipts we never applied."""

    list_display = ("line_date", "code", "kind", "amount", "effect", "account_reference", "reference",
                    "unpaid_code", "outcome", "note", "debit_order_item", "payment")
    list_filter = ("outcome", "kind", "code", ("line_date", admin.DateFieldListFilter))
    search_fields = ("account_reference", "reference", "description")
    list_select_related = ("debit_order_item", "payment")
    raw_id_fields = ("statement", "debit_order_item", "payment")
    date_hierarchy = "line_date"


class ResolveForm(ReasonForm):
    pass


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    """Pay Now payments applied from a notify that no statement line confirmed, and statement lines we never
    applied. "Open" is the working list; resolving asks what was done."""

    list_display = ("created_at", "kind", "reference", "amount", "note", "alerted_at", "resolved_at", "resolved_by")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("reference", "note", "payment__reference")
    list_select_related = ("payment", "line")
    raw_id_fields = ("payment", "line")
    actions = ["resolve"]

    @admin.action(description="Mark resolved (asks what was done)")
    def resolve(self, request, queryset):
        actor = request.user.get_username()
        return reason_action(
            self, request, queryset, title="Resolve reconciliation differences", form_class=ResolveForm,
            intro="Record what was done (e.g. confirmed in the NetCash portal, payment reversed, refunded).",
            apply=lambda issue, data: reconciliation_issue_resolve(issue=issue, actor=actor,
                                                                   resolution=data["reason"]))


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    """Per day: matched, unmatched ours, unmatched theirs, and whether the totals agree."""

    list_display = ("day", "totals_equal", "matched_count", "matched_total", "unmatched_ours_count",
                    "unmatched_ours_total", "unmatched_theirs_count", "unmatched_theirs_total", "statement_total",
                    "our_total", "generated_at")
    list_filter = ("totals_equal",)
    date_hierarchy = "day"


# --- refunds, receipts, API idempotency keys, Stripe customers (read-only) -------------------------------


@admin.register(Refund)
class RefundAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    """Refunds are made through `POST /api/payments/refund` (staff) or reported by provider webhooks."""

    list_display = ("pk", "payment", "amount", "state", "provider", "provider_refund_id", "actor", "source",
                    "created_at")
    list_filter = ("status", "provider", "source")
    search_fields = ("payment__reference", "provider_refund_id", *PAYMENT_CUSTOMER_SEARCH)
    list_select_related = ("payment",)
    raw_id_fields = ("payment",)

    @admin.display(description="Status", ordering="status")
    def state(self, obj):
        """Pending means reserved but not booked: say so, and show why a failed one failed."""
        if obj.status == Refund.Status.PENDING:
            return "Pending at provider (not booked yet)" if obj.provider_refund_id else "Pending (no provider id yet)"
        if obj.status == Refund.Status.FAILED and obj.failure_reason:
            return f"Failed: {obj.failure_reason[:80]}"
        return obj.get_status_display()


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ("number", "payment", "issued_at", "pdf")
    search_fields = ("number", "payment__reference", *PAYMENT_CUSTOMER_SEARCH)
    list_select_related = ("payment",)
    raw_id_fields = ("payment",)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "method", "path", "state", "response_status", "created_at", "expires_at")
    list_filter = ("state", "path")
    search_fields = ("key", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ("customer", "stripe_customer_id", "created_at")
    search_fields = ("stripe_customer_id", *CUSTOMER_SEARCH)
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)


# --- the invoice's payments on billing's invoice page (registered from here: billing never imports payments) --
class InvoicePaymentsInline(ReadOnlyInline, admin.TabularInline):
    """The invoice's payments with their ZOHO sync state (read-only)."""

    model = PaymentAllocation
    fields = ("payment", zar_column("amount"), "created_at", "payment_status", "zoho_status", "zoho_id",
              "zoho_error")
    readonly_fields = fields
    verbose_name = "payment"
    verbose_name_plural = "payments (with ZOHO sync state)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment")

    @admin.display(description="payment status")
    def payment_status(self, obj):
        return obj.payment.get_status_display()

    @admin.display(description="ZOHO sync")
    def zoho_status(self, obj):
        return obj.payment.get_zoho_sync_status_display()

    @admin.display(description="ZOHO id")
    def zoho_id(self, obj):
        return obj.payment.zoho_id or "-"

    @admin.display(description="last sync error")
    def zoho_error(self, obj):
        error = obj.payment.zoho_last_error
        return (error[:200] + ("…" if len(error) > 200 else "")) if error else "-"


InvoiceAdmin.inlines = [*InvoiceAdmin.inlines, InvoicePaymentsInline]


def registration_number_missing_warning(customer: Customer) -> str:
    """For staff: a business customer without a company registration number has its debit-order mandates
    sent to NetCash without one (`payments.services.mandates.mandate_request` logs it and records it on the
    mandate's raw response). Empty when there is nothing to say."""
    if not customer.is_business or customer.registration_number:
        return ""
    count = Mandate.objects.filter(customer_id=customer.pk,
                                   raw_response__sent_without_registration_number=True).count()
    if count:
        return (f"Warning: {count} NetCash mandate(s) of this business were sent without a registration number; "
                "mandates requested from now on carry the number entered here.")
    return "Warning: a NetCash mandate for this business will be sent without a registration number until one is set."


CUSTOMER_FIELD_NOTES.append(lambda customer: {"registration_number": registration_number_missing_warning(customer)})
