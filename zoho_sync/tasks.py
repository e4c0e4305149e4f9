"""django-q2 entry points for the ZOHO sync. Each takes primitive ids and is safe to run twice.

All of them run on the ZOHO queue (`Q_ZOHO_QUEUE`, its own cluster), never beside webhook work:
- `sync_entity(entity_type, pk)`: queued on commit by `enqueue_sync`; claims the row with
  `select_for_update(skip_locked=True)` and syncs it (a no-op when not due / already synced /
  held by another worker: that is also the debounce).
- `sweep()`: every 5 minutes (the schedule runs `sweep_dispatch`, which only queues it on the ZOHO
  queue). Rows stuck in syncing past their lease go back; then every *due* row (pending, retrying at
  its backoff time, waiting rows at their check time, deferred rows after the breaker) in dependency
  order, bounded by SWEEP_MAX_ROWS and SWEEP_MAX_SECONDS (far under the 600 s task timeout), and
  stopped at once while a limit breaker is open (rows wait; they are not failed).
- `retry_due()`: the old 4-hourly name, kept as the same bounded sweep for schedules still on it.
- `monitor()`: hourly; metrics against the targets + ops alerts once per condition per day.
- `prune()`: daily; SyncLog rows older than ZOHO_SYNC_LOG_RETENTION_DAYS and the rate limiter's old
  counter windows (runs even with the sync off).
With `ENABLE_ZOHO_SYNC` off the sync tasks return at once and nothing calls ZOHO.
"""

from __future__ import annotations

import time

from django.conf import settings

from circletel.jobs import job_run
from circletel.queue import enqueue
from zoho_sync import breaker
from zoho_sync.services import monitoring
from zoho_sync.services.outbox import zoho_queue_options
from zoho_sync.services.sync import DEPENDENCY_ORDER, entity_sync

SWEEP_MAX_ROWS = 300
SWEEP_MAX_SECONDS = 240.0  # not money: well under the cluster's 600 s task timeout


def _conf(key, default):
    return getattr(settings, "ZOHO_SYNC", {}).get(key, default)


def sync_entity(entity_type: str, pk: int, force: bool = False) -> str:
    if not settings.ENABLE_ZOHO_SYNC:
        return "disabled"
    return entity_sync(entity_type=entity_type, pk=pk, force=force).status


def sweep_dispatch() -> None:
    """Scheduled on the main cluster's scheduler: hand the sweep to the ZOHO queue (one cheap enqueue)."""
    if settings.ENABLE_ZOHO_SYNC:
        enqueue("zoho_sync.tasks.sweep", group="zoho:sweep", **zoho_queue_options())


def sweep(*, triggered_by: str = "schedule", max_rows: int | None = None, max_seconds: float | None = None,
          client=None) -> int | None:
    """Sync due rows, bounded; returns the job-run id (None with the sync off)."""
    if not settings.ENABLE_ZOHO_SYNC:
        return None
    max_rows = max_rows if max_rows is not None else _conf("SWEEP_MAX_ROWS", SWEEP_MAX_ROWS)
    max_seconds = max_seconds if max_seconds is not None else _conf("SWEEP_MAX_SECONDS", SWEEP_MAX_SECONDS)
    t0 = time.monotonic()
    with job_run("zoho_sweep", triggered_by=triggered_by) as run:
        counts: dict[str, int] = {}
        done = 0
        for entity_type in DEPENDENCY_ORDER:
            run.details[f"unstuck_{entity_type}"] = monitoring.unstick(entity_type)
        for entity_type in DEPENDENCY_ORDER:
            for pk in monitoring.due_ids(entity_type, limit=max(max_rows - done, 0)):
                if done >= max_rows or time.monotonic() - t0 > max_seconds:
                    run.details["stopped"] = "bound reached"
                    break
                until = breaker.open_until()
                if until is not None:
                    run.details["stopped"] = f"breaker open until {until.isoformat()}"
                    break
                result = entity_sync(entity_type=entity_type, pk=pk, client=client)
                done += 1
                counts[result.status] = counts.get(result.status, 0) + 1
                if result.status == "synced":
                    run.processed += 1
                elif result.status in ("skipped", "waiting", "deferred"):
                    run.skipped += 1
                else:
                    run.fail_item(f"{entity_type}:{pk}", result.error)
            if "stopped" in run.details:
                break
        run.details["counts"] = counts
        run.details["seconds"] = round(time.monotonic() - t0, 1)  # not money
        return run.id


def retry_due(*, triggered_by: str = "schedule", batch: int | None = None) -> int | None:
    """The former 4-hourly sweep's entry point: now the same bounded sweep."""
    return sweep(triggered_by=triggered_by, max_rows=batch)


def monitor(*, triggered_by: str = "schedule") -> int:
    with job_run("zoho_monitor", triggered_by=triggered_by) as run:
        outcome = monitoring.monitor_run()
        stats = outcome["stats"]
        run.details.update({"crossed": outcome["crossed"], "alerted": outcome["alerted"], "failed": stats["failed"],
                            "success_rate_24h": stats["success_rate_24h"], "stale_pending": stats["stale_pending"],
                            "volume_24h": stats["volume_24h"], "calls_today": stats["calls_today"]})
        run.processed = 1
        return run.id


def prune(*, triggered_by: str = "schedule") -> int:
    """Daily: old SyncLog rows (the log is per attempt and grows with every sweep; entity rows keep
    their own status and last error) and the rate limiter's old counter windows."""
    from zoho_sync import ratelimit

    with job_run("zoho_prune", triggered_by=triggered_by) as run:
        logs = monitoring.log_prune(keep_days=settings.ZOHO_SYNC_LOG_RETENTION_DAYS)
        counters = ratelimit.prune()
        run.details.update({"sync_logs": logs, "rate_counters": counters})
        run.processed = logs + counters
    return run.processed


def prune_sync_logs(*, triggered_by: str = "schedule") -> int:
    """Kept for tasks already queued under the old name: the daily prune."""
    return prune(triggered_by=triggered_by)
