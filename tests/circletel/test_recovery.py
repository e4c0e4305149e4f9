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
                          status="succeeded", run_key="2026-03-10")
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


# --- probe findings (issue 20 review) ------------------------------------------------------------------

def test_a_preview_that_dies_is_recorded_and_never_becomes_a_real_run():
    from billing.services.invoice_run import PREVIEW_JOB_NAME

    _services(2)
    preview = JobRun.objects.create(job_name=PREVIEW_JOB_NAME, started_at=timezone.now(),
                                    lease_until=timezone.now() - timedelta(seconds=1))
    keyless = JobRun.objects.create(job_name="generate_invoices", started_at=timezone.now(),
                                    lease_until=timezone.now() - timedelta(seconds=1))  # no run_date: cannot resume
    with transaction.atomic():
        assert jobs_recover_died() == {"died": 2, "resumed": 0}
    assert not JobRun.objects.filter(status="queued").exists() and not Invoice.objects.exists()
    assert "no run_date to resume with" in JobRun.objects.get(pk=keyless.pk).error_message
    assert JobRun.objects.get(pk=preview.pk).status == "died"


def test_a_run_whose_resumes_keep_dying_is_left_to_a_person_after_three():
    first = JobRun.objects.create(job_name="generate_invoices", status="died", started_at=timezone.now(),
                                  args={"run_date": "2026-01-29"})
    second = JobRun.objects.create(job_name="generate_invoices", status="died", started_at=timezone.now(),
                                   args={"run_date": "2026-01-29"}, resumed_from=first)
    third = JobRun.objects.create(job_name="generate_invoices", started_at=timezone.now(), run_key="2026-01-29",
                                  args={"run_date": "2026-01-29"}, resumed_from=second,
                                  lease_until=timezone.now() - timedelta(seconds=1))
    with transaction.atomic():
        assert jobs_recover_died() == {"died": 1, "resumed": 0}
    assert "died 3 times in a row" in JobRun.objects.get(pk=third.pk).error_message
    # Positive control: the second death in a row is still resumed.
    JobRun.objects.filter(pk=third.pk).update(status="running", lease_until=timezone.now() - timedelta(seconds=1),
                                              resumed_from=first)
    with transaction.atomic():
        assert jobs_recover_died() == {"died": 1, "resumed": 1}


def test_a_new_run_takes_the_place_of_a_live_looking_run_whose_lease_lapsed_and_not_of_a_live_one():
    from django.core.management import CommandError, call_command

    _services(1)
    live = JobRun.objects.create(job_name="generate_invoices", started_at=timezone.now(), run_key="2026-01-29",
                                 args={"run_date": "2026-01-29"}, lease_until=timezone.now() + timedelta(seconds=15))
    with pytest.raises(CommandError, match=f"already running as job run #{live.pk}"):
        call_command("generate_invoices", "--date", "2026-01-29")
    assert not Invoice.objects.exists()
    JobRun.objects.filter(pk=live.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # its worker died
    call_command("generate_invoices", "--date", "2026-01-29")
    assert Invoice.objects.count() == 1 and JobRun.objects.get(pk=live.pk).status == "died"


def test_the_preview_counts_every_period_a_catch_up_run_will_bill():
    from billing.services.invoice_run import invoice_run

    make_service(status=CustomerService.Status.ACTIVE, next_billing_date=date(2026, 1, 1), billing_day=1,
                 monthly_price=Decimal("499.00"))  # three periods behind on 29 Mar
    preview = invoice_run(run_date=date(2026, 3, 29), dry_run=True)
    real = invoice_run(run_date=date(2026, 3, 29))
    assert (preview.created, preview.total) == (real.created, real.total) == (4, Decimal("1996.00"))
    assert JobRun.objects.get(pk=preview.job_run_id).job_name == "generate_invoices_preview"


def test_a_run_date_far_ahead_is_refused_at_every_door(admin_client):
    from django.core.management import CommandError, call_command
    from django.urls import reverse

    far = (timezone.localdate() + timedelta(days=40)).isoformat()
    with pytest.raises(CommandError, match="more than 31 days ahead"):
        call_command("generate_invoices", "--date", far)
    with pytest.raises(CommandError, match="not a day of the calendar"):
        call_command("generate_invoices", "--date", "2026-02-30")
    page = admin_client.post(reverse("admin:billing_invoice_run_preview"), {"run_date": far}).content.decode()
    assert "more than 31 days ahead" in page
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(get_user_model().objects.get(is_superuser=True))
    assert api.post("/api/admin/billing/generate-invoices-now", {"run_date": far}, format="json").status_code == 400
    assert not JobRun.objects.filter(job_name="generate_invoices").exists()
    near = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert api.post("/api/admin/billing/generate-invoices-now", {"run_date": near}, format="json").status_code == 202


def test_only_staff_who_may_change_invoices_can_start_the_run_and_it_runs_for_the_previewed_date(client):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from tests.factories import UserFactory

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(viewer)
    url = reverse("admin:billing_invoice_generate_now")
    assert client.post(url, {"run_date": "2026-12-09"}).status_code == 403
    assert not JobRun.objects.exists()
    biller = UserFactory(is_staff=True)
    biller.user_permissions.add(*Permission.objects.filter(codename__in=["view_invoice", "change_invoice"]))
    client.force_login(biller)
    assert "Start the invoice run for 9 Dec 2026" in client.get(url + "?run_date=2026-12-09").content.decode()
    assert client.post(url, {"run_date": "2026-12-09"}).status_code == 302
    assert JobRun.objects.get().run_key == "2026-12-09"


def test_a_follow_up_whose_worker_dies_on_every_attempt_stops_as_failed(queued):
    from circletel.follow_ups import MAX_ATTEMPTS

    row = follow_up("tests.circletel.test_recovery.record_call", 1)
    FollowUp.objects.filter(pk=row.pk).update(status="running", attempts=MAX_ATTEMPTS,
                                              lease_until=timezone.now() - timedelta(seconds=1))
    assert follow_ups_recover()["freed"] == 0
    row.refresh_from_db()
    assert row.status == "failed" and "died on each" in row.error


def test_a_run_by_hand_for_another_date_or_a_preview_does_not_hide_a_lost_scheduled_run():
    now = datetime(2026, 3, 10, 2, 1, 30, tzinfo=SAST)
    _installed("invoice_run", "0 2 * * *", next_run=datetime(2026, 3, 11, 2, 0, tzinfo=SAST))
    JobRun.objects.create(job_name="generate_invoices", started_at=datetime(2026, 3, 10, 2, 0, 40, tzinfo=SAST),
                          status="succeeded", run_key="2026-03-01")
    JobRun.objects.create(job_name="generate_invoices_preview", status="succeeded",
                          started_at=datetime(2026, 3, 10, 2, 0, 50, tzinfo=SAST))
    with transaction.atomic():
        assert schedules_recover_lost(now=now) == {"started": 1}
