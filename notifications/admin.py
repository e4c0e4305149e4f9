"""Ops console for notifications: a read-only log with a "resend" action for failed rows."""

from django.contrib import admin, messages
from django.utils.html import format_html

from circletel.admin_tools import ConsoleModelAdmin
from circletel.errors import ApplicationError
from notifications.delivery import notification_resend
from notifications.events import is_secret
from notifications.models import NotificationLog


@admin.register(NotificationLog)
class NotificationLogAdmin(ConsoleModelAdmin):
    list_display = ("created_at", "event", "channel", "recipient", "status", "attempts", "sent_at",
                    "next_attempt_at", "customer")
    list_filter = ("channel", "status", "event", ("created_at", admin.DateFieldListFilter))
    search_fields = ("recipient", "idempotency_key", "provider_message_id", "customer__account_number")
    date_hierarchy = "created_at"
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    actions = ["resend_failed"]
    fields = ("event", "channel", "recipient", "customer", "status", "attempts", "next_attempt_at", "sent_at",
              "provider_message_id", "idempotency_key", "error", "subject", "body_text", "html_preview",
              "context_shown", "attachments", "created_at")
    readonly_fields = fields
    HIDDEN = "Hidden: this message carries a one-time link for the recipient only."

    @admin.display(description="Body")
    def body_text(self, obj):
        return self.HIDDEN if is_secret(obj.event) else obj.body

    @admin.display(description="Context")
    def context_shown(self, obj):
        return self.HIDDEN if is_secret(obj.event) else obj.context

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="HTML")
    def html_preview(self, obj):
        if is_secret(obj.event):
            return self.HIDDEN
        if not obj.html_body:
            return "-"
        # Sandboxed: the stored email HTML is shown without scripts or same-origin access.
        return format_html('<iframe sandbox srcdoc="{}" style="width:640px;height:480px;border:1px solid #ccc;">'
                           "</iframe>", obj.html_body)

    @admin.action(description="Resend the selected failed notifications")
    def resend_failed(self, request, queryset):
        resent = 0
        for log in queryset:
            try:
                notification_resend(log=log, actor=request.user.get_username())
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                resent += 1
        if resent:
            self.message_user(request, f"{resent} notification(s) queued to send again.", messages.SUCCESS)
