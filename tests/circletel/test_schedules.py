"""setup_schedules: declared schedules in, stale owned rows out, everyone else's rows untouched."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from circletel.management.commands import setup_schedules as command_module
from circletel.schedules import ScheduleSpec

SPECS = [
    ScheduleSpec("generate_invoices", "billing.tasks.generate_invoices", "0 2 * * *", "02:00 SAST"),
    ScheduleSpec("sync_usage", "billing.tasks.sync_usage", "15 * * * *", "hourly"),
]


def rows():
    return sorted(Schedule.objects.values_list("name", "func", "schedule_type", "cron", "repeats"))


@pytest.fixture
def declared(monkeypatch):
    specs = list(SPECS)
    monkeypatch.setattr(command_module, "declared_schedules", lambda: specs)
    return specs


@pytest.mark.django_db
def test_setup_schedules_is_idempotent(declared):
    call_command("setup_schedules", stdout=StringIO())
    first = rows()
    pks = set(Schedule.objects.values_list("pk", flat=True))

    out = StringIO()
    call_command("setup_schedules", stdout=out)

    assert rows() == first == [
        ("circletel:generate_invoices", "billing.tasks.generate_invoices", "C", "0 2 * * *", -1),
        ("circletel:sync_usage", "billing.tasks.sync_usage", "C", "15 * * * *", -1),
    ]
    assert set(Schedule.objects.values_list("pk", flat=True)) == pks
    assert "updated generate_invoices" in out.getvalue() and "2 schedules in place." in out.getvalue()


@pytest.mark.django_db
def test_removes_stale_owned_rows_and_leaves_others(declared):
    Schedule.objects.create(name="circletel:retired_job", func="billing.tasks.old", schedule_type=Schedule.CRON,
                            cron="0 1 * * *")
    Schedule.objects.create(name="someone-elses", func="thirdparty.tasks.run", schedule_type=Schedule.HOURLY)

    out = StringIO()
    call_command("setup_schedules", stdout=out)

    names = sorted(Schedule.objects.values_list("name", flat=True))
    assert names == ["circletel:generate_invoices", "circletel:sync_usage", "someone-elses"]
    assert "removed circletel:retired_job" in out.getvalue()


@pytest.mark.django_db
def test_a_changed_cron_moves_next_run(declared):
    call_command("setup_schedules", stdout=StringIO())
    row = Schedule.objects.get(name="circletel:generate_invoices")
    Schedule.objects.filter(pk=row.pk).update(next_run=row.next_run.replace(year=2001))

    declared[0] = ScheduleSpec("generate_invoices", "billing.tasks.generate_invoices", "30 3 * * *")
    call_command("setup_schedules", stdout=StringIO())

    row.refresh_from_db()
    assert row.cron == "30 3 * * *"
    assert row.next_run.year > 2001
    local = row.next_run.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Johannesburg"))
    assert (local.hour, local.minute) == (3, 30)


@pytest.mark.django_db
def test_new_rows_get_a_next_run_in_sast(declared):
    call_command("setup_schedules", stdout=StringIO())

    row = Schedule.objects.get(name="circletel:generate_invoices")
    local = row.next_run.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Johannesburg"))
    assert (local.hour, local.minute) == (2, 0)


@pytest.mark.django_db
def test_a_saved_schedule_on_a_moved_task_path_follows_the_declaration():
    """Without the monkeypatched specs: the real declarations move `circletel:sync_usage` to usage.tasks."""
    Schedule.objects.create(name="circletel:sync_usage", func="billing.tasks.sync_usage",
                            schedule_type=Schedule.CRON, cron="5 * * * *", repeats=-1)

    call_command("setup_schedules", stdout=StringIO())

    assert list(Schedule.objects.filter(name="circletel:sync_usage").values_list("func", "cron")) == [
        ("usage.tasks.sync_usage", "5 * * * *")]
    assert not Schedule.objects.filter(func="billing.tasks.sync_usage").exists()


@pytest.mark.django_db
def test_an_offset_schedule_fires_every_minute_at_its_second_and_keeps_its_phase(declared):
    declared.append(ScheduleSpec("recover_half", "circletel.tasks.recover", "* * * * *", "at :30", offset_seconds=30))
    call_command("setup_schedules", stdout=StringIO())
    row = Schedule.objects.get(name="circletel:recover_half")
    assert (row.schedule_type, row.minutes, row.cron) == (Schedule.MINUTES, 1, None)
    assert row.next_run.second == 30 and row.next_run.microsecond == 0
    assert 0 < (row.next_run - timezone.now()).total_seconds() <= 60
    first = row.next_run
    assert row.calculate_next_run(first) - first == timedelta(minutes=1)  # django-q2 keeps the phase
    call_command("setup_schedules", stdout=StringIO())  # idempotent: the phase is left alone
    assert Schedule.objects.get(name="circletel:recover_half").next_run == first
    # Positive control beside the refusal: an offset needs an every-minute cron.
    declared.append(ScheduleSpec("bad", "x.y", "0 2 * * *", offset_seconds=30))
    with pytest.raises(CommandError, match="offset_seconds needs cron"):
        call_command("setup_schedules", stdout=StringIO())


def test_the_recovery_sweep_runs_twice_a_minute_half_a_minute_apart():
    from circletel.schedules import SCHEDULES

    sweeps = {s.name: s for s in SCHEDULES if s.func == "circletel.tasks.recover"}
    assert {(n, s.cron, s.offset_seconds) for n, s in sweeps.items()} == {
        ("recover", "* * * * *", 0), ("recover_half", "* * * * *", 30)}
