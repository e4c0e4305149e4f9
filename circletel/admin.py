from django.contrib import admin

from circletel.admin_tools import ReadOnlyAdmin
from circletel.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Read-only: the job-run log is written by the jobs themselves."""

    list_display = ("job_name", "status", "started_at", "duration_ms", "processed_count", "failed_count",
                    "skipped_count", "triggered_by")
    list_filter = ("status", "job_name", "started_at")
    search_fields = ("job_name", "error_message")
    date_hierarchy = "started_at"


admin.site.site_header = "CircleTel operations"
admin.site.site_title = "CircleTel operations"
admin.site.index_title = "Operations console"
