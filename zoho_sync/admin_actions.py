"""Reusable admin actions for the mirrored models' ModelAdmins (billing / payments own those).

    from zoho_sync.admin_actions import sync_now
    class CustomerAdmin(admin.ModelAdmin):
        actions = [sync_now]

`sync_now` marks the selected rows pending and due now and queues their sync (after commit); it
never calls ZOHO inside the admin request. With sync disabled it says so and changes nothing.
"""

from django.conf import settings
from django.contrib import admin, messages

from circletel.errors import ApplicationError
from zoho_sync.services.monitoring import entity_mark_for_retry
from zoho_sync.services.outbox import entity_type_of


@admin.action(description="Sync to ZOHO now")
def sync_now(modeladmin, request, queryset):
    if not settings.ENABLE_ZOHO_SYNC:
        modeladmin.message_user(request, "ZOHO sync is disabled (ENABLE_ZOHO_SYNC); nothing was queued.",
                                messages.WARNING)
        return
    queued = 0
    for obj in queryset.only("pk"):
        try:
            if entity_mark_for_retry(entity_type=entity_type_of(obj), pk=obj.pk):
                queued += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"#{obj.pk}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"Queued {queued} row(s) for ZOHO sync (rows being synced right now are left "
                                     f"as they are).", messages.SUCCESS)
