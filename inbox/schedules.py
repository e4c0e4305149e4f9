from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("reprocess_webhook_events", "inbox.tasks.reprocess_webhook_events", "*/5 * * * *",
                 "every 5 minutes: retry failed webhook events after their backoff, pick up stuck ones"),
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
