from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("zoho_retry_due", "zoho_sync.tasks.retry_due", "0 */4 * * *",
                 "Sync every due ZOHO row, incl. stuck syncing/pending ones (SAST 00,04,08...)"),
    ScheduleSpec("zoho_monitor", "zoho_sync.tasks.monitor", "30 2-23/4 * * *",
                 "ZOHO sync health: failed, success rate, stale, volume; alerts ops once per condition per day"),
    ScheduleSpec("zoho_prune_sync_logs", "zoho_sync.tasks.prune_sync_logs", "45 3 * * *",
                 "03:45 SAST: delete ZOHO sync log rows older than ZOHO_SYNC_LOG_RETENTION_DAYS"),
]
