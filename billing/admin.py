"""The billing ops console: customers, services (lifecycle actions), invoices, credit notes, ledger.

Actions only parse input and call services; domain errors are shown with `messages.error`.
Money-changing and lifecycle actions ask for a reason on an intermediate form. Logs and ledger
rows are read-only; issued invoices are never edited here (void + reissue or credit instead).
"""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing import admin_usage  # noqa: F401  (usage records and alerts)
from billing.models import (
    BillingAccount,
    CreditNote,
    Customer,
    CustomerService,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    Order,
    OrderIssue,
    ServiceActionLog,
    Suspension,
)
from circletel.admin_tools import ReadOnlyAdmin, ReadOnlyInline, ReasonForm, reason_action
from circletel.queue import enqueue_document
from zoho_sync.admin_actions import sync_now

# --- customers ---------------------------------------------------------------------------------------------

class BillingAccountInline(admin.StackedInline):
    model = BillingAccount
    can_delete = False
    readonly_fields = ("balance",)


class CustomerServiceInline(ReadOnlyInline, admin.TabularInline):
    model = CustomerService
    fields = ("service_type", "package_name", "monthly_price", "billing_day", "status", "next_billing_date")
    readonly_fields = fields


class CustomerInvoiceInline(ReadOnlyInline, admin.TabularInline):
    model = Invoice
    fields = ("number", "invoice_type", "issue_date", "due_date", "total", "amount_paid", "status")
    readonly_fields = fields
    ordering = ("-issue_date", "-pk")


class CustomerLedgerInline(ReadOnlyInline, admin.TabularInline):
    model = LedgerEntry
    fields = ("effective_date", "entry_type", "reference", "description", "amount")
    readonly_fields = fields
    show_change_link = False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("account_number", "display_name", "email", "phone", "account_type", "status", "balance",
                    "created_at")
    list_filter = ("status", "account_type", "zoho_sync_status")
    search_fields = ("account_number", "email", "first_name", "last_name", "company_name", "phone")
    readonly_fields = ("account_number", "balance", "created_at", "updated_at", "zoho_id", "zoho_sync_status",
                       "zoho_last_synced_at", "zoho_last_error")
    raw_id_fields = ("user",)
    list_select_related = ("billing_account",)
    inlines = [BillingAccountInline, CustomerServiceInline, CustomerInvoiceInline, CustomerLedgerInline]
    actions = [sync_now]

    @admin.display(description="Balance (owed)")
    def balance(self, obj):
        account = getattr(obj, "billing_account", None)
        return f"R {account.balance:,.2f}" if account else "-"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("pk", "name", "email", "package", "status", "customer", "created_at")
    list_filter = ("status", "package")
    search_fields = ("name", "email", "phone", "external_ref", "customer__account_number")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)


@admin.register(OrderIssue)
class OrderIssueAdmin(admin.ModelAdmin):
    list_display = ("created_at", "source", "row_ref", "reason", "resolved")
    list_filter = ("source", "resolved")
    search_fields = ("row_ref", "reason")
    raw_id_fields = ("order",)


# --- services and their lifecycle --------------------------------------------------------------------------

class SuspendForm(ReasonForm):
    kind = forms.ChoiceField(choices=Suspension.Kind.choices)
    skip_billing = forms.BooleanField(required=False, help_text="Do not invoice the suspended days.")


class VoidForm(ReasonForm):
    reissue = forms.BooleanField(required=False, help_text="Issue a replacement invoice with the same lines.")


class ServiceActionLogInline(ReadOnlyInline, admin.TabularInline):
    model = ServiceActionLog
    fields = ("created_at", "action", "reason", "actor_label", "previous_state", "new_state")
    readonly_fields = fields
    show_change_link = False


class SuspensionInline(ReadOnlyInline, admin.TabularInline):
    model = Suspension
    fields = ("kind", "reason", "suspended_on", "reactivated_on", "skip_billing")
    readonly_fields = fields
    show_change_link = False


@admin.register(CustomerService)
class CustomerServiceAdmin(admin.ModelAdmin):
    list_display = ("pk", "customer", "service_type", "package_name", "monthly_price", "billing_day", "status",
                    "next_billing_date")
    list_filter = ("status", "service_type", "billing_day")
    search_fields = ("customer__account_number", "customer__email", "package_name", "provider_order_id",
                     "router_serial")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)
    readonly_fields = ("status", "activation_date", "suspension_date", "cancellation_date", "next_billing_date",
                       "zoho_id", "zoho_sync_status", "zoho_last_synced_at", "zoho_last_error", "created_at",
                       "updated_at")
    inlines = [SuspensionInline, ServiceActionLogInline]
    actions = ["activate", "suspend", "reactivate", "cancel", sync_now]

    def _lifecycle(self, request, queryset, title, form_class, fn):
        return reason_action(self, request, queryset, title=title, form_class=form_class, apply=fn)

    @admin.action(description="Activate (issues the pro-rata invoice)")
    def activate(self, request, queryset):
        from billing.services.lifecycle import service_activate

        return self._lifecycle(request, queryset, "Activate services", ReasonForm,
                               lambda s, d: service_activate(service=s, reason=d["reason"], actor=request.user))

    @admin.action(description="Suspend")
    def suspend(self, request, queryset):
        from billing.services.lifecycle import service_suspend

        return self._lifecycle(request, queryset, "Suspend services", SuspendForm,
                               lambda s, d: service_suspend(service=s, reason=d["reason"], kind=d["kind"],
                                                            skip_billing=d["skip_billing"], actor=request.user))

    @admin.action(description="Reactivate")
    def reactivate(self, request, queryset):
        from billing.services.lifecycle import service_reactivate

        return self._lifecycle(request, queryset, "Reactivate services", ReasonForm,
                               lambda s, d: service_reactivate(service=s, reason=d["reason"], actor=request.user))

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        from billing.services.lifecycle import service_cancel

        return self._lifecycle(request, queryset, "Cancel services", ReasonForm,
                               lambda s, d: service_cancel(service=s, reason=d["reason"], actor=request.user))


# --- invoices, credit notes, ledger -----------------------------------------------------------------------

class InvoiceLineInline(ReadOnlyInline, admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "description", "quantity", "unit_price", "amount", "days_charged", "days_in_period",
              "unrounded_amount")
    readonly_fields = fields
    show_change_link = False


class InvoiceLedgerInline(ReadOnlyInline, admin.TabularInline):
    model = LedgerEntry
    fk_name = "invoice"
    fields = ("effective_date", "entry_type", "reference", "amount", "created_by")
    readonly_fields = fields
    show_change_link = False


class CreditNoteInline(ReadOnlyInline, admin.TabularInline):
    model = CreditNote
    fields = ("number", "issue_date", "total", "applied_amount", "reason")
    readonly_fields = fields


def _payment_inline():
    try:
        from payments.models import PaymentAllocation
    except ImportError:  # pragma: no cover - payments app always installed
        return []

    class PaymentAllocationInline(ReadOnlyInline, admin.TabularInline):
        """The invoice's payments with their ZOHO sync state (read-only)."""

        model = PaymentAllocation
        fields = ("payment", "amount", "created_at", "payment_status", "zoho_status", "zoho_id", "zoho_error")
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

    return [PaymentAllocationInline]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "invoice_type", "issue_date", "due_date", "total", "amount_due", "status",
                    "pdf_link")
    list_filter = ("status", "invoice_type", "prices_include_vat", "issue_date")
    search_fields = ("number", "customer__account_number", "customer__email", "customer__last_name")
    raw_id_fields = ("customer", "service")
    list_select_related = ("customer",)
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline, CreditNoteInline, InvoiceLedgerInline, *_payment_inline()]
    actions = ["void_invoices", "render_pdfs", sync_now]
    change_list_template = "admin/billing/invoice/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["replaced_by_link", "pdf_link"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Replaced by")
    def replaced_by_link(self, obj):
        replacement = Invoice.objects.filter(replaces=obj).only("pk", "number").first()
        if replacement is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:billing_invoice_change", args=[replacement.pk]),
                           replacement.number)

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if obj.pdf:
            return format_html('<a href="{}">PDF</a>', obj.pdf.url)
        return "-"

    def get_urls(self):
        return [path("generate-invoices-now/", self.admin_site.admin_view(self.generate_now_view),
                     name="billing_invoice_generate_now"), *super().get_urls()]

    def generate_now_view(self, request):
        """'Generate invoices now': confirm, then start the run as a task and show the job-run id."""
        if not request.user.is_staff:
            return HttpResponseRedirect(reverse("admin:index"))
        if request.method == "POST":
            from billing.services.invoice_run import invoice_run_start

            with transaction.atomic():
                record = invoice_run_start(triggered_by=f"admin:{request.user.get_username()}")
            self.message_user(request, f"Invoice run started (job run #{record.pk}).", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:billing_invoice_changelist"))
        return TemplateResponse(request, "admin/billing/confirm_generate.html", {
            **self.admin_site.each_context(request), "title": "Generate invoices now", "opts": self.model._meta})

    @admin.action(description="Void (optionally reissue)")
    def void_invoices(self, request, queryset):
        from billing.services.invoices import invoice_reissue, invoice_void

        def apply(invoice, data):
            actor = request.user.get_username()
            if data["reissue"]:
                invoice_reissue(invoice=invoice, reason=data["reason"], actor=actor)
            else:
                invoice_void(invoice=invoice, reason=data["reason"], actor=actor)

        return reason_action(self, request, queryset, title="Void invoices", form_class=VoidForm, apply=apply)

    @admin.action(description="Render PDF again")
    def render_pdfs(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        enqueue_document("billing.tasks.render_invoice_pdfs", ids, group="billing-pdf")
        self.message_user(request, f"Queued {len(ids)} PDF(s).", messages.SUCCESS)


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ("number", "invoice", "customer", "issue_date", "total", "applied_amount", "created_by")
    search_fields = ("number", "invoice__number", "customer__account_number")
    list_select_related = ("invoice", "customer")
    raw_id_fields = ("invoice", "customer")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("effective_date", "customer", "entry_type", "reference", "amount", "created_by")
    list_filter = ("entry_type", "effective_date")
    search_fields = ("reference", "customer__account_number", "description")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "invoice", "payment", "credit_note")


@admin.register(ServiceActionLog)
class ServiceActionLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "service", "action", "actor_label", "reason")
    list_filter = ("action",)
    search_fields = ("service__customer__account_number", "reason", "actor_label")
    list_select_related = ("service__customer",)


@admin.register(Suspension)
class SuspensionAdmin(ReadOnlyAdmin):
    list_display = ("service", "kind", "suspended_on", "reactivated_on", "skip_billing")
    list_filter = ("kind", "skip_billing")
    list_select_related = ("service__customer",)
