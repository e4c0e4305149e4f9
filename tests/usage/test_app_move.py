"""Usage moved out of billing: the old task path still runs, schedules follow, billing does not import usage."""

import ast
import importlib
import pathlib
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django_q.models import Schedule

from billing.management.commands.seed_demo import app_demo_modules
from billing.schedules import SCHEDULES as BILLING_SCHEDULES
from usage.models import UsageRecord, UsageThresholdAlert
from usage.schedules import MOVED_TASKS


def test_old_task_path_is_a_shim_for_the_new_one(monkeypatch):
    calls = []
    monkeypatch.setattr("usage.tasks.sync_usage", lambda *args, **kwargs: calls.append((args, kwargs)) or 42)
    from billing.tasks import sync_usage  # the dotted path queued tasks and old schedules still carry

    assert sync_usage(7, "2026-11-01", date_to="2026-11-02", dry_run=True, triggered_by="schedule") == 42
    assert calls == [((7, "2026-11-01"), {"date_to": "2026-11-02", "dry_run": True, "triggered_by": "schedule"})]


def test_models_keep_their_tables_and_the_schedule_moved():
    assert (UsageRecord._meta.app_label, UsageRecord._meta.db_table) == ("usage", "billing_usagerecord")
    assert (UsageThresholdAlert._meta.app_label, UsageThresholdAlert._meta.db_table) == (
        "usage", "billing_usagethresholdalert")
    assert "sync_usage" not in {s.name for s in BILLING_SCHEDULES}
    assert MOVED_TASKS == {"billing.tasks.sync_usage": "usage.tasks.sync_usage"}


@pytest.mark.django_db
def test_setup_schedules_moves_saved_schedules_off_the_old_path():
    ours = Schedule.objects.create(name="circletel:sync_usage", func="billing.tasks.sync_usage",
                                   schedule_type=Schedule.CRON, cron="5 * * * *", repeats=-1)
    by_hand = Schedule.objects.create(name="ops-resync-usage", func="billing.tasks.sync_usage",
                                      schedule_type=Schedule.HOURLY)
    other = Schedule.objects.create(name="someone-elses", func="thirdparty.tasks.run", schedule_type=Schedule.HOURLY)
    out = StringIO()

    call_command("setup_schedules", stdout=out)

    ours.refresh_from_db()
    by_hand.refresh_from_db()
    other.refresh_from_db()
    assert (ours.func, ours.cron, ours.schedule_type) == ("usage.tasks.sync_usage", "5 * * * *", Schedule.CRON)
    assert Schedule.objects.filter(name="circletel:sync_usage").count() == 1
    assert (by_hand.func, by_hand.schedule_type) == ("usage.tasks.sync_usage", Schedule.HOURLY)
    assert other.func == "thirdparty.tasks.run"
    assert not Schedule.objects.filter(func="billing.tasks.sync_usage").exists()
    assert "moved ops-resync-usage: billing.tasks.sync_usage -> usage.tasks.sync_usage" in out.getvalue()
    assert "updated sync_usage: 5 * * * * -> usage.tasks.sync_usage" in out.getvalue()


def test_seed_demo_runs_usage_after_billing_and_payments():
    modules = app_demo_modules()
    assert modules.index("billing.demo") < modules.index("payments.demo") < modules.index("usage.demo")


@pytest.mark.django_db
def test_content_types_of_a_database_migrated_in_billing_are_relabelled():
    """usage 0002 relabels (billing, usagerecord) to usage, so permissions and admin log entries follow."""
    migration = importlib.import_module("usage.migrations.0002_content_types_from_billing")
    ContentType.objects.filter(app_label="usage").delete()
    old = ContentType.objects.create(app_label="billing", model="usagerecord")
    perm = Permission.objects.create(content_type=old, codename="change_usagerecord", name="Can change usage record")
    ContentType.objects.clear_cache()

    migration.forwards(apps, SimpleNamespace(connection=connection))  # it only reads the connection alias

    old.refresh_from_db()
    perm.refresh_from_db()
    assert (old.app_label, old.model) == ("usage", "usagerecord")
    assert perm.content_type_id == old.pk
    assert not ContentType.objects.filter(app_label="billing", model__startswith="usage").exists()
    ContentType.objects.clear_cache()


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_billing_does_not_import_usage():
    """usage sits above billing (the customer dashboard that read it is portal/ now)."""
    billing = pathlib.Path(settings.BASE_DIR) / "billing"
    offenders = sorted(
        str(path.relative_to(billing.parent))
        for path in billing.rglob("*.py")
        if any(name == "usage" or name.startswith("usage.") for name in _imports(path))
    )
    assert offenders == []
