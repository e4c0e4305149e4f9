from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from billing.models import CustomerService, Invoice
from circletel.models import JobRun
from tests.billing.factories import service as make_service
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _active():
    return make_service(status=CustomerService.Status.ACTIVE, next_billing_date=date(2026, 2, 1),
                        monthly_price=Decimal("499.00"))


def test_command_runs_and_dry_run_writes_nothing(capsys):
    _active()
    call_command("generate_invoices", "--date", "2026-01-29", "--dry-run")
    assert "Would create 1 invoice(s) totalling R 499.00" in capsys.readouterr().out
    assert not Invoice.objects.exists()
    call_command("generate_invoices", "--date", "2026-01-29")
    assert "Created 1 invoice(s)" in capsys.readouterr().out
    assert Invoice.objects.count() == 1


def test_command_rejects_a_bad_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("generate_invoices", "--date", "29/01/2026")
    assert not JobRun.objects.exists()


def test_api_is_staff_only_and_returns_the_job_run_id(queued, django_capture_on_commit_callbacks):
    client = APIClient()
    url = "/api/admin/billing/generate-invoices-now"
    client.force_authenticate(UserFactory())
    assert client.post(url, {}, format="json").status_code == 403
    assert not JobRun.objects.exists() and queued == []
    client.force_authenticate(UserFactory(is_staff=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"run_date": "2026-01-29"}, format="json")
    assert response.status_code == 202
    job = JobRun.objects.get()
    assert response.json() == {"job_run_id": job.pk, "status": "queued"}
    # The task is queued with the run's arguments; its job_run claims this queued row (issue 20).
    assert (job.run_key, job.args) == ("2026-01-29", {"run_date": "2026-01-29"})
    assert queued == [("billing.tasks.run_invoice_run", ())]


def test_the_task_fills_in_the_precreated_job_run():
    from billing.tasks import run_invoice_run

    _active()
    job = JobRun.objects.create(job_name="generate_invoices", started_at="2026-01-29T02:00:00+02:00",
                                triggered_by="admin", status="queued", run_key="2026-01-29")
    assert run_invoice_run("2026-01-29", False, "admin", job.pk) == job.pk
    job.refresh_from_db()
    assert (job.status, job.processed_count) == ("succeeded", 1)
    assert JobRun.objects.count() == 1
