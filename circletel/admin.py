from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib import admin
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from circletel.admin_tools import ConsoleModelAdmin, ReadOnlyAdmin
from circletel.login_throttle import login_attempts_clear
from circletel.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Read-only: the job-run log is written by the jobs themselves."""

    list_display = ("job_name", "status", "started_at", "duration_ms", "processed_count", "failed_count",
                    "skipped_count", "triggered_by")
    list_filter = ("status", "job_name", "started_at")
    search_fields = ("job_name", "error_message")
    date_hierarchy = "started_at"


def _recent_failures_by(field: str):
    """Failures inside the cool-off window sharing this row's `field` (its account or its address)."""
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - get_cool_off())
    totals = (recent.filter(**{field: OuterRef(field)}).order_by().values(field)
              .annotate(total=Sum("failures_since_start")).values("total"))
    return Coalesce(Subquery(totals[:1]), 0)


@admin.register(AccessAttempt)
class LoginAttemptAdmin(ConsoleModelAdmin):
    """Failed sign-ins (django-axes), one row per account, address and browser. An account is locked
    at LOGIN_FAILURE_LIMIT failures from any address, an address at LOGIN_ADDRESS_FAILURE_LIMIT for any
    accounts, both for the cool-off after the latest failure. Unlock with the actions (or delete rows)."""

    list_display = ("attempt_time", "username", "ip_address", "failures_since_start", "account_failures",
                    "address_failures", "locked")
    search_fields = ("username", "ip_address")
    list_filter = ("attempt_time",)
    ordering = ("-attempt_time",)
    fields = ("username", "ip_address", "user_agent", "path_info", "failures_since_start", "attempt_time",
              "http_accept", "get_data", "post_data")
    actions = ("unlock_accounts", "unlock_addresses")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            recent_account_failures=_recent_failures_by("username"),
            recent_address_failures=_recent_failures_by("ip_address"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by axes only; staff view, unlock or delete

    @admin.display(description="account failures (cool-off window)", ordering="recent_account_failures")
    def account_failures(self, obj):
        return f"{obj.recent_account_failures} of {settings.AXES_FAILURE_LIMIT}"

    @admin.display(description="address failures (cool-off window)", ordering="recent_address_failures")
    def address_failures(self, obj):
        return f"{obj.recent_address_failures} of {settings.LOGIN_ADDRESS_FAILURE_LIMIT}"

    @admin.display(description="locked")
    def locked(self, obj):
        parts = [name for name, failures, limit in (
            ("account", obj.recent_account_failures, settings.AXES_FAILURE_LIMIT),
            ("address", obj.recent_address_failures, settings.LOGIN_ADDRESS_FAILURE_LIMIT),
        ) if failures >= limit]
        return " and ".join(parts) or "no"

    @admin.action(description="Unlock the selected accounts (clear their failures from every address)",
                  permissions=["delete"])
    def unlock_accounts(self, request, queryset):
        usernames = sorted({u for u in queryset.values_list("username", flat=True) if u})
        cleared = login_attempts_clear(usernames=usernames)
        self.message_user(request, f"Unlocked {', '.join(usernames) or 'no account'} ({cleared} attempt rows cleared).")

    @admin.action(description="Unlock the selected addresses (clear their failures for every account)",
                  permissions=["delete"])
    def unlock_addresses(self, request, queryset):
        addresses = sorted({a for a in queryset.values_list("ip_address", flat=True) if a})
        cleared = login_attempts_clear(addresses=addresses)
        self.message_user(request, f"Unlocked {', '.join(addresses) or 'no address'} ({cleared} attempt rows cleared).")


@admin.register(AccessLog)
class LoginLogAdmin(ReadOnlyAdmin):
    """Successful sign-ins and their sign-outs (django-axes); read-only."""

    list_display = ("attempt_time", "logout_time", "username", "ip_address", "user_agent", "path_info")
    search_fields = ("username", "ip_address")
    list_filter = ("attempt_time",)
    ordering = ("-attempt_time",)


admin.site.site_header = "CircleTel operations"
admin.site.site_title = "CircleTel operations"
admin.site.index_title = "Operations console"
