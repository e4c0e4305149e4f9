"""The hourly sync as a batch: job-run record, one failure does not stop the rest, the command, concurrency."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import CustomerService
from circletel.models import JobRun
from notifications.models import NotificationLog
from tests.concurrency import run_concurrently
from tests.usage.test_usage_support import (  # noqa: F401
    entry,
    interstellio,
    make_service,
    set_today,
    usage_url,
)
from usage.models import UsageRecord, UsageThresholdAlert
from usage.schedules import SCHEDULES
from usage.services import usage_check_thresholds
from usage.tasks import sync_usage

D = dt.date


@pytest.fixture
def today(monkeypatch):
    return set_today(monkeypatch, D(2026, 11, 10))


def ok(sub, mb=10):
    responses.post(usage_url(sub), json={"payload": [entry("2026-11-09", up_mb=1, down_mb=mb),
                                                     entry("2026-11-10", up_mb=1, down_mb=mb)]})


@pytest.mark.django_db
@responses.activate
def test_batch_syncs_active_services_and_one_failure_does_not_stop_it(interstellio, today):  # noqa: F811
    good1 = make_service(provider_subscriber_id="sub-a")
    bad500 = make_service(provider_subscriber_id="sub-b")
    slow = make_service(provider_subscriber_id="sub-c")
    bad401 = make_service(provider_subscriber_id="sub-d")
    good2 = make_service(provider_subscriber_id="sub-e")
    make_service(provider_subscriber_id="sub-x", status=CustomerService.Status.SUSPENDED)
    make_service(provider_subscriber_id="")
    ok("sub-a")
    responses.post(usage_url("sub-b"), status=500)
    responses.post(usage_url("sub-c"), body=requests.ConnectTimeout("connect timed out"))
    responses.post(usage_url("sub-d"), status=401, json={"error": {"title": "Unauthorized"}})
    ok("sub-e", mb=20)

    run_id = sync_usage()

    run = JobRun.objects.get(pk=run_id)
    assert (run.job_name, run.status, run.triggered_by) == ("sync_usage", JobRun.Status.PARTIAL, "schedule")
    assert (run.processed_count, run.failed_count) == (2, 3)
    assert [e["item"] for e in run.details["errors"]] == [f"service:{bad500.pk}", f"service:{slow.pk}",
                                                         f"service:{bad401.pk}"]
    assert "unavailable (500)" in run.details["errors"][0]["error"]
    assert "timed out" in run.details["errors"][1]["error"]
    assert "rejected the request (401)" in run.details["errors"][2]["error"]
    assert (run.details["date_from"], run.details["date_to"], run.details["days_written"]) == (
        "2026-11-09", "2026-11-10", 4)
    calls = [c.request.url.rsplit("/", 3)[1] for c in responses.calls]
    assert calls.count("sub-b") == 3 and calls.count("sub-c") == 3 and calls.count("sub-d") == 1
    assert "sub-x" not in calls
    assert sorted(UsageRecord.objects.values_list("service_id", "total_mb")) == sorted([
        (good1.pk, Decimal("11.00")), (good1.pk, Decimal("11.00")),
        (good2.pk, Decimal("21.00")), (good2.pk, Decimal("21.00"))])


@pytest.mark.django_db
@responses.activate
def test_batch_is_idempotent_when_run_twice(interstellio, today):  # noqa: F811
    service = make_service()
    ok("sub-1")
    ok("sub-1")
    sync_usage()
    second = JobRun.objects.get(pk=sync_usage())
    assert (second.status, second.details["days_written"]) == (JobRun.Status.SUCCEEDED, 0)
    assert UsageRecord.objects.filter(service=service).count() == 2


@pytest.mark.django_db
def test_unconfigured_provider_fails_the_run_with_a_reason(settings, today):
    settings.INTERSTELLIO = {"API_URL": "", "API_TOKEN": "", "DOMAIN": ""}
    make_service()
    with pytest.raises(Exception, match="INTERSTELLIO_API_TOKEN"):
        sync_usage()
    run = JobRun.objects.get(job_name="sync_usage")
    assert run.status == JobRun.Status.FAILED
    assert "INTERSTELLIO_API_TOKEN" in run.error_message
    assert UsageRecord.objects.count() == 0


def test_hourly_schedule_is_declared():
    spec = next(s for s in SCHEDULES if s.name == "sync_usage")
    assert (spec.func, spec.cron) == ("usage.tasks.sync_usage", "5 * * * *")


# --- the command ------------------------------------------------------------------------------------------

@pytest.mark.django_db
@responses.activate
def test_command_syncs_one_service_for_a_range(interstellio, today):  # noqa: F811
    service = make_service(provider_subscriber_id="sub-7")
    make_service(provider_subscriber_id="sub-8")
    responses.post(usage_url("sub-7"), json={"payload": [entry("2026-11-01", up_mb=1, down_mb=2)]})
    out = StringIO()

    call_command("sync_usage", "--service", str(service.pk), "--from", "2026-11-01", "--to", "2026-11-03", stdout=out)

    assert len(responses.calls) == 1
    assert list(UsageRecord.objects.values_list("service_id", "date", "total_mb")) == [
        (service.pk, D(2026, 11, 1), Decimal("3.00"))]
    run = JobRun.objects.get()
    assert run.triggered_by == "command"
    assert f"sync_usage run #{run.pk} succeeded: 1 synced, 0 failed, 1 day(s) written" in out.getvalue()


@pytest.mark.django_db
@responses.activate
def test_command_dry_run_writes_nothing(interstellio, today):  # noqa: F811
    make_service()
    ok("sub-1")
    out = StringIO()
    call_command("sync_usage", "--dry-run", stdout=out)
    assert UsageRecord.objects.count() == 0
    assert "dry run: nothing written" in out.getvalue()


@pytest.mark.django_db
@responses.activate
def test_command_exits_non_zero_when_every_service_failed(interstellio, today):  # noqa: F811
    make_service()
    responses.post(usage_url("sub-1"), status=401)
    with pytest.raises(CommandError, match="Every service failed"):
        call_command("sync_usage", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [
    (["--from", "2026-13-01"], "YYYY-MM-DD"),
    (["--to", "yesterday"], "YYYY-MM-DD"),
    (["--from", "2026-11-10", "--to", "2026-11-01"], "on or before"),
    (["--to", "2026-11-11"], "future"),
    (["--service", "999999"], "does not exist"),
])
def test_command_rejects_bad_arguments_and_writes_nothing(interstellio, today, args, message):  # noqa: F811
    with pytest.raises(CommandError, match=message):
        call_command("sync_usage", *args, stdout=StringIO())
    assert JobRun.objects.count() == 0
    assert UsageRecord.objects.count() == 0


def test_command_rejects_a_non_numeric_service_id():
    with pytest.raises(CommandError):
        call_command("sync_usage", "--service", "abc", stdout=StringIO())


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_threshold_checks_alert_exactly_once(monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    monkeypatch.setattr("notifications.services._enqueue_send", lambda pk: None)
    service = make_service(data_cap_gb=1)
    UsageRecord.objects.create(service=service, date=D(2026, 11, 3), upload_mb=0, download_mb=990,
                               cycle_start=D(2026, 11, 1))
    def check():
        svc = CustomerService.objects.select_related("customer").get(pk=service.pk)
        return usage_check_thresholds(service=svc, on=D(2026, 11, 20))

    outcomes = run_concurrently(check, [()] * 4)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    results = [o for o in outcomes if not isinstance(o, Exception)]

    assert errors == []
    assert sorted(results) == [[], [], [], [80, 95]]
    assert sorted(UsageThresholdAlert.objects.values_list("threshold", flat=True)) == [80, 95]
    assert sorted(NotificationLog.objects.values_list("event", "channel")) == [("usage_95", "email"),
                                                                              ("usage_95", "sms")]
