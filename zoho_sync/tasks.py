"""django-q2 entry points for the ZOHO sync. Each takes primitive ids and is safe to run twice.

- `sync_entity(entity_type, pk)`: queued on commit by `enqueue_sync`; claims the row with
  `select_for_update(skip_locked=True)` and syncs it (a no-op when not due / already synced /
  held by another worker: that is also the debounce).
- `retry_due()`: every 4 hours; everything due, rows stuck in syncing past their lease and pending
  rows whose task was lost, in dependency order, in bounded batches.
- `monitor()`: every 4 hours (offset by 2 h); metrics + ops alerts once per condition per day.
- `prune_sync_logs()`: daily; deletes SyncLog rows older than ZOHO_SYNC_LOG_RETENTION_DAYS (runs even
  with the sync off: old logs are pruned either way).
With `ENABLE_ZOHO_SYNC` off every task returns at once and nothing calls ZOHO.
"""

from __future__ import annotations

from django.conf import settings

from circletel.jobs import job_run
from zoho_sync.services import monitoring
from zoho_sync.services.sync import DEPENDENCY_ORDER, entity_sync

SWEEP_BATCH = 500


def sync_entity(entity_type: str, pk: int, force: bool = False) -> str:
    if not settings.ENABLE_ZOHO_SYNC:
        return "disabled"
    return entity_sync(entity_type=entity_type, pk=pk, force=force).status


def retry_due(*, triggered_by: str = "schedule", batch: int = SWEEP_BATCH) -> int | None:
    if not settings.ENABLE_ZOHO_SYNC:
        return None
    with job_run("zoho_retry_due", triggered_by=triggered_by) as run:
        for entity_type in DEPENDENCY_ORDER:
            run.details[f"unstuck_{entity_type}"] = monitoring.unstick(entity_type)
            for pk in monitoring.due_ids(entity_type, limit=batch):
                result = entity_sync(entity_type=entity_type, pk=pk)
                if result.status == "synced":
                    run.processed += 1
                elif result.status == "skipped":
                    run.skipped += 1
                else:
                    run.fail_item(f"{entity_type}:{pk}", result.error)
        return run.id


def monitor(*, triggered_by: str = "schedule") -> int:
    with job_run("zoho_monitor", triggered_by=triggered_by) as run:
        outcome = monitoring.monitor_run()
        stats = outcome["stats"]
        run.details.update({"crossed": outcome["crossed"], "alerted": outcome["alerted"], "failed": stats["failed"],
                            "success_rate_24h": stats["success_rate_24h"], "stale_pending": stats["stale_pending"],
                            "volume_24h": stats["volume_24h"], "calls_today": stats["calls_today"]})
        run.processed = 1
        return run.id


def prune_sync_logs(*, triggered_by: str = "schedule") -> int:
    """Daily: delete ZOHO sync log rows older than the retention (the log is per attempt and grows
    with every sweep; the entity rows keep their own status and last error)."""
    with job_run("zoho_prune_sync_logs", triggered_by=triggered_by) as run:
        run.processed = monitoring.log_prune(keep_days=settings.ZOHO_SYNC_LOG_RETENTION_DAYS)
    return run.processed
