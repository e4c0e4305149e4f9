"""django-q2 entry points of the platform: the recovery sweep and the follow-up runner."""

from __future__ import annotations

from circletel.jobs import RunAlreadyLive, job_run


def recover(triggered_by: str = "schedule") -> dict:
    """Every minute: finish what dead workers and lost tasks left (circletel/recovery.py). One at a time."""
    from circletel.recovery import recover_all

    try:
        with job_run("recover", triggered_by=triggered_by, run_key="recover") as run:
            results = recover_all(run=run)
            run.processed = sum(v for counts in results.values() for v in counts.values() if isinstance(v, int))
            run.details.update(results)
    except RunAlreadyLive:
        return {"skipped": "the previous sweep is still running"}
    return results


def run_follow_up(pk: int) -> str:
    """Run one follow-up row (queued on commit by `follow_up`, or rung again by the sweep)."""
    from circletel.follow_ups import follow_up_run

    row = follow_up_run(pk=int(pk))
    return "not claimed" if row is None else row.status


def prune(triggered_by: str = "schedule") -> dict:
    """Daily: done follow-ups past their retention, and recovery-sweep runs that found nothing."""
    from datetime import timedelta

    from django.utils import timezone

    from circletel.follow_ups import follow_ups_prune
    from circletel.models import JobRun

    with job_run("platform_prune", triggered_by=triggered_by) as run:
        follow_ups = follow_ups_prune()
        quiet_sweeps, _ = (JobRun.objects.filter(job_name="recover", processed_count=0, failed_count=0,
                                                 status=JobRun.Status.SUCCEEDED,
                                                 started_at__lt=timezone.now() - timedelta(days=2)).delete())
        run.processed = follow_ups + quiet_sweeps
        run.details.update({"follow_ups": follow_ups, "quiet_recovery_runs": quiet_sweeps})
    return run.details
