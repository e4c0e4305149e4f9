from circletel.schedules import ScheduleSpec

# Failed events after their backoff, pending events whose task was lost and events whose worker died are
# applied by the platform's recovery sweep every minute (`inbox.services.webhook_events_recover`,
# registered in inbox/apps.py); `manage.py reprocess_webhook_events` does the same by hand.
SCHEDULES = [
    ScheduleSpec("prune_webhook_events", "inbox.tasks.prune_webhook_events", "15 3 * * *",
                 "03:15 SAST: delete processed webhook events older than WEBHOOK_RETENTION_DAYS"),
    ScheduleSpec("webhook_health_alert", "inbox.tasks.webhook_health_alert", "*/5 * * * *",
                 "every 5 minutes: alert ops (once an hour per provider) when webhook failures or backlog cross thresholds"),
]

# Task paths from before the inbox (payments.tasks keeps shims for one release): setup_schedules
# rewrites any schedule row still pointing at them.
MOVED_TASKS = {
    "payments.tasks.process_webhook_event": "inbox.tasks.process_webhook_event",
    "payments.tasks.reprocess_webhook_events": "inbox.tasks.reprocess_webhook_events",
    "payments.tasks.prune_webhook_events": "inbox.tasks.prune_webhook_events",
}
