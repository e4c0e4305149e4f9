"""Schedules are declared in code, one `SCHEDULES` list per app (`<app>/schedules.py`).

Each entry: name, func (dotted path), cron (SAST, since TIME_ZONE is Africa/Johannesburg) and an
optional comment. `manage.py setup_schedules` creates or updates the django-q2 rows idempotently
and removes rows it used to own that are no longer declared.

A task that moved to another module is declared under its new path, and the app that now owns it
lists `MOVED_TASKS = {"old.dotted.path": "new.dotted.path"}` in its `schedules.py`: `setup_schedules`
rewrites every saved schedule (ours or hand-made) still pointing at the old path. The old path keeps
a thin shim for one release for tasks already queued.
"""

from dataclasses import dataclass
from importlib import import_module

from django.apps import apps

OWNED_PREFIX = "circletel:"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    cron: str
    comment: str = ""
    # Only with cron "* * * * *": fire every minute this many seconds after the minute (a django-q2
    # MINUTES schedule whose next_run keeps that phase), e.g. a second sweep half a minute after the first.
    offset_seconds: int = 0

    @property
    def row_name(self) -> str:
        return f"{OWNED_PREFIX}{self.name}"


def _schedule_modules():
    for config in apps.get_app_configs():
        try:
            yield import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise


def declared_schedules() -> list[ScheduleSpec]:
    specs: list[ScheduleSpec] = []
    for module in _schedule_modules():
        specs.extend(getattr(module, "SCHEDULES", []))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"schedule names declared twice: {sorted(duplicates)}")
    return specs


def moved_tasks() -> dict[str, str]:
    """Old dotted task path -> new one, from every app's `MOVED_TASKS`."""
    moved: dict[str, str] = {}
    for module in _schedule_modules():
        moved.update(getattr(module, "MOVED_TASKS", {}))
    return moved


SCHEDULES = [
    ScheduleSpec("recover", "circletel.tasks.recover", "* * * * *",
                 "Every minute: runs whose worker died (resumed), fired schedules that never started, "
                 "follow-ups, webhook events, notifications and receipts a dead worker or lost task left"),
    # The same sweep half a minute later: a lapsed lease waits at most ~30 s (plus django-q2's 30 s
    # scheduler check) for a sweep, not a minute; the sweep is single-flight (run_key).
    ScheduleSpec("recover_half", "circletel.tasks.recover", "* * * * *",
                 "Every minute at :30: the recovery sweep again (recovery within ~1 minute of a lapsed lease)",
                 offset_seconds=30),
    ScheduleSpec("platform_prune", "circletel.tasks.prune", "35 3 * * *",
                 "03:35 SAST: done follow-ups older than 14 days and recovery runs that found nothing"),
]
