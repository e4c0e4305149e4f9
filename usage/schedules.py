"""Usage schedules (cron in SAST). Installed by `manage.py setup_schedules`."""

from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("sync_usage", "usage.tasks.sync_usage", "5 * * * *",
                 "Hourly at :05 SAST: daily usage from Interstellio for active services; data-cap warnings."),
]

# Task paths that moved here: `setup_schedules` rewrites any saved schedule still pointing at the old path.
# The old path keeps a shim (billing.tasks.sync_usage) for one release, for tasks already queued.
MOVED_TASKS = {
    "billing.tasks.sync_usage": "usage.tasks.sync_usage",
}
