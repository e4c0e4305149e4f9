"""Issue 20: leases with heartbeats, runs that die and resume, fired schedules that never started,
follow-ups no lost task can lose. Each "given up" test has a live control beside it.

The kill -9 tests with real workers (both brokers, PostgreSQL) are in tests/recovery/.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from billing.models import CustomerService, Invoice
from circletel import leases
from circletel.follow_ups import follow_up, follow_up_run, follow_ups_recover
from circletel.jobs import RunAlreadyLive, job_run, jobs_recover_died
from circletel.models import FollowUp, JobRun
from circletel.recovery import schedules_recover_lost
from notifications.models import NotificationLog
from tests.billing.factories import service as make_service

pytestmark = pytest.mark.django_db
SAST = ZoneInfo("Africa/Johannesburg")
CALLS: list = []


def record_call(*args):
    """A follow-up target for these tests."""
    CALLS.append(args)


def failing_call(*args):
    raise RuntimeError("provider down")


def _lapse(model, pk, field="lease_until", seconds=5):
    model.objects.filter(pk=pk).update(**{field: timezone.now() - timedelta(seconds=seconds)})


# --- leases ---------------------------------------------------------------------------------------------

def test_the_heartbeat_renews_only_rows_still_in_the_held_state():
    with job_run("nightly") as run:
        other = JobRun.objects.create(job_name="other", started_at=timezone.now(), status="succeeded",
                                      lease_until=timezone.now())
        with leases.held(JobRun, other.pk, status=JobRun.Status.RUNNING):
            _lapse(JobRun, run.id)
            _lapse(JobRun, other.pk)
            assert leases.beat() == 1  # ours (running) renewed; the finished one is not ours to renew
        mine = JobRun.objects.get(pk=run.id)
        assert mine.lease_until > timezone.now() + timedelta(seconds=leases.lease_seconds() - 5)
        assert JobRun.objects.get(pk=other.pk).lease_until < timezone.now()
    assert leases.holding() == []  # released when the block ends


# --- runs that die, and resume ---------------------------------------------------------------------------

def test_a_run_whose_lease_lapsed_is_marked_died_and_a_live_one_is_left_alone():
    live = JobRun.objects.create(job_name="nightly", started_at=timezone.now(), lease_until=timezone.now() + timedelta(seconds=15))
    dead = JobRun.objects.create(job_name="nightly", started_at=timezone.now(), lease_until=timezone.now() - timedelta(seconds=1),
                                 owner="worker-1:4242")

    assert jobs_recover_died() == {"died": 1, "resumed": 0}  # not resumable: its next scheduled run does the work

    dead.refresh_from_db()
    live.refresh_from_db()
    assert (dead.status, live.status) == ("died", "running")
    assert "worker-1:4242" in dead.error_message and dead.finished_at is not None
    assert jobs_recover_died() == {"died": 0, "resumed": 0}  # once


def _services(n, billing_day=1):
    return [make_service(status=CustomerService.Status.ACTIVE, next_billing_date=date(2026, 2, billing_day),
                         billing_day=billing_day, monthly_price=Decimal("499.00")) for _ in range(n)]


def test_an_invoice_run_that_died_part_way_is_resumed_for_its_date_and_bills_each_service_once(monkeypatch):
    from billing.services import invoice_run as run_module
    from billing.tasks import run_invoice_run

    services = _services(5)
    # The first run bills one batch of two, then its worker "dies": its open state is what a kill -9 leaves.
    real_bill = run_module._bill_batch
    batches = []

    def bill_then_die(batch, run_date, **kwargs):
        if batches:
            raise KeyboardInterrupt("kill -9")
        batches.append(len(batch))
        return real_bill(batch, run_date, **kwargs)

    monkeypatch.setattr(run_module, "_bill_batch", bill_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_module.invoice_run(run_date=date(2026, 1, 29), batch_size=2)
    first = JobRun.objects.get(job_name="generate_invoices")
    # What a killed worker leaves: the row still running, its heartbeat gone.
    JobRun.objects.filter(pk=first.pk).update(status="running", finished_at=None,
                                              lease_until=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(run_module, "_bill_batch", real_bill)
    assert Invoice.objects.count() == 2

    # A second run for the same date is refused while the first still looks alive (positive control below).
    JobRun.objects.filter(pk=first.pk).update(lease_until=timezone.now() + timedelta(seconds=10))
    with pytest.raises(RunAlreadyLive):
        run_module.invoice_run(run_date=date(2026, 1, 29))
    JobRun.objects.filter(pk=first.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    with transaction.atomic():
        assert jobs_recover_died() == {"died": 1, "resumed": 1}
    resumed = JobRun.objects.get(resumed_from=first)
    assert (resumed.status, resumed.run_key, resumed.args) == ("queued", "2026-01-29", {"run_date": "2026-01-29"})

    # The queued task runs (as the doorbell would); it claims the queued row and bills what is left.
    assert run_invoice_run(**resumed.args, triggered_by=resumed.triggered_by) == resumed.pk
    resumed.refresh_from_db()
    assert (resumed.status, resumed.processed_count) == ("succeeded", 3)
    assert JobRun.objects.get(pk=first.pk).status == "died"
    for svc in services:
        assert Invoice.objects.filter(service=svc, period_start=date(2026, 2, 1)).count() == 1
    # The doorbell ringing twice changes nothing: the row is no longer queued, and the services are billed.
    assert run_invoice_run(**resumed.args, triggered_by="second doorbell") != 0
    assert Invoice.objects.count() == 5


def test_a_queued_run_whose_task_was_lost_is_queued_again_once():
    from billing.services.invoice_run import invoice_run_start

    with transaction.atomic():
        first = invoice_run_start(triggered_by="admin", run_date=date(2026, 1, 29))
    assert first.status == "queued"
    with transaction.atomic():
        assert jobs_recover_died() == {"died": 0, "resumed": 0}  # still within its grace
    JobRun.objects.filter(pk=first.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with transaction.atomic():
        assert jobs_recover_died() == {"died": 1, "resumed": 1}
    first.refresh_from_db()
    assert first.status == "died" and "never started" in first.error_message
    assert JobRun.objects.filter(status="queued", run_key="2026-01-29").count() == 1


def test_an_old_run_that_died_is_recorded_but_not_resumed():
    old = JobRun.objects.create(job_name="generate_invoices", started_at=timezone.now() - timedelta(days=3),
                                lease_until=timezone.now() - timedelta(days=3), args={"run_date": "2026-01-01"})
    assert jobs_recover_died() == {"died": 1, "resumed": 0}
    assert JobRun.objects.get(pk=old.pk).status == "died"
    assert not JobRun.objects.filter(resumed_from=old).exists()


def test_a_run_that_finishes_after_being_given_up_keeps_died_and_says_so():
    with job_run("nightly") as run:
        JobRun.objects.filter(pk=run.id).update(status="died")
        run.processed = 4
    row = JobRun.objects.get(pk=run.id)
    assert (row.status, row.processed_count, row.details["finished_after_given_up"]) == ("died", 4, "succeeded")


# --- fired schedules whose run never started ---------------------------------------------------------------

def _installed(name, cron, next_run):
    return Schedule.objects.create(name=f"circletel:{name}", func="x", schedule_type=Schedule.CRON, cron=cron,
                                   next_run=next_run)


def test_a_fired_invoice_run_that_never_started_is_started_for_its_date():
    now = datetime(2026, 3, 10, 2, 1, 30, tzinfo=SAST)  # the 02:00 run fired; nothing started
    _installed("invoice_run", "0 2 * * *", next_run=datetime(2026, 3, 11, 2, 0, tzinfo=SAST))

    with transaction.atomic():
        assert schedules_recover_lost(now=now) == {"started": 1}
    run = JobRun.objects.get(job_name="generate_invoices")
    assert (run.status, run.run_key, run.args) == ("queued", "2026-03-10", {"run_date": "2026-03-10"})
    with transaction.atomic():
        assert schedules_recover_lost(now=now) == {"started": 0}  # once


def test_a_fired_schedule_whose_run_started_or_that_has_not_fired_is_left_alone():
    now = datetime(2026, 3, 10, 2, 1, 30, tzinfo=SAST)
    row = _installed("invoice_run", "0 2 * * *", next_run=datetime(2026, 3, 11, 2, 0, tzinfo=SAST))
    JobRun.objects.create(job_name="generate_invoices", started_at=datetime(2026, 3, 10, 2, 0, 3, tzinfo=SAST),
                          status="succeeded")
    assert schedules_recover_lost(now=now) == {"started": 0}  # it ran
    JobRun.objects.all().delete()
    row.next_run = datetime(2026, 3, 10, 2, 0, tzinfo=SAST)
    row.save()
    assert schedules_recover_lost(now=now) == {"started": 0}  # django-q2 has not fired it yet: late, not lost
    assert schedules_recover_lost(now=datetime(2026, 3, 10, 2, 0, 30, tzinfo=SAST)) == {"started": 0}  # too soon


# --- follow-ups ------------------------------------------------------------------------------------------

def test_a_follow_up_commits_with_its_transaction_or_not_at_all(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            follow_up("tests.circletel.test_recovery.record_call", 1)
        try:
            with transaction.atomic():
                follow_up("tests.circletel.test_recovery.record_call", 2)
                raise RuntimeError("the change fails")
        except RuntimeError:
            pass
    assert list(FollowUp.objects.values_list("args", flat=True)) == [[1]]
    assert queued == [("tests.circletel.test_recovery.record_call", (1,))]  # rung after commit


def test_a_follow_up_runs_once_and_a_lost_one_is_rung_again_after_its_grace(queued):
    CALLS.clear()
    row = follow_up("tests.circletel.test_recovery.record_call", 7, "x")
    assert follow_ups_recover() == {"freed": 0, "rung": 0}  # within its grace: the doorbell may still come
    FollowUp.objects.filter(pk=row.pk).update(ring_at=timezone.now() - timedelta(seconds=1))
    assert follow_ups_recover() == {"freed": 0, "rung": 1}
    assert follow_ups_recover() == {"freed": 0, "rung": 0}  # rung; not again until RING_AGAIN
    assert follow_up_run(pk=row.pk).status == "done"
    assert follow_up_run(pk=row.pk) is None  # done: a second doorbell does nothing
    assert CALLS == [(7, "x")]


def test_a_follow_up_of_a_dead_worker_is_freed_and_a_live_one_is_not(queued):
    dead = follow_up("tests.circletel.test_recovery.record_call", 1)
    live = follow_up("tests.circletel.test_recovery.record_call", 2)
    FollowUp.objects.filter(pk__in=[dead.pk, live.pk]).update(status="running", owner="gone:1",
                                                               lease_until=timezone.now() + timedelta(seconds=10))
    _lapse(FollowUp, dead.pk)
    assert follow_ups_recover() == {"freed": 1, "rung": 1}
    assert FollowUp.objects.get(pk=live.pk).status == "running"
    assert follow_up_run(pk=live.pk) is None  # held by a live worker
    assert follow_up_run(pk=dead.pk).status == "done"


def test_a_failing_follow_up_backs_off_then_fails_for_staff(queued):
    from circletel.follow_ups import MAX_ATTEMPTS, follow_up_retry

    row = follow_up("tests.circletel.test_recovery.failing_call")
    first = follow_up_run(pk=row.pk)
    assert (first.status, first.attempts) == ("pending", 1) and "provider down" in first.error
    assert first.ring_at > timezone.now()
    FollowUp.objects.filter(pk=row.pk).update(attempts=MAX_ATTEMPTS - 1)
    assert follow_up_run(pk=row.pk).status == "failed"
    assert follow_ups_recover()["rung"] == 0  # failed rows wait for a person
    assert follow_up_retry(row=FollowUp.objects.get(pk=row.pk))
    assert FollowUp.objects.get(pk=row.pk).status == "pending"


def test_an_invoice_runs_follow_ups_survive_a_lost_queue_and_notify_and_render_each_invoice_once(settings, queued,
                                                                                                   monkeypatch):
    from billing.services.invoice_run import invoice_run

    rendered = []
    monkeypatch.setattr("billing.services.pdf.invoice_pdf_bytes", lambda invoice: (rendered.append(invoice.pk), b"%PDF")[1])
    _services(3)
    invoice_run(run_date=date(2026, 1, 29))
    # The batch committed its follow-ups with it; suppose the doorbells were all lost.
    rows = list(FollowUp.objects.order_by("pk"))
    assert [r.func for r in rows] == ["billing.tasks.notify_invoices_issued", "billing.tasks.render_invoice_pdfs"]
    FollowUp.objects.update(ring_at=timezone.now() - timedelta(seconds=1))
    assert follow_ups_recover()["rung"] == 2
    for r in rows:
        follow_up_run(pk=r.pk)
    # A worker that died after the work and before "done": the row runs again, and nothing is doubled.
    FollowUp.objects.update(status="pending")
    for r in rows:
        assert follow_up_run(pk=r.pk).status == "done"
    ids = set(Invoice.objects.values_list("pk", flat=True))
    assert sorted(rendered) == sorted(ids)  # once each
    issued = NotificationLog.objects.filter(event="invoice_issued", channel="email")
    assert issued.count() == 3 and {log.idempotency_key for log in issued} == {f"invoice_issued:{pk}" for pk in ids}


# --- the admin shows what died and what resumed it ---------------------------------------------------------

def test_the_admin_lists_a_died_run_with_its_resume_and_follow_ups_can_be_run_again(admin_client, queued):
    from django.urls import reverse

    died = JobRun.objects.create(job_name="generate_invoices", status="died", started_at=timezone.now())
    resumed = JobRun.objects.create(job_name="generate_invoices", status="succeeded", started_at=timezone.now(),
                                    resumed_from=died)
    page = admin_client.get(reverse("admin:circletel_jobrun_changelist") + "?status__exact=died").content.decode()
    assert f'died; resumed as <a href="{reverse("admin:circletel_jobrun_change", args=[resumed.pk])}">#{resumed.pk}</a>' in page
    detail = admin_client.get(reverse("admin:circletel_jobrun_change", args=[died.pk])).content.decode()
    assert f"#{resumed.pk} (succeeded)" in detail

    failed = follow_up("tests.circletel.test_recovery.record_call", 1)
    done = follow_up("tests.circletel.test_recovery.record_call", 2)
    FollowUp.objects.filter(pk=failed.pk).update(status="failed", attempts=6, error="RuntimeError: boom")
    FollowUp.objects.filter(pk=done.pk).update(status="done")
    response = admin_client.post(reverse("admin:circletel_followup_changelist"),
                                 {"action": "run_again", "_selected_action": [failed.pk, done.pk]}, follow=True)
    assert "Queued 1 follow-up(s) again; 1 were not failed and were left alone." in response.content.decode()
    assert [FollowUp.objects.get(pk=p).status for p in (failed.pk, done.pk)] == ["pending", "done"]
