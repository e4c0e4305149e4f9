from django.contrib import admin

from circletel.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Read-only: the job-run log is written by the jobs themselves."""

    list_display = ("job_name", "status", "started_at", "duration_ms", "processed_count", "failed_count",
                    "skipped_count", "triggered_by")
    list_filter = ("status", "job_name", "started_at")
    search_fields = ("job_name", "error_message")
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.site_header = "CircleTel operations"
admin.site.site_title = "CircleTel operations"
admin.site.index_title = "Operations console"
