"""The ZOHO sync operations console: a dashboard page (via the SyncDashboard proxy) and the
read-only SyncLog."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from circletel.admin_tools import ReadOnlyMixin
from zoho_sync import selectors
from zoho_sync.models import SyncDashboard, SyncLog
from zoho_sync.services.monitoring import entity_mark_for_retry, entity_type_mark_for_retry
from zoho_sync.services.sync import ENTITY_MODELS


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
class SyncDashboardAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
        labels = selectors.entity_labels([(r.entity_type, r.entity_id) for r in [*page.object_list, *failures]])
        for row in [*page.object_list, *failures]:
            row.label = labels.get((row.entity_type, row.entity_id), "")
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
            messages.success(request, f"{n} failed/retrying {entity_type} row(s) set to retry now "
                                      "(the 4-hourly sweep or `manage.py zoho_retry_failed` runs them).")
        return HttpResponseRedirect(reverse("admin:zoho_sync_syncdashboard_changelist"))
