"""The billing ops console: customers, services (lifecycle actions), invoices, credit notes, ledger.

Actions only parse input and call services; domain errors are shown with `messages.error`.
Money-changing and lifecycle actions ask for a reason on an intermediate form and report each row's
outcome. Logs and ledger rows are read-only; issued invoices are never edited here (void + reissue or
credit instead), so their change page is view-only. Money reads "R 1,234.56" everywhere (list columns
through `MoneyColumnsMixin`, read-only fields through `zar_column`); the zoho_* bookkeeping is the sync
worker's and sits read-only in a collapsed "ZOHO mirror" fieldset.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe

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
from circletel.admin_tools import (
    ConsoleModelAdmin,
    MoneyColumnsMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonForm,
    job_run_link,
    reason_action,
    zar_column,
)
from circletel.errors import ApplicationError
from circletel.money import format_zar
from circletel.queue import enqueue_document
from zoho_sync.admin_actions import sync_now

# --- shared: the ZOHO mirror fieldset, recent rows on the customer page ------------------------------------

ZOHO_FIELDS = ("zoho_id", "zoho_sync_status", "zoho_last_synced_at", "zoho_last_error", "zoho_attempts",
               "zoho_next_attempt_at")


class ZohoMirrorMixin:
    """The zoho_* fields are the sync worker's bookkeeping (`ZohoSyncMixin`): never edited by hand (staff
    retry with "Sync to ZOHO now"), so they are read-only and shown last, in a collapsed fieldset."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + [name for name in ZOHO_FIELDS if name not in readonly]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(title, {**options, "fields": [f for f in options["fields"] if f not in ZOHO_FIELDS]})
                     for title, options in super().get_fieldsets(request, obj)]
        if obj is None:
            return fieldsets  # nothing is mirrored before the row exists
        return [*fieldsets, ("ZOHO mirror", {"classes": ("collapse",), "fields": ZOHO_FIELDS})]


class RecentRowsInline(ReadOnlyInline):
    """A long per-customer history (inlines have no pagination): only the latest `recent_limit` rows,
    newest first (`ordering`), with a "view all" link to the changelist filtered to the customer.

    The limit is a correlated subquery (the pks of the same customer's latest rows), not a slice: the
    inline formset filters the queryset by the parent afterwards, which a sliced queryset refuses."""

    recent_limit = 20
    parent_field = "customer"
    template = "admin/billing/edit_inline/recent_rows.html"

    def get_queryset(self, request):
        ordering = self.get_ordering(request) or self.model._meta.ordering
        latest = (self.model._default_manager.filter(**{self.parent_field: OuterRef(self.parent_field)})
                  .order_by(*ordering).values("pk")[:self.recent_limit])
        return super().get_queryset(request).filter(pk__in=Subquery(latest))

    @property
    def view_all_url_name(self) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"

    @property
    def view_all_lookup(self) -> str:
        return f"{self.parent_field}__id__exact"


# --- customers ---------------------------------------------------------------------------------------------

class BillingAccountInline(admin.StackedInline):
    model = BillingAccount
    can_delete = False
    exclude = ("balance",)  # moves only with ledger postings; shown read-only as "R 1,234.56"
    readonly_fields = ("balance_zar",)

    @admin.display(description="balance (owed)")
    def balance_zar(self, obj):
        return format_zar(obj.balance)


class CustomerServiceInline(ReadOnlyInline, admin.TabularInline):
    """The customer's services, each with the lifecycle buttons its status allows (they come back here)."""

    model = CustomerService
    fields = ("service_type", "package_name", zar_column("monthly_price", "monthly price"), "billing_day", "status",
              "next_billing_date", "lifecycle")
    readonly_fields = fields

    @admin.display(description="lifecycle")
    def lifecycle(self, obj):
        if obj.pk is None:
            return "-"
        back = reverse("admin:billing_customer_change", args=[obj.customer_id])
        links = [(lifecycle_url(obj, action, back), LIFECYCLE_LABELS[action]) for action in lifecycle_actions_for(obj)]
        return format_html_join(" ", '<a class="button lifecycle-button" href="{}">{}</a>', links) or "-"


class CustomerInvoiceInline(RecentRowsInline, admin.TabularInline):
    model = Invoice
    fields = ("number", "invoice_type", "issue_date", "due_date", zar_column("total"),
              zar_column("amount_paid", "amount paid"), "status")
    readonly_fields = fields
    ordering = ("-issue_date", "-pk")


class CustomerLedgerInline(RecentRowsInline, admin.TabularInline):
    model = LedgerEntry
    fields = ("effective_date", "entry_type", "reference", "description", zar_column("amount"))
    readonly_fields = fields
    ordering = ("-effective_date", "-pk")
    show_change_link = False


# Apps above billing add notes for staff beside a customer's fields (payments: mandates sent without a
# registration number, payments/admin.py): callables (customer) -> {field name: text}. Billing never
# imports them.
CUSTOMER_FIELD_NOTES: list = []


class CustomerAdminForm(forms.ModelForm):
    """The VAT and company registration numbers follow the same rules as sign-up and the profile
    (`vat_number_clean`, `registration_number_clean`). Apps above add notes beside fields
    (`CUSTOMER_FIELD_NOTES`)."""

    # As on sign-up and the profile: room for a number typed with spaces ("2015 / 123456 / 07"); stored cleaned.
    registration_number = forms.CharField(
        label="Company registration number", max_length=30, required=False,
        help_text=Customer._meta.get_field("registration_number").help_text)

    class Meta:
        model = Customer
        fields = "__all__"  # noqa: DJ007 (the admin chooses the fields; this form only adds the number rules)
        help_texts = {"vat_number": "Business accounts: 10 digits starting with 4. Printed on their tax invoices."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            return
        for notes in CUSTOMER_FIELD_NOTES:
            for name, text in notes(self.instance).items():
                field = self.fields.get(name)
                if field is not None and text:
                    field.help_text = f"{text} {field.help_text}"

    def clean(self):
        from billing.services.customers import CustomerError, registration_number_clean, vat_number_clean

        cleaned = super().clean()
        account_type = cleaned.get("account_type", getattr(self.instance, "account_type", ""))
        for name, rule in (("vat_number", vat_number_clean), ("registration_number", registration_number_clean)):
            if name in cleaned:
                try:
                    cleaned[name] = rule(cleaned[name], account_type=account_type)
                except CustomerError as exc:
                    self.add_error(name, exc.message)
        return cleaned


@admin.register(Customer)
class CustomerAdmin(ZohoMirrorMixin, MoneyColumnsMixin, ConsoleModelAdmin):
    form = CustomerAdminForm
    list_display = ("account_number", "display_name", "email", "phone", "account_type", "vat_number", "status",
                    "balance", "created_at")
    list_filter = ("status", "account_type", "zoho_sync_status")
    search_fields = ("account_number", "email", "first_name", "last_name", "company_name", "phone", "vat_number",
                     "registration_number")
    # The status is not edited by hand: it follows the services (their lifecycle buttons are below).
    readonly_fields = ("account_number", "status", "services_summary", "balance", "created_at", "updated_at")
    raw_id_fields = ("user",)
    list_select_related = ("billing_account",)
    inlines = [BillingAccountInline, CustomerServiceInline, CustomerInvoiceInline, CustomerLedgerInline]
    actions = [sync_now]

    @admin.display(description="services")
    def services_summary(self, obj):
        """ "1 active, 1 suspended", linked to the customer's services; the status above follows them."""
        if obj.pk is None:
            return "-"
        counts = (CustomerService.objects.filter(customer=obj).order_by("status").values_list("status")
                  .annotate(n=Count("pk")))
        labels = dict(CustomerService.Status.choices)
        text = ", ".join(f"{n} {str(labels.get(status, status)).lower()}" for status, n in counts) or "none"
        url = reverse("admin:billing_customerservice_changelist") + f"?customer__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a> (change a service with its lifecycle buttons below)', url, text)

    @admin.display(description="Balance (owed)", ordering="billing_account__balance")
    def balance(self, obj):
        account = getattr(obj, "billing_account", None)
        return format_zar(account.balance) if account else "-"


@admin.register(Order)
class OrderAdmin(ConsoleModelAdmin):
    list_display = ("pk", "name", "email", "package", "status", "customer", "created_at")
    list_filter = ("status", "package")
    search_fields = ("name", "email", "phone", "external_ref", "customer__account_number")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)


@admin.register(OrderIssue)
class OrderIssueAdmin(ConsoleModelAdmin):
    list_display = ("created_at", "source", "row_ref", "reason", "resolved")
    list_filter = ("source", "resolved")
    search_fields = ("row_ref", "reason")
    raw_id_fields = ("order",)


# --- services and their lifecycle --------------------------------------------------------------------------

class SuspendForm(ReasonForm):
    kind = forms.ChoiceField(choices=Suspension.Kind.choices)
    customer_message = forms.CharField(
        required=False, max_length=300, widget=forms.TextInput(attrs={"size": 80}),
        help_text="What the customer sees on the dashboard and in the email. Empty: the standard words for the "
                  "kind. The reason above is internal and never shown to the customer.")
    skip_billing = forms.BooleanField(required=False, help_text="Do not invoice the suspended days.")


class BillingDayForm(ReasonForm):
    billing_day = forms.TypedChoiceField(choices=[(d, str(d)) for d in (1, 5, 25, 30)], coerce=int,
                                         help_text="The stub to the first new billing date is billed pro-rata.")


class PriceForm(ReasonForm):
    monthly_price = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, max_value=100000,
                                       help_text="In the account's price convention (VAT-inclusive for personal "
                                                 "accounts, exclusive for business).")
    immediate = forms.BooleanField(required=False, help_text="From today with pro-rata (the rest of the invoiced "
                                   "period is credited at the old price). Unticked: from the next period.")


class RunPreviewForm(forms.Form):
    run_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                               help_text="The day the run is for (empty: today). Services billed within the lead "
                                         "days of it are included.")

    def clean_run_date(self):
        from billing.services.invoice_run import InvoiceRunError, run_date_check

        try:
            return run_date_check(self.cleaned_data.get("run_date"))
        except InvoiceRunError as exc:
            raise forms.ValidationError(str(exc))


class VoidForm(ReasonForm):
    reissue = forms.BooleanField(required=False, help_text="Issue a replacement invoice with the same lines.")


# The readable before/after of a ServiceActionLog (its snapshots are `lifecycle.snapshot` dicts).
STATE_LABELS = {"status": "status", "activation_date": "activation date", "suspension_date": "suspension date",
                "cancellation_date": "cancellation date", "next_billing_date": "next billing date",
                "billing_day": "billing day", "monthly_price": "monthly price"}


def _state_value(key: str, value) -> str:
    if value is None or value == "":
        return "-"
    if key == "monthly_price":
        try:
            return format_zar(value)
        except (TypeError, ValueError, ArithmeticError):
            return str(value)
    return str(value)


def state_changes(log: ServiceActionLog) -> list[tuple[str, str, str]]:
    """[(label, before, after)] for every snapshot field the action changed, in the snapshot's order."""
    before, after = log.previous_state or {}, log.new_state or {}
    keys = [*STATE_LABELS, *sorted((set(before) | set(after)) - set(STATE_LABELS))]
    return [(STATE_LABELS.get(key, key.replace("_", " ")), _state_value(key, before.get(key)),
             _state_value(key, after.get(key)))
            for key in keys if (key in before or key in after) and before.get(key) != after.get(key)]


class StateChangeMixin:
    """The action log's before/after as "status: active → suspended" lines instead of two JSON blobs."""

    @admin.display(description="what changed")
    def state_change(self, obj):
        changes = state_changes(obj)
        if not changes:
            return "nothing"
        return format_html_join(mark_safe("<br>"), "{}: {} &rarr; {}", changes)


class ServiceActionLogInline(StateChangeMixin, ReadOnlyInline, admin.TabularInline):
    model = ServiceActionLog
    fields = ("created_at", "action", "reason", "actor_label", "state_change")
    readonly_fields = fields
    show_change_link = False


class SuspensionInline(ReadOnlyInline, admin.TabularInline):
    model = Suspension
    fields = ("kind", "reason", "suspended_on", "reactivated_on", "skip_billing")
    readonly_fields = fields
    show_change_link = False


class ActivateForm(ReasonForm):
    activation_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                      help_text="The day the service went live (empty: today). The first invoice "
                                                "charges pro-rata from this day to the next billing date.")


class CancelForm(ReasonForm):
    pass


# The lifecycle, by action: (button label, form, what to call). The services (billing.services.lifecycle)
# hold the rules; the console only offers what the service's current status allows (`LEGAL`) and reports.
LIFECYCLE_ACTIONS = ("activate", "suspend", "reactivate", "cancel")
LIFECYCLE_LABELS = {"activate": "Activate", "suspend": "Suspend", "reactivate": "Reactivate",
                    "cancel": "Cancel service"}


def lifecycle_allowed_from(action: str) -> set[str]:
    from billing.services.lifecycle import LEGAL

    return set(LEGAL[action][0])


def lifecycle_actions_for(service: CustomerService) -> list[str]:
    """The lifecycle actions the service's status allows, in the order of `LIFECYCLE_ACTIONS`."""
    return [action for action in LIFECYCLE_ACTIONS if service.status in lifecycle_allowed_from(action)]


def lifecycle_refusal(service: CustomerService, action: str) -> str:
    """The service's own words for a transition its status does not allow."""
    return f"Cannot {action} a service that is {service.status}."


def _activate(service, data, actor) -> str:
    from billing.services.lifecycle import service_activate

    invoice = service_activate(service=service, reason=data["reason"], actor=actor,
                               activation_date=data.get("activation_date") or None)
    return f"activated; first invoice {invoice.number} for {format_zar(invoice.total)} issued"


def _suspend(service, data, actor) -> str:
    from billing.services.lifecycle import service_suspend

    suspension = service_suspend(service=service, reason=data["reason"], kind=data["kind"],
                                 skip_billing=data["skip_billing"], actor=actor,
                                 customer_message=data.get("customer_message", ""))
    days = "; the suspended days are not billed" if suspension.skip_billing else ""
    return f"suspended ({suspension.get_kind_display().lower()}){days}"


def _reactivate(service, data, actor) -> str:
    from billing.services.lifecycle import service_reactivate

    service_reactivate(service=service, reason=data["reason"], actor=actor)
    return "reactivated"


def _cancel(service, data, actor) -> str:
    from billing.services.lifecycle import service_cancel, service_cancellation_quote

    quote = service_cancellation_quote(service=service)
    service_cancel(service=service, reason=data["reason"], actor=actor)
    back = f"; {format_zar(quote['credit'])} credited or voided" if quote["credit"] else ""
    return f"cancelled; no further invoices{back}"


LIFECYCLE_FORMS = {"activate": ActivateForm, "suspend": SuspendForm, "reactivate": ReasonForm, "cancel": CancelForm}
LIFECYCLE_APPLY = {"activate": _activate, "suspend": _suspend, "reactivate": _reactivate, "cancel": _cancel}


def _cancel_intro(services) -> str:
    from billing.services.lifecycle import service_cancellation_quote

    intro = "; ".join(
        f"{svc}: {format_zar(q['credit'])} back ({q['policy'].replace('_', ' ')})"
        for svc in services[:20] if svc.status != svc.Status.CANCELLED
        for q in [service_cancellation_quote(service=svc)])
    return f"Cancelling today gives back: {intro}." if intro else ""


def lifecycle_url(service: CustomerService, action: str, back: str | None = None) -> str:
    url = reverse("admin:billing_customerservice_lifecycle", args=[service.pk, action])
    return f"{url}?{urlencode({'next': back})}" if back else url


@admin.register(CustomerService)
class CustomerServiceAdmin(ZohoMirrorMixin, MoneyColumnsMixin, ConsoleModelAdmin):
    """Status and dates change only through the lifecycle: the buttons on a service's page (and beside each
    service on its customer's page) offer the actions its status allows, then ask for a reason; the same
    actions work on many services from the list."""

    list_display = ("pk", "customer", "service_type", "package_name", "monthly_price", "billing_day", "status",
                    "next_billing_date")
    list_filter = ("status", "service_type", "billing_day")
    search_fields = ("customer__account_number", "customer__email", "package_name", "provider_order_id",
                     "router_serial")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)
    readonly_fields = ("status", "activation_date", "suspension_date", "cancellation_date", "next_billing_date",
                       "created_at", "updated_at")
    inlines = [SuspensionInline, ServiceActionLogInline]
    actions = ["activate", "suspend", "reactivate", "cancel", "change_billing_day", "change_price", sync_now]
    change_form_template = "admin/billing/customerservice/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "billing_day" in form.base_fields:
            form.base_fields["billing_day"].required = False
            form.base_fields["billing_day"].initial = None
            form.base_fields["billing_day"].help_text = "Empty: the customer's preferred billing day."
        return form

    def save_model(self, request, obj, form, change):
        if not change and form.cleaned_data.get("billing_day") is None:
            from billing.services.customers import customer_billing_day

            obj.billing_day = customer_billing_day(obj.customer)
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        # Billing day and price change only through their services (pro-rata, credits, audit).
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "billing_day", "monthly_price") if obj is not None else fields

    # --- one service: the lifecycle buttons and their page -------------------------------------------------

    def get_urls(self):
        return [path("<path:object_id>/lifecycle/<str:action>/", self.admin_site.admin_view(self.lifecycle_view),
                     name="billing_customerservice_lifecycle"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        service = self.get_object(request, object_id)
        buttons = []
        if service is not None and self.has_change_permission(request, service):
            buttons = [(LIFECYCLE_LABELS[action], lifecycle_url(service, action))
                       for action in lifecycle_actions_for(service)]
        return super().change_view(request, object_id, form_url,
                                   extra_context={**(extra_context or {}), "lifecycle_buttons": buttons})

    def lifecycle_view(self, request, object_id, action):
        """One lifecycle action on one service. The status is checked first: an action it does not allow
        (suspend a cancelled service) is refused before any reason is asked. Then the reason form; on a
        valid POST the service is called and the outcome (or its refusal) shown on the page we came from."""
        if action not in LIFECYCLE_ACTIONS:
            raise Http404("No such lifecycle action.")
        service = self.get_object(request, object_id)
        if service is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, service):
            raise PermissionDenied
        back = request.GET.get("next") or request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()) or not back.startswith("/"):
            back = reverse("admin:billing_customerservice_change", args=[service.pk])
        if service.status not in lifecycle_allowed_from(action):
            self.message_user(request, lifecycle_refusal(service, action), messages.ERROR)
            return HttpResponseRedirect(back)
        form_class = LIFECYCLE_FORMS[action]
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                outcome = LIFECYCLE_APPLY[action](service, form.cleaned_data, request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{service}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{service}: {outcome}", messages.SUCCESS)
            return HttpResponseRedirect(back)
        intro = _cancel_intro([service]) if action == "cancel" else ""
        if action == "activate":
            form.fields["activation_date"].initial = timezone.localdate()
        return TemplateResponse(request, "admin/billing/customerservice/lifecycle_form.html", {
            **self.admin_site.each_context(request), "title": LIFECYCLE_LABELS[action],
            "subtitle": str(service), "opts": self.opts, "original": service, "form": form, "intro": intro,
            "action": action, "back": back, "submit_label": LIFECYCLE_LABELS[action],
            "has_view_permission": self.has_view_permission(request, service),
        })

    # --- many services: the list's actions ------------------------------------------------------------------

    def _lifecycle(self, request, queryset, title, form_class, fn, *, intro: str = "", action: str | None = None):
        selected = None
        if action is not None and "apply" not in request.POST:
            # Status first, before any reason is asked: rows the action cannot apply to are left out.
            allowed = lifecycle_allowed_from(action)
            refused = queryset.exclude(status__in=allowed)
            count = refused.count()
            if count:
                for svc in refused.select_related("customer")[:10]:
                    self.message_user(request, f"{svc}: {lifecycle_refusal(svc, action)}", messages.ERROR)
                if count > 10:
                    self.message_user(request, f"... and {count - 10} more left out.", messages.ERROR)
                queryset = queryset.filter(status__in=allowed)
                if not queryset.exists():
                    return None
                selected = list(queryset.values_list("pk", flat=True))
        if action == "cancel":
            intro = _cancel_intro(queryset)
        return reason_action(self, request, queryset, title=title, form_class=form_class, apply=fn, intro=intro,
                             selected=selected)

    @admin.action(description="Change billing day (bills or credits the stub pro-rata)")
    def change_billing_day(self, request, queryset):
        from billing.services.lifecycle import service_change_billing_day

        def apply(service, data):
            invoice = service_change_billing_day(service=service, new_day=data["billing_day"], reason=data["reason"],
                                                 actor=request.user)
            stub = f"; stub invoice {invoice.number} for {format_zar(invoice.total)}" if invoice else ""
            return f"now billed on day {service.billing_day}{stub}"

        return self._lifecycle(request, queryset, "Change billing day", BillingDayForm, apply)

    @admin.action(description="Change monthly price")
    def change_price(self, request, queryset):
        from billing.services.lifecycle import service_change_price

        def apply(service, data):
            invoice = service_change_price(service=service, new_price=data["monthly_price"], reason=data["reason"],
                                           immediate=data["immediate"], actor=request.user)
            when = f"pro-rata invoice {invoice.number} for {format_zar(invoice.total)}" if invoice else \
                "from the next period"
            return f"price now {format_zar(service.monthly_price)} ({when})"

        return self._lifecycle(request, queryset, "Change monthly price", PriceForm, apply)

    @admin.action(description="Activate (issues the pro-rata invoice)")
    def activate(self, request, queryset):
        return self._lifecycle(request, queryset, "Activate services", ActivateForm,
                               lambda service, data: _activate(service, data, request.user), action="activate")

    @admin.action(description="Suspend")
    def suspend(self, request, queryset):
        return self._lifecycle(request, queryset, "Suspend services", SuspendForm,
                               lambda service, data: _suspend(service, data, request.user), action="suspend")

    @admin.action(description="Reactivate")
    def reactivate(self, request, queryset):
        return self._lifecycle(request, queryset, "Reactivate services", ReasonForm,
                               lambda service, data: _reactivate(service, data, request.user), action="reactivate")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        return self._lifecycle(request, queryset, "Cancel services", CancelForm,
                               lambda service, data: _cancel(service, data, request.user), action="cancel")


# --- invoices, credit notes, ledger -----------------------------------------------------------------------

class InvoiceLineInline(ReadOnlyInline, admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "description", "quantity", zar_column("unit_price", "unit price"), zar_column("amount"),
              "days_charged", "days_in_period", "unrounded_amount")
    readonly_fields = fields
    show_change_link = False


class InvoiceLedgerInline(ReadOnlyInline, admin.TabularInline):
    model = LedgerEntry
    fk_name = "invoice"
    fields = ("effective_date", "entry_type", "reference", zar_column("amount"), "created_by")
    readonly_fields = fields
    show_change_link = False


class CreditNoteInline(ReadOnlyInline, admin.TabularInline):
    model = CreditNote
    fields = ("number", "issue_date", zar_column("total"), zar_column("applied_amount", "applied"), "reason")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(ZohoMirrorMixin, MoneyColumnsMixin, ConsoleModelAdmin):
    """View-only change page (no Save buttons): an issued invoice changes only through the actions,
    which need the real change permission (`has_lifecycle_permission`)."""

    list_display = ("number", "customer", "invoice_type", "issue_date", "due_date", "total",
                    zar_column("amount_due", "amount due"), "status", "pdf_link")
    list_filter = ("status", "invoice_type", "prices_include_vat", "issue_date")
    search_fields = ("number", "customer__account_number", "customer__email", "customer__last_name")
    raw_id_fields = ("customer", "service")
    list_select_related = ("customer",)
    date_hierarchy = "issue_date"
    # Apps above billing add their own inlines here (payments adds the invoice's payments, in
    # payments/admin.py): billing never imports them.
    inlines = [InvoiceLineInline, CreditNoteInline, InvoiceLedgerInline]
    actions = ["void_invoices", "render_pdfs", sync_now]
    change_list_template = "admin/billing/invoice/change_list.html"
    fieldsets = (
        (None, {"fields": ("number", "customer", "service", "invoice_type", "status", "issue_date", "due_date",
                           "period_start", "period_end", "replaces", "replaced_by_link", "notes",
                           "bill_to_name", "customer_vat_number")}),
        ("Amounts", {"fields": ("prices_include_vat", zar_column("subtotal"), zar_column("vat_amount", "VAT"),
                                zar_column("total"), zar_column("amount_paid", "amount paid"),
                                zar_column("amount_due", "amount due"))}),
        ("PDF and reminders", {"fields": ("pdf_link", "pdf_generated_at", "pre_due_reminder_sent_at",
                                          "overdue_notified_at", "reminders_sent", "last_reminder_at")}),
        ("Void", {"fields": ("voided_at", "void_reason")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # nothing on the page is editable: Django then shows it view-only, without Save buttons

    def has_delete_permission(self, request, obj=None):
        return False

    def has_lifecycle_permission(self, request):
        """Void / reissue / render again: staff who hold the model's change permission."""
        return super().has_change_permission(request)

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
                     name="billing_invoice_generate_now"),
                path("preview-invoice-run/", self.admin_site.admin_view(self.run_preview_view),
                     name="billing_invoice_run_preview"), *super().get_urls()]

    def run_preview_view(self, request):
        """'Preview the invoice run': the run's dry run for a date (default today) shows what it would
        invoice, writing nothing but its job-run record."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = RunPreviewForm(request.POST if request.method == "POST" else None,
                              initial={"run_date": timezone.localdate()})
        result = rows = None
        if request.method == "POST" and form.is_valid():
            from billing.services.invoice_run import invoice_run

            result = invoice_run(run_date=form.cleaned_data["run_date"], dry_run=True,
                                 triggered_by=f"admin:{request.user.get_username()}")
            services = CustomerService.objects.select_related("customer").in_bulk(
                [row["service"] for row in result.preview])
            rows = [{**row, "service": services.get(row["service"]), "service_id": row["service"],
                     "total": format_zar(row["total"])} for row in result.preview]
        return TemplateResponse(request, "admin/billing/invoice_run_preview.html", {
            **self.admin_site.each_context(request), "title": "Preview the invoice run", "opts": self.model._meta,
            "form": form, "result": result, "rows": rows,
            "total": format_zar(result.total) if result is not None else None,
            "job_run": job_run_link(result.job_run_id) if result is not None else None,
            "can_generate": self.has_lifecycle_permission(request),
            "run_date": (form.cleaned_data.get("run_date") if form.is_bound and form.is_valid() else None)
                        or timezone.localdate(),
        })

    def generate_now_view(self, request):
        """'Generate invoices now' (for a date, default today): confirm, then start the run as a task and
        show the job-run id. Staff with the invoice change permission only (it bills customers)."""
        if not self.has_lifecycle_permission(request):
            raise PermissionDenied
        form = RunPreviewForm(request.POST if request.method == "POST" else request.GET or None)
        run_date = (form.cleaned_data["run_date"] if form.is_bound and form.is_valid() else None) or timezone.localdate()
        if request.method == "POST" and form.is_valid():
            from billing.services.invoice_run import invoice_run_start

            with transaction.atomic():
                record = invoice_run_start(triggered_by=f"admin:{request.user.get_username()}", run_date=run_date)
            self.message_user(request, format_html("Invoice run for {} started ({}).", f"{run_date:%-d %b %Y}",
                                                   job_run_link(record.pk)), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:billing_invoice_changelist"))
        return TemplateResponse(request, "admin/billing/confirm_generate.html", {
            **self.admin_site.each_context(request), "title": "Generate invoices now", "opts": self.model._meta,
            "form": form, "run_date": run_date})

    @admin.action(description="Void (optionally reissue)", permissions=["lifecycle"])
    def void_invoices(self, request, queryset):
        from billing.services.invoices import invoice_reissue, invoice_void

        def apply(invoice, data):
            actor = request.user.get_username()
            if data["reissue"]:
                replacement = invoice_reissue(invoice=invoice, reason=data["reason"], actor=actor)
                return f"voided; replaced by {replacement.number} for {format_zar(replacement.total)}"
            invoice_void(invoice=invoice, reason=data["reason"], actor=actor)
            return "voided; what was still owed on it is taken off the balance"

        return reason_action(self, request, queryset, title="Void invoices", form_class=VoidForm, apply=apply)

    @admin.action(description="Render PDF again", permissions=["lifecycle"])
    def render_pdfs(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        enqueue_document("billing.tasks.render_invoice_pdfs", ids, group="billing-pdf")
        self.message_user(request, f"Queued {len(ids)} PDF(s).", messages.SUCCESS)


@admin.register(CreditNote)
class CreditNoteAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    list_display = ("number", "invoice", "customer", "issue_date", "total", "applied_amount", "created_by")
    fields = ("number", "invoice", "customer", "issue_date", "reason", "period_start", "period_end",
              zar_column("subtotal"), zar_column("vat_amount", "VAT"), zar_column("total"),
              zar_column("applied_amount", "applied amount"), "created_by", "created_at", "zoho_id")
    readonly_fields = fields
    search_fields = ("number", "invoice__number", "customer__account_number")
    list_select_related = ("invoice", "customer")
    raw_id_fields = ("invoice", "customer")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MoneyColumnsMixin, ReadOnlyAdmin):
    list_display = ("effective_date", "customer", "entry_type", "reference", "amount", "created_by")
    ordering = ("-effective_date", "-pk")  # newest first (the model's order is oldest first, for statements)
    fields = ("customer", "effective_date", "entry_type", zar_column("amount"), "reference", "description",
              "invoice", "payment", "credit_note", "created_by", "created_at")
    readonly_fields = fields
    list_filter = ("entry_type", "effective_date")
    search_fields = ("reference", "customer__account_number", "description")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "invoice", "payment", "credit_note")
    change_list_template = "admin/billing/ledgerentry/change_list.html"

    def get_urls(self):
        return [path("check/", self.admin_site.admin_view(self.check_view), name="billing_ledger_check"),
                *super().get_urls()]

    def check_view(self, request):
        """'Check the ledger' (what `manage.py check_ledger` does): recompute every balance and paid amount
        from the ledger and the payments and list each difference. Reads only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        differences = None
        if request.method == "POST":
            from billing.services.ledger_check import ledger_differences

            differences = ledger_differences()
        return TemplateResponse(request, "admin/billing/ledger_check.html", {
            **self.admin_site.each_context(request), "title": "Check the ledger", "opts": self.model._meta,
            "differences": differences, "checked_at": timezone.now() if differences is not None else None,
        })


@admin.register(ServiceActionLog)
class ServiceActionLogAdmin(StateChangeMixin, ReadOnlyAdmin):
    """Read-only; the before/after snapshots read as what changed ("status: active → suspended")."""

    list_display = ("created_at", "service", "action", "actor_label", "reason", "state_change")
    fields = ("service", "action", "reason", "actor_label", "created_at", "state_change", "before_and_after")
    readonly_fields = fields
    list_filter = ("action",)
    search_fields = ("service__customer__account_number", "reason", "actor_label")
    list_select_related = ("service__customer",)

    @admin.display(description="before and after")
    def before_and_after(self, obj):
        before, after = obj.previous_state or {}, obj.new_state or {}
        keys = [*[k for k in STATE_LABELS if k in before or k in after],
                *sorted((set(before) | set(after)) - set(STATE_LABELS))]
        rows = [(STATE_LABELS.get(k, k.replace("_", " ")), _state_value(k, before.get(k)), _state_value(k, after.get(k)),
                 "changed" if before.get(k) != after.get(k) else "") for k in keys]
        return format_html('<table class="state-table"><thead><tr><th></th><th>before</th><th>after</th></tr></thead>'
                           "<tbody>{}</tbody></table>",
                           format_html_join("", '<tr class="{3}"><th>{0}</th><td>{1}</td><td>{2}</td></tr>', rows))


@admin.register(Suspension)
class SuspensionAdmin(ReadOnlyAdmin):
    list_display = ("service", "kind", "suspended_on", "reactivated_on", "skip_billing")
    list_filter = ("kind", "skip_billing")
    list_select_related = ("service__customer",)
