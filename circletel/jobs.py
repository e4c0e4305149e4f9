"""The job-run helper: wrap every scheduled job and batch command in `job_run(name)`.

    with job_run("generate_invoices", triggered_by="schedule", run_key="2026-12-07") as run:
        for item in batch:
            ...; run.processed += 1   # or run.failed += 1 / run.skipped += 1 / run.details[...] = ...

The JobRun row is written before the work and finished after it, on its own connection state
(never inside the job's transaction), with counts, duration and status: succeeded, partial (some
items failed), or failed (an exception escaped, or everything failed). The exception is re-raised.

While the block runs, this process's heartbeat (`circletel.leases`) keeps the row's lease ahead of
now, so a worker killed mid-run is found within the lease by the recovery sweep
(`jobs_recover_died`): the row becomes `died`, and a job registered with `register_resumable`
is started again with the died run's arguments; it continues from the database state its work
keeps (the invoice run's next billing dates), so nothing is billed twice and nothing is left.

`run_key` makes a run exclusive: a second live run of the same job and key is refused by a partial
unique constraint (`RunAlreadyLive`), so a resumed or re-fired run never overlaps a live one.
A run created ahead of its task (`job_run_queue`) is claimed by the task; a task whose row was
meanwhile given up (died and resumed) raises `RunSuperseded` and does nothing.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.leases import held, lease_until, owner_name
from circletel.logging import job_run_id_var
from circletel.models import JobRun

logger = logging.getLogger(__name__)


class RunAlreadyLive(Exception):
    """Another run of this job with the same key is queued or running."""

    def __init__(self, live: JobRun | None, job_name: str, run_key: str):
        self.live = live
        where = f" as job run #{live.pk} ({live.status})" if live else ""
        super().__init__(f"{job_name} for {run_key} is already running{where}")


class RunSuperseded(Exception):
    """The queued row this task was started for is no longer waiting for it (died and resumed, or done)."""


@dataclass
class RunTracker:
    record: JobRun
    processed: int = 0
    failed: int = 0
    skipped: int = 0
    details: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.record.pk

    def fail_item(self, ref, error: Exception | str) -> None:
        """Count one failed item and keep a short reason (the first 50 are kept)."""
        self.failed += 1
        if len(self.errors) < 50:
            self.errors.append({"item": str(ref), "error": str(error)[:500]})

    def checkpoint(self, **details) -> None:
        """Save progress so far on the row (counts and `details`, e.g. a cursor) while the run goes on:
        the admin shows it, and a run that dies keeps it as evidence of where it stopped."""
        self.details.update(details)
        JobRun.objects.filter(pk=self.record.pk, status=JobRun.Status.RUNNING).update(
            processed_count=self.processed, failed_count=self.failed, skipped_count=self.skipped,
            details={**self.details, **({"errors": self.errors} if self.errors else {})})


def _live_run(job_name: str, run_key: str) -> JobRun | None:
    return JobRun.objects.filter(job_name=job_name, run_key=run_key, status__in=JobRun.LIVE).first()


def job_run_queue(job_name: str, *, triggered_by: str, run_key: str = "", args: dict | None = None,
                  resumed_from: JobRun | None = None) -> JobRun:
    """Write a `queued` row for a run whose task is about to be queued (the caller queues it on commit).

    Its lease is the time the task has to start before the sweep gives it up and queues another."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return JobRun.objects.create(job_name=job_name, status=JobRun.Status.QUEUED, started_at=now,
                                         triggered_by=triggered_by[:100], run_key=run_key, args=args or {},
                                         lease_until=now + queued_grace(), resumed_from=resumed_from)
    except IntegrityError:
        raise RunAlreadyLive(_live_run(job_name, run_key), job_name, run_key) from None


def queued_grace():
    """How long a queued run may wait for a worker before the sweep queues it again (2 x the lease)."""
    from circletel.leases import lease_seconds

    return timedelta(seconds=2 * lease_seconds())


def _start(job_name: str, *, triggered_by: str, record: JobRun | None, run_key: str, args: dict | None) -> JobRun:
    now = timezone.now()
    if record is None:
        # A run the recovery sweep queued for this job (and key) is taken over by whichever worker starts one.
        record = JobRun.objects.filter(job_name=job_name, run_key=run_key, status=JobRun.Status.QUEUED).order_by("pk").first()
        if record is not None:
            try:
                return _claim(record, now)
            except RunSuperseded:
                record = None  # taken by another worker a moment ago: start our own (the key decides)
    if record is None:
        for _ in range(2):
            try:
                with transaction.atomic():
                    return JobRun.objects.create(job_name=job_name, started_at=now, triggered_by=triggered_by[:100],
                                                 run_key=run_key, args=args or {}, lease_until=lease_until(now),
                                                 owner=owner_name())
            except IntegrityError:
                live = _live_run(job_name, run_key)
                # A "live" run whose lease lapsed is a dead worker's (the sweep may not have run: the cluster
                # is down): this run takes its place, and records it as died, as the sweep would.
                if live is None or live.lease_until is None or live.lease_until >= now or not _mark_died(live, now):
                    raise RunAlreadyLive(live, job_name, run_key) from None
        raise RunAlreadyLive(_live_run(job_name, run_key), job_name, run_key)
    return _claim(record, now)


def _died_because(record: JobRun) -> str:
    return ("the task never started (lost by the queue)" if record.status == JobRun.Status.QUEUED
            else f"the worker ({record.owner or 'unknown'}) stopped renewing its lease")


def _mark_died(record: JobRun, now) -> bool:
    """Record a run whose lease lapsed as died (one conditional UPDATE: true for the one caller that did it)."""
    return bool(JobRun.objects.filter(pk=record.pk, status=record.status, lease_until__lt=now).update(
        status=JobRun.Status.DIED, finished_at=now, error_message=_died_because(record)))


def _claim(record: JobRun, now) -> JobRun:
    claimed = JobRun.objects.filter(pk=record.pk, status=JobRun.Status.QUEUED).update(
        status=JobRun.Status.RUNNING, started_at=now, lease_until=lease_until(now), owner=owner_name())
    if not claimed:
        raise RunSuperseded(f"job run #{record.pk} is no longer queued; another run took its place")
    record.refresh_from_db()
    return record


@contextmanager
def job_run(job_name: str, *, triggered_by: str = "", record: JobRun | None = None, run_key: str = "",
            args: dict | None = None):
    record = _start(job_name, triggered_by=triggered_by, record=record, run_key=run_key, args=args)
    tracker = RunTracker(record=record)
    token = job_run_id_var.set(str(record.pk))
    t0 = time.monotonic()
    error = None
    try:
        with held(JobRun, record.pk, status=JobRun.Status.RUNNING):
            yield tracker
    except BaseException as exc:
        error = exc
        raise
    finally:
        job_run_id_var.reset(token)
        _finish(record, tracker, error, int((time.monotonic() - t0) * 1000))


def _finish(record: JobRun, tracker: RunTracker, error: BaseException | None, duration_ms: int) -> None:
    record.finished_at = timezone.now()
    record.duration_ms = duration_ms
    record.processed_count, record.failed_count, record.skipped_count = tracker.processed, tracker.failed, tracker.skipped
    details = dict(tracker.details)
    if tracker.errors:
        details["errors"] = tracker.errors
    if error is not None:
        record.status = JobRun.Status.FAILED
        record.error_message = f"{type(error).__name__}: {error}"[:2000]
        details["traceback"] = traceback.format_exception(error)[-5:]
    elif tracker.failed and (tracker.processed or tracker.skipped):
        record.status = JobRun.Status.PARTIAL
    elif tracker.failed:
        record.status = JobRun.Status.FAILED
    else:
        record.status = JobRun.Status.SUCCEEDED
    record.details = details
    record.lease_until = None
    # Only a run still ours: one the sweep gave up for dead (a worker stalled past its lease) keeps
    # `died` and its resume; the work it did stands (every job is safe to run twice), and is noted.
    updated = JobRun.objects.filter(pk=record.pk, status=JobRun.Status.RUNNING).update(
        status=record.status, finished_at=record.finished_at, duration_ms=duration_ms,
        processed_count=record.processed_count, failed_count=record.failed_count,
        skipped_count=record.skipped_count, error_message=record.error_message, details=details, lease_until=None)
    if not updated:
        details["finished_after_given_up"] = record.status
        JobRun.objects.filter(pk=record.pk).update(finished_at=record.finished_at, duration_ms=duration_ms,
                                                   processed_count=record.processed_count, details=details)
        record.refresh_from_db()


def tracked_job(job_name: str):
    """Decorator form for tasks: the wrapped function receives `run` as a keyword argument."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, triggered_by: str = "schedule", **kwargs):
            with job_run(job_name, triggered_by=triggered_by) as run:
                func(*args, run=run, **kwargs)
            return run.id

        return wrapper

    return decorate


# --- Resumable jobs and the recovery of runs whose worker died --------------------------------------

@dataclass(frozen=True)
class Resumable:
    job_name: str
    task: str  # dotted path; called as task(**run.args, triggered_by=...): its job_run claims the queued row
    schedule: str = ""  # the ScheduleSpec name that fires it (a fired run that never started is started)
    date_arg: str = ""  # the task's date argument; when set, runs are keyed by it (one live run per date)


_RESUMABLE: dict[str, Resumable] = {}
RESUME_WITHIN = timedelta(days=1)  # a run that started longer ago than this is recorded as died, not resumed
MAX_DEATHS_IN_A_ROW = 3  # a run whose resumes keep dying (a crash loop) is left to a person


def register_resumable(job_name: str, *, task: str, schedule: str = "", date_arg: str = "") -> None:
    """Declare that a run of `job_name` that died (or was fired and never started) is started again
    (call it from the owning app's AppConfig.ready()).

    The task must accept `triggered_by` and the keys of the run's `args`, open its `job_run` with
    `args` (and, with `date_arg`, `run_key` = that date), and be safe to run after a partial run:
    it continues from database state."""
    _RESUMABLE[job_name] = Resumable(job_name=job_name, task=task, schedule=schedule, date_arg=date_arg)


def resumable_jobs() -> dict[str, Resumable]:
    return dict(_RESUMABLE)


def _enqueue_kwargs(task: str, kwargs: dict) -> None:
    from circletel.queue import enqueue

    try:
        enqueue(task, group="recovery", **kwargs)
    except Exception:  # the queued row stays; the next sweep queues it again when its grace lapses
        logger.exception("could not queue %s; the recovery sweep will try again", task)


def jobs_recover_died(*, now=None) -> dict:
    """Mark runs whose lease lapsed as `died`; start a resumable job's run again (once per died run).

    A queued run whose task never started (lost by the broker) is given up the same way. Each died row
    is taken with a conditional UPDATE, so two sweeps never resume the same run twice."""
    now = now or timezone.now()
    counts = {"died": 0, "resumed": 0}
    lapsed = list(JobRun.objects.filter(status__in=JobRun.LIVE, lease_until__lt=now).order_by("pk")[:100])
    for record in lapsed:
        with transaction.atomic():
            if not _mark_died(record, now):
                continue
            counts["died"] += 1
            logger.warning("job run #%s (%s) died: lease lapsed at %s", record.pk, record.job_name, record.lease_until)
            why_not = _why_not_resumed(record, now)
            if why_not:
                if record.job_name in _RESUMABLE:
                    logger.error("job run #%s (%s) died and is not resumed: %s", record.pk, record.job_name, why_not)
                    JobRun.objects.filter(pk=record.pk).update(
                        error_message=f"{_died_because(record)}; not resumed: {why_not}"[:2000])
                continue
            if job_queue_resumable(record.job_name, triggered_by=f"recovery of #{record.pk}", args=record.args,
                                   resumed_from=record):
                counts["resumed"] += 1
    return counts


def _why_not_resumed(record: JobRun, now) -> str:
    """Why a died run is not started again ('' when it is): not a resumable job, too old, without the
    arguments its job is keyed by (it could only become a run for another date), or a crash loop."""
    spec = _RESUMABLE.get(record.job_name)
    if spec is None:
        return "not a resumable job (its next scheduled run does its work)"
    if spec.date_arg and not (record.args or {}).get(spec.date_arg):
        return f"it has no {spec.date_arg} to resume with"
    deaths, run = 1, record
    while run.resumed_from_id and deaths < MAX_DEATHS_IN_A_ROW:
        run = JobRun.objects.only("pk", "status", "started_at", "resumed_from").get(pk=run.resumed_from_id)
        if run.status != JobRun.Status.DIED:
            break
        deaths += 1
    if deaths >= MAX_DEATHS_IN_A_ROW:
        return f"it died {deaths} times in a row; a person must look (see the job runs that died)"
    if run.started_at < now - RESUME_WITHIN:
        return f"the run began more than {RESUME_WITHIN.days} day(s) ago"
    return ""


def _enqueue_on_commit(task: str, record: JobRun) -> None:
    kwargs = {**(record.args or {}), "triggered_by": record.triggered_by}
    transaction.on_commit(lambda: _enqueue_kwargs(task, kwargs))


def job_queue_resumable(job_name: str, *, triggered_by: str, args: dict | None = None,
                        resumed_from: JobRun | None = None) -> JobRun | None:
    """Queue a run of a registered job (a queued row now, its task on commit). None when one is live already."""
    spec = _RESUMABLE[job_name]
    args = dict(args or {})
    run_key = str(args.get(spec.date_arg, "")) if spec.date_arg else ""
    if JobRun.objects.filter(job_name=job_name, run_key=run_key, status__in=JobRun.LIVE).exists():
        return None
    try:
        record = job_run_queue(job_name, triggered_by=triggered_by, run_key=run_key, args=args, resumed_from=resumed_from)
    except RunAlreadyLive:
        return None
    _enqueue_on_commit(spec.task, record)
    return record
