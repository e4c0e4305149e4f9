"""django-q2 entry points for usage: take primitive ids, call one service, safe to run twice."""

from __future__ import annotations

from datetime import date


def sync_usage(service_id: int | None = None, date_from: str | date | None = None, date_to: str | date | None = None,
               dry_run: bool = False, triggered_by: str = "schedule") -> int:
    """The hourly usage sync (:05 every hour, SAST): every active service with a subscriber id. Returns the JobRun id."""
    from usage.services import usage_sync_run

    return usage_sync_run(service_id=service_id, date_from=date_from, date_to=date_to, dry_run=dry_run,
                          triggered_by=triggered_by)
