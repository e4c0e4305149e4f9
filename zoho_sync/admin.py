"""The ZOHO sync operations console: a dashboard page (via the SyncDashboard proxy), the
read-only SyncLog, and the refunds staff must enter in ZOHO by hand (with a "mark entered" action)."""

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from circletel.admin_tools import ConsoleModelAdmin, MoneyColumnsMixin, ReadOnlyMixin, reason_action
from zoho_sync import selectors
from zoho_sync.models import ManualEntry, RefundManualEntry, RefundPush, SyncDashboard, SyncLog, SyncWait
from zoho_sync.services.health import refunds_awaiting_zoho_entry
from zoho_sync.services.monitoring import entity_mark_for_retry, entity_type_mark_for_retry
from zoho_sync.services.sync import ENTITY_MODELS, manual_entry_mark_entered, refund_manual_entry_mark_entered


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnlyMixin, ConsoleModelAdmin):
    list_display = ["created_at", "entity_type", "entity_id", "action", "status", "zoho_id", "duration_ms",
                    "short_error"]
    list_filter = ["entity_type", "status", "action"]
    search_fields = ["zoho_id", "=entity_id", "error"]
    date_hierarchy = "created_at"
    list_per_page = 50

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]


@admin.register(SyncDashboard)
class SyncDashboardAdmin(ReadOnlyMixin, ConsoleModelAdmin):
    """"ZOHO sync" page: totals, success rate, latency, calls today, failures, filtered log, retries."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def get_urls(self):
        return [
            path("retry/", self.admin_site.admin_view(require_POST(self.retry_view)), name="zoho_sync_retry"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        entity_type = request.GET.get("entity_type") or None
        status = request.GET.get("status") or None
        if entity_type not in ENTITY_MODELS:
            entity_type = None
        if status not in SyncLog.Status.values:
            status = None
        page = Paginator(selectors.logs(entity_type=entity_type, status=status), 25).get_page(request.GET.get("page"))
        failures = selectors.recent_failures()
        rows = [*page.object_list, *failures]
        labels = selectors.entity_labels([(r.entity_type, r.entity_id) for r in rows])
        # A payment shows as its reference and its amount; the template formats the amount (`zar`).
        payments = _payment_references_and_amounts({r.entity_id for r in rows if r.entity_type == "payment"})
        for row in rows:
            row.label = labels.get((row.entity_type, row.entity_id), "")
            row.amount = None
            if row.entity_type == "payment" and row.entity_id in payments:
                row.label, row.amount = payments[row.entity_id]
        stats = selectors.dashboard_stats()
        context = {
            **self.admin_site.each_context(request),
            "title": "ZOHO sync",
            "opts": self.model._meta,
            "stats": stats,
            "entity_rows": [(name, counts) for name, counts in stats["totals"]["by_entity"].items()],
            "statuses": list(stats["totals"]["overall"].keys()),
            "page": page,
            "failures": failures,
            "filter_entity": entity_type or "",
            "filter_status": status or "",
            "entity_types": list(ENTITY_MODELS),
            "log_statuses": SyncLog.Status.values,
            "retry_url": reverse("admin:zoho_sync_retry"),
            "enabled": settings.ENABLE_ZOHO_SYNC,
            "refunds_awaiting": refunds_awaiting_zoho_entry(),
            "refunds_awaiting_url": reverse("admin:zoho_sync_refundmanualentry_changelist") + "?state=awaiting",
            "manual_url": reverse("admin:zoho_sync_manualentry_changelist") + "?entered_at__isnull=True",
            "waiting_url": reverse("admin:zoho_sync_syncwait_changelist"),
            "open_breakers": {k: v for k, v in stats["breakers"].items() if v["open"]},
        }
        return render(request, "admin/zoho_sync/dashboard.html", context)

    def retry_view(self, request):
        entity_type = request.POST.get("entity_type", "")
        if entity_type not in ENTITY_MODELS:
            messages.error(request, f"Unknown entity type {entity_type!r}.")
        elif request.POST.get("entity_id"):
            try:
                pk = int(request.POST["entity_id"])
            except ValueError:
                pk = 0
            if pk and entity_mark_for_retry(entity_type=entity_type, pk=pk):
                messages.success(request, f"{entity_type} #{pk} queued for ZOHO sync.")
            else:
                messages.error(request, f"{entity_type} #{request.POST['entity_id']} does not exist.")
        else:
            n = entity_type_mark_for_retry(entity_type=entity_type)
            if settings.ENABLE_ZOHO_SYNC:
                messages.success(request, f"{n} failed/retrying {entity_type} row(s) queued for ZOHO sync now.")
            else:
                messages.warning(request, f"{n} failed/retrying {entity_type} row(s) set to pending; ZOHO sync is "
                                          "disabled, so nothing was queued (a backfill will send them).")
        return HttpResponseRedirect(reverse("admin:zoho_sync_syncdashboard_changelist"))


def _payment_references_and_amounts(ids) -> dict:
    """{payment id: (reference, amount)} for the dashboard's log rows (one query)."""
    if not ids:
        return {}
    model = apps.get_model(ENTITY_MODELS["payment"])
    return {pk: (reference, amount)
            for pk, reference, amount in model.objects.filter(pk__in=ids).values_list("pk", "reference", "amount")}


class RefundEntryStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("awaiting", "awaiting entry in ZOHO"), ("entered", "entered in ZOHO"),
                ("out_of_date", "out of date (the refunded total changed)")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.awaiting()
        if self.value() == "entered":
            return queryset.filter(entered_at__isnull=False)
        if self.value() == "out_of_date":
            return queryset.filter(entered_at__isnull=True).exclude(refunded_total=F("payment__amount_refunded"))
        return queryset


@admin.register(RefundManualEntry)
class RefundManualEntryAdmin(MoneyColumnsMixin, ReadOnlyMixin, ConsoleModelAdmin):
    """Refunded totals the refund endpoint cannot bring ZOHO to (our total went down, ZOHO shows
    more, ZOHO refused, or did not show a refund it confirmed: `reason`): staff enter them in ZOHO
    by hand, then record that here with "Mark refund entered in ZOHO" (asks for a reason)."""

    list_display = ["created_at", "payment_reference", "customer", "zoho_payment_id", "refunded_total",
                    "zoho_total", "reason", "previous_total", "state", "alerted_at", "entered_by", "entered_at"]
    list_filter = [RefundEntryStateFilter, "reason"]
    list_select_related = ["payment", "payment__customer"]
    search_fields = ["payment__reference", "zoho_payment_id", "payment__customer__account_number",
                     "payment__customer__first_name", "payment__customer__last_name", "payment__customer__email",
                     "payment__customer__company_name"]
    actions = ["mark_entered"]

    def get_queryset(self, request):
        # The action's confirmation page and messages name each row by its payment (__str__).
        return super().get_queryset(request).select_related("payment")

    @admin.display(description="payment", ordering="payment__reference")
    def payment_reference(self, obj):
        return obj.payment.reference

    @admin.display(description="customer")
    def customer(self, obj):
        return f"{obj.payment.customer.account_number} {obj.payment.customer.display_name}"

    @admin.display(description="state")
    def state(self, obj):
        if obj.entered_at:
            return "entered"
        return "awaiting" if obj.refunded_total == obj.payment.amount_refunded else "out of date"

    @admin.action(description="Mark refund entered in ZOHO")
    def mark_entered(self, request, queryset):
        actor = request.user.get_username()
        return reason_action(
            self, request, queryset, title="Refund entered in ZOHO",
            intro="Confirm that each refunded total below is now recorded on its ZOHO payment.",
            apply=lambda entry, data: refund_manual_entry_mark_entered(entry_id=entry.pk, actor=actor,
                                                                       reason=data["reason"]))


@admin.register(RefundPush)
class RefundPushAdmin(MoneyColumnsMixin, ReadOnlyMixin, ConsoleModelAdmin):
    """Every refund the sync sent to ZOHO (POST /payments/{id}/refunds) and how it ended: saved,
    found in ZOHO's total after an unanswered POST, not saved, or refused. History: read-only."""

    list_display = ["created_at", "payment_reference", "zoho_payment_id", "amount", "zoho_total_before",
                    "target_total", "state", "zoho_refund_id", "zoho_creditnote_id"]
    list_filter = ["state"]
    list_select_related = ["payment"]
    search_fields = ["payment__reference", "zoho_payment_id", "zoho_refund_id", "description"]

    @admin.display(description="payment", ordering="payment__reference")
    def payment_reference(self, obj):
        return obj.payment.reference


@admin.register(SyncWait)
class SyncWaitAdmin(ReadOnlyMixin, ConsoleModelAdmin):
    """Rows waiting for ZOHO (not failures): recurring invoices ZOHO has not generated yet and
    payments applied to them. Each is checked on schedule and alerted once if still missing
    WAIT_ALERT_DAYS after its period started."""

    list_display = ["entity_type", "entity_id", "due_on", "since", "checked_at", "checks", "alerted_at", "short_reason"]
    list_filter = ["entity_type", ("alerted_at", admin.EmptyFieldListFilter)]
    search_fields = ["=entity_id", "reason"]

    @admin.display(description="reason")
    def short_reason(self, obj):
        return obj.reason[:140]


@admin.register(ManualEntry)
class ManualEntryAdmin(ReadOnlyMixin, ConsoleModelAdmin):
    """Things ZOHO must show that no documented endpoint can send (an amount applied in ZOHO that
    we took back, a payment ZOHO refused to delete): staff enter them in ZOHO, then mark them here."""

    list_display = ["created_at", "kind", "entity_type", "entity_id", "summary", "alerted_at", "entered_by", "entered_at"]
    list_filter = ["kind", ("entered_at", admin.EmptyFieldListFilter)]
    search_fields = ["summary", "key", "=entity_id"]
    actions = ["mark_entered"]

    @admin.action(description="Mark entered in ZOHO")
    def mark_entered(self, request, queryset):
        actor = request.user.get_username()
        return reason_action(
            self, request, queryset, title="Entered in ZOHO",
            intro="Confirm that each entry below is now made in ZOHO by hand.",
            apply=lambda entry, data: manual_entry_mark_entered(entry_id=entry.pk, actor=actor, reason=data["reason"]))
