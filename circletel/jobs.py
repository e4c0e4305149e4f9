"""The job-run helper: wrap every scheduled job and batch command in `job_run(name)`.

    with job_run("generate_invoices", triggered_by="schedule") as run:
        for item in batch:
            ...; run.processed += 1   # or run.failed += 1 / run.skipped += 1 / run.details[...] = ...

The JobRun row is written before the work and finished after it, on its own connection state
(never inside the job's transaction), with counts, duration and status: succeeded, partial (some
items failed), or failed (an exception escaped, or everything failed). The exception is re-raised.
"""

import functools
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.utils import timezone

from circletel.logging import job_run_id_var
from circletel.models import JobRun


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


@contextmanager
def job_run(job_name: str, *, triggered_by: str = "", record: JobRun | None = None):
    record = record or JobRun.objects.create(job_name=job_name, started_at=timezone.now(), triggered_by=triggered_by)
    tracker = RunTracker(record=record)
    token = job_run_id_var.set(str(record.pk))
    t0 = time.monotonic()
    error = None
    try:
        yield tracker
    except BaseException as exc:
        error = exc
        raise
    finally:
        job_run_id_var.reset(token)
        record.finished_at = timezone.now()
        record.duration_ms = int((time.monotonic() - t0) * 1000)
        record.processed_count, record.failed_count, record.skipped_count = (
            tracker.processed,
            tracker.failed,
            tracker.skipped,
        )
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
        record.save()


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
