"""The recovery sweep: every minute, finish what a dead worker or a lost task left, from database state.

Each app registers the sweeps for the work it owns (from its AppConfig.ready(); the platform's come
first): a sweep is a function `(now=None) -> dict of counts`, bounded in rows and time, on indexed
queries, and safe next to the normal workers (everything it touches is claimed by conditional
UPDATE with a lease). The platform's own:

- `jobs`: runs whose lease lapsed become `died`; a resumable job's run is started again;
- `schedules`: a resumable job whose schedule fired but whose run never started (the task was lost
  by the broker: django-q2's Redis broker forgets a task once a worker has popped it) is started;
- `follow_ups`: follow-up rows nobody took are rung again, rows of dead workers freed.

`circletel.tasks.recover` runs them all once a minute (schedule `recover`), one run at a time.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_SWEEPS: dict[str, str] = {
    "jobs": "circletel.jobs.jobs_recover_died",
    "schedules": "circletel.recovery.schedules_recover_lost",
    "follow_ups": "circletel.follow_ups.follow_ups_recover",
}
LOST_AFTER = timedelta(seconds=60)  # a fired schedule's run normally starts within seconds
LOOK_BACK = timedelta(hours=6)  # older misses are for a person (the admin shows the schedule's last run)


def register_sweep(name: str, func: str) -> None:
    """Add a recovery sweep (dotted path of `func(now=None) -> dict`) under `name`."""
    _SWEEPS[name] = func


def sweeps() -> dict[str, str]:
    return dict(_SWEEPS)


def recover_all(*, now=None, run=None, budget_seconds: float = 45.0) -> dict:  # not money
    """Run every registered sweep once (in registration order) within about `budget_seconds`."""
    results: dict[str, dict] = {}
    started = time.monotonic()
    for name, path in _SWEEPS.items():
        if time.monotonic() - started > budget_seconds:
            results[name] = {"skipped": "time budget used; next minute"}
            continue
        try:
            results[name] = import_string(path)(now=now) or {}
        except Exception as exc:  # one broken sweep must not stop the others
            logger.exception("recovery sweep %s failed", name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            if run is not None:
                run.fail_item(name, exc)
    return results


def _fired_before(cron: str, now):
    from croniter import croniter

    return croniter(cron, timezone.localtime(now)).get_prev(type(timezone.localtime(now)))


def schedules_recover_lost(*, now=None) -> dict:
    """Start the run of a resumable job whose schedule fired (LOST_AFTER to LOOK_BACK ago) but which never started."""
    from django_q.models import Schedule

    from circletel.jobs import job_queue_resumable, resumable_jobs
    from circletel.models import JobRun
    from circletel.schedules import declared_schedules

    now = now or timezone.now()
    specs = {s.name: s for s in declared_schedules()}
    started = 0
    for job in resumable_jobs().values():
        spec = specs.get(job.schedule)
        if spec is None:
            continue
        row = Schedule.objects.filter(name=spec.row_name).only("next_run").first()
        if row is None:
            continue  # not installed (setup_schedules not run): nothing fired
        fired = _fired_before(spec.cron, now)
        if not (LOST_AFTER <= now - fired <= LOOK_BACK):
            continue
        if row.next_run is None or row.next_run <= fired:
            continue  # django-q2 has not fired it yet (its scheduler is down or late): not lost
        args = {job.date_arg: timezone.localtime(fired).date().isoformat()} if job.date_arg else {}
        runs = JobRun.objects.filter(job_name=job.job_name, started_at__gte=fired - timedelta(seconds=5))
        if job.date_arg:  # the fired run is the run for that date (a run by hand for another date is not it)
            runs = runs.filter(run_key=args[job.date_arg])
        if runs.exists():
            continue
        record = job_queue_resumable(job.job_name, args=args,
                                     triggered_by=f"recovery: {spec.name} fired at {timezone.localtime(fired):%H:%M} never started")
        if record is not None:
            logger.warning("schedule %s fired at %s but its run never started; started job run #%s",
                           spec.name, fired, record.pk)
            started += 1
    return {"started": started}
