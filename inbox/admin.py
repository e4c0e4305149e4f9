"""Ops console for the webhook inbox: every provider's events, read-only, with a safe reprocess."""

from django.contrib import admin, messages
from django.utils.html import format_html

from circletel.admin_tools import ReadOnlyAdmin
from inbox.models import WebhookEvent
from inbox.services import webhook_events_reprocess


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider", "event_type", "event_id", "status", "attempts", "next_attempt_at")
    list_filter = ("provider", "status", "event_type")
    search_fields = ("event_id",)
    readonly_fields = ("provider", "event_id", "event_type", "status", "attempts", "received_at",
                       "processing_started_at", "processed_at", "next_attempt_at", "error", "headers", "raw_body")
    exclude = ("body",)
    actions = ["reprocess"]

    @admin.display(description="Raw body")
    def raw_body(self, obj):
        return format_html('<pre style="white-space: pre-wrap; max-width: 80em">{}</pre>', obj.body)

    @admin.action(description="Reprocess selected events (safe to repeat)")
    def reprocess(self, request, queryset):
        counts = webhook_events_reprocess(ids=list(queryset.values_list("pk", flat=True)))
        messages.info(request, ", ".join(f"{k}: {v}" for k, v in counts.items()))
