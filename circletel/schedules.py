"""Schedules are declared in code, one `SCHEDULES` list per app (`<app>/schedules.py`).

Each entry: name, func (dotted path), cron (SAST, since TIME_ZONE is Africa/Johannesburg) and an
optional comment. `manage.py setup_schedules` creates or updates the django-q2 rows idempotently
and removes rows it used to own that are no longer declared.
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


def declared_schedules() -> list[ScheduleSpec]:
    specs: list[ScheduleSpec] = []
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        specs.extend(getattr(module, "SCHEDULES", []))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"schedule names declared twice: {sorted(duplicates)}")
    return specs
