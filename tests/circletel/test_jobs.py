"""job_run: one JobRun row per run, finished with counts, duration and the right status."""

import pytest

from circletel.jobs import job_run, tracked_job
from circletel.logging import job_run_id_var
from circletel.models import JobRun


@pytest.mark.django_db
def test_succeeded_run_records_counts_and_duration():
    with job_run("nightly", triggered_by="schedule") as run:
        assert JobRun.objects.get(pk=run.id).status == "running"
        assert job_run_id_var.get() == str(run.id)
        run.processed += 3
        run.skipped += 1
        run.details["batch"] = "2026-03"

    row = JobRun.objects.get(pk=run.id)
    assert (row.job_name, row.status, row.triggered_by) == ("nightly", "succeeded", "schedule")
    assert (row.processed_count, row.failed_count, row.skipped_count) == (3, 0, 1)
    assert row.details == {"batch": "2026-03"}
    assert row.finished_at >= row.started_at
    assert row.duration_ms is not None and row.duration_ms >= 0
    assert row.error_message == ""
    assert job_run_id_var.get() == ""


@pytest.mark.django_db
def test_some_failed_items_make_a_partial_run_with_reasons():
    with job_run("invoices") as run:
        run.processed += 2
        run.fail_item("invoice:7", ValueError("no price"))

    row = JobRun.objects.get(pk=run.id)
    assert (row.status, row.processed_count, row.failed_count) == ("partial", 2, 1)
    assert row.details == {"errors": [{"item": "invoice:7", "error": "no price"}]}


@pytest.mark.django_db
def test_only_failures_make_a_failed_run():
    with job_run("invoices") as run:
        run.fail_item("invoice:1", "boom")

    assert JobRun.objects.get(pk=run.id).status == "failed"


@pytest.mark.django_db
def test_only_the_first_50_item_errors_are_kept():
    with job_run("big") as run:
        for i in range(60):
            run.fail_item(i, "bad")
        run.processed = 1

    row = JobRun.objects.get(pk=run.id)
    assert row.failed_count == 60 and len(row.details["errors"]) == 50


@pytest.mark.django_db
def test_exception_is_reraised_and_the_row_still_finished():
    with pytest.raises(RuntimeError, match="provider down"), job_run("sync") as run:
        run.processed += 4
        raise RuntimeError("provider down")

    row = JobRun.objects.get(pk=run.id)
    assert row.status == "failed"
    assert row.error_message == "RuntimeError: provider down"
    assert row.processed_count == 4
    assert row.finished_at is not None and row.duration_ms is not None
    assert "RuntimeError: provider down" in "".join(row.details["traceback"])
    assert job_run_id_var.get() == ""


@pytest.mark.django_db
def test_tracked_job_decorator_passes_the_run_and_returns_its_id():
    @tracked_job("usage_sync")
    def sync(count, *, run):
        run.processed += count

    run_id = sync(5, triggered_by="admin:ops@circletel.co.za")

    row = JobRun.objects.get(pk=run_id)
    assert (row.job_name, row.status, row.processed_count, row.triggered_by) == (
        "usage_sync", "succeeded", 5, "admin:ops@circletel.co.za")
