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
    ScheduleSpec("platform_prune", "circletel.tasks.prune", "35 3 * * *",
                 "03:35 SAST: done follow-ups older than 14 days and recovery runs that found nothing"),
]
