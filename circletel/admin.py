from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django_q.admin import ScheduleAdmin as QScheduleAdmin
from django_q.models import Schedule, Task

from circletel.admin_tools import ConsoleAdminMixin, ConsoleModelAdmin, ReadOnlyAdmin
from circletel.login_throttle import login_attempts_clear
from circletel.models import FollowUp, JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Read-only: the job-run log is written by the jobs themselves. A run whose worker died shows as
    `died` (its lease lapsed) with the run that resumed it; filter on "died" to see them."""

    list_display = ("job_name", "status", "started_at", "duration_ms", "processed_count", "failed_count",
                    "skipped_count", "triggered_by", "resume_link")
    list_filter = ("status", "job_name", "started_at")
    search_fields = ("job_name", "error_message", "run_key")
    date_hierarchy = "started_at"
    readonly_fields = ("resumed_from", "resumed_by_links")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resumed_from").prefetch_related("resumed_by")

    @admin.display(description="died / resumed")
    def resume_link(self, obj):
        if obj.resumed_from_id:
            url = reverse("admin:circletel_jobrun_change", args=[obj.resumed_from_id])
            return format_html('resumes <a href="{}">#{}</a>', url, obj.resumed_from_id)
        resumed = [r.pk for r in obj.resumed_by.all()]
        if resumed:
            url = reverse("admin:circletel_jobrun_change", args=[resumed[0]])
            return format_html('died; resumed as <a href="{}">#{}</a>', url, resumed[0])
        return "died; not resumed" if obj.status == JobRun.Status.DIED else ""

    @admin.display(description="resumed by")
    def resumed_by_links(self, obj):
        runs = list(obj.resumed_by.all())
        if not runs:
            return "-"
        return format_html_join(", ", '<a href="{}">#{} ({})</a>',
                                ((reverse("admin:circletel_jobrun_change", args=[r.pk]), r.pk, r.status) for r in runs))


@admin.register(FollowUp)
class FollowUpAdmin(ConsoleModelAdmin):
    """Work recorded after a commit (PDFs, notifications, receipts): pending until a worker runs it, done
    after. A failed row used every attempt; "Run again" queues it with fresh attempts."""

    list_display = ("id", "func", "short_args", "status", "attempts", "created_at", "done_at", "error_first_line")
    list_filter = ("status", "func", "created_at")
    search_fields = ("func", "error")
    date_hierarchy = "created_at"
    actions = ("run_again",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a row is work still to do (or its record): never deleted by hand

    def has_run_again_permission(self, request):
        return request.user.has_perm("circletel.change_followup")

    @admin.display(description="args")
    def short_args(self, obj):
        text = ", ".join(str(a) for a in obj.args)
        return text if len(text) < 80 else text[:77] + "..."

    @admin.display(description="error")
    def error_first_line(self, obj):
        return (obj.error or "").splitlines()[0][:120] if obj.error else ""

    @admin.action(description="Run the selected failed follow-ups again", permissions=["run_again"])
    def run_again(self, request, queryset):
        from circletel.follow_ups import follow_up_retry

        queued = sum(follow_up_retry(row=row) for row in queryset)
        skipped = queryset.count() - queued
        self.message_user(request, f"Queued {queued} follow-up(s) again" + (f"; {skipped} were not failed and were left alone." if skipped else "."))


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


def readable_time(value) -> str:
    """ "7 Dec 2026 02:00 (3 hours ago)" in the site's time zone; "-" for none."""
    if value is None:
        return "-"
    return f"{date_format(timezone.localtime(value), 'j M Y H:i')} ({naturaltime(value)})"


admin.site.unregister(Schedule)


@admin.register(Schedule)
class ScheduleAdmin(ConsoleAdminMixin, QScheduleAdmin):
    """django-q2's schedules with readable times: the last run reads "7 Dec 2026 02:00 (3 hours ago)"
    and links to that task's result (django-q2 shows only the task's generated name, "[fifteen-hotel-...]"),
    the next run likewise."""

    list_display = ("id", "name", "func", "schedule_type", "cron", "repeats", "cluster", "next_run_at",
                    "last_run_at", "get_success")

    def get_queryset(self, request):
        stopped = Task.objects.filter(id=OuterRef("task")).values("stopped")
        return super().get_queryset(request).annotate(task_stopped=Subquery(stopped[:1]))

    @admin.display(description="next run", ordering="next_run")
    def next_run_at(self, obj):
        return readable_time(obj.next_run)

    @admin.display(description="last run")
    def last_run_at(self, obj):
        if obj.task_name is None:
            return "never" if not obj.task else "-"
        url = reverse("admin:django_q_success_change" if obj.task_success else "admin:django_q_failure_change",
                      args=[obj.task_id])
        return format_html('<a href="{}" title="task {}">{}</a>', url, obj.task_name, readable_time(obj.task_stopped))


admin.site.site_header = "CircleTel operations"
admin.site.site_title = "CircleTel operations"
admin.site.index_title = "Operations console"
