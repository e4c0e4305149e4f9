from circletel.schedules import ScheduleSpec

# The main cluster's scheduler only queues the sweep onto the ZOHO queue (sweep_dispatch); the
# ZOHO cluster does the work. Crons are SAST.
SCHEDULES = [
    ScheduleSpec("zoho_retry_due", "zoho_sync.tasks.sweep_dispatch", "*/5 * * * *",
                 "Every 5 min: sync due ZOHO rows (backoff honoured, waiting rows at their check time), bounded"),
    ScheduleSpec("zoho_monitor", "zoho_sync.tasks.monitor", "15 * * * *",
                 "Hourly: ZOHO sync against its targets (success > 99%, < 5 failures, latency < 5 s, receipts "
                 "> 98%, retrying backlog, breaker); alerts ops once per condition per day"),
    ScheduleSpec("zoho_prune_sync_logs", "zoho_sync.tasks.prune", "45 3 * * *",
                 "03:45 SAST: delete ZOHO sync logs older than ZOHO_SYNC_LOG_RETENTION_DAYS and old rate-limit counters"),
]
