from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Count

from billing.models import BillingAccount, CustomerService, Invoice, LedgerEntry, Suspension
from billing.services.invoice_run import invoice_run, service_next_invoice_preview
from billing.services.ledger import ledger_balance
from billing.services.lifecycle import service_activate, service_suspend
from circletel.models import JobRun
from tests.billing.factories import business_customer
from tests.billing.factories import service as make_service
from tests.concurrency import run_concurrently

D = Decimal


def active(**kw):
    kw.setdefault("status", CustomerService.Status.ACTIVE)
    kw.setdefault("activation_date", date(2026, 1, 10))
    kw.setdefault("next_billing_date", date(2026, 2, 1))
    return make_service(**kw)


@pytest.mark.django_db
def test_run_twice_creates_one_invoice_per_service_per_period(queued, django_capture_on_commit_callbacks):
    a = active(billing_day=1, monthly_price=D("899.00"))
    b = active(billing_day=5, next_billing_date=date(2026, 2, 5), monthly_price=D("499.00"))
    c = active(billing_day=25, next_billing_date=date(2026, 2, 25))  # outside the 7-day lead: not yet
    with django_capture_on_commit_callbacks(execute=True):
        result = invoice_run(run_date=date(2026, 1, 29))
    assert result.created == 2
    second = invoice_run(run_date=date(2026, 1, 29))
    assert second.created == 0
    inv_a = Invoice.objects.get(service=a)
    assert (inv_a.period_start, inv_a.period_end, inv_a.due_date, inv_a.issue_date) == (
        date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 1), date(2026, 1, 29))
    assert (inv_a.subtotal, inv_a.vat_amount, inv_a.total) == (D("781.74"), D("117.26"), D("899.00"))
    line = inv_a.lines.get()
    assert line.description == "Fibre 50/50, 1-28 Feb 2026"
    assert (line.days_charged, line.days_in_period) == (28, 28)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-00001", "INV-2026-00002"]
    for svc, nbd in ((a, date(2026, 3, 1)), (b, date(2026, 3, 5)), (c, date(2026, 2, 25))):
        svc.refresh_from_db()
        assert svc.next_billing_date == nbd
    for svc in (a, b):
        assert BillingAccount.objects.get(customer=svc.customer).balance == ledger_balance(customer_id=svc.customer_id)
    assert LedgerEntry.objects.get(reference=f"invoice:{inv_a.pk}").amount == D("899.00")
    ids = sorted(Invoice.objects.values_list("pk", flat=True))
    assert ("billing.tasks.render_invoice_pdfs", (ids,)) in [(f, (sorted(a[0]),)) for f, a in queued]
    job = JobRun.objects.get(pk=result.job_run_id)
    assert (job.job_name, job.status, job.processed_count) == ("generate_invoices", "succeeded", 2)


@pytest.mark.django_db
def test_a_service_behind_by_months_gets_one_invoice_per_missed_period():
    svc = active(next_billing_date=date(2025, 11, 1))
    invoice_run(run_date=date(2026, 1, 29))
    assert list(Invoice.objects.filter(service=svc).order_by("period_start").values_list("period_start", flat=True)) == [
        date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


@pytest.mark.django_db
def test_business_customer_is_exclusive_and_several_services_share_one_balance_update():
    customer = business_customer()
    active(customer=customer, monthly_price=D("1091.50"))
    active(customer=customer, monthly_price=D("100.00"))
    invoice_run(run_date=date(2026, 1, 30))
    totals = sorted(Invoice.objects.values_list("total", flat=True))
    assert totals == [D("115.00"), D("1255.23")]
    assert BillingAccount.objects.get(customer=customer).balance == D("1370.23")


@pytest.mark.django_db
def test_skip_billing_suspensions_are_not_invoiced():
    open_skip = active()
    service_suspend(service=open_skip, reason="travel", skip_billing=True, on=date(2026, 1, 20))
    closed = active(monthly_price=D("280.00"))
    Suspension.objects.create(service=closed, kind="technical", reason="fault", suspended_on=date(2026, 1, 28),
                              reactivated_on=date(2026, 2, 8), skip_billing=True)
    non_payment = active()
    service_suspend(service=non_payment, reason="unpaid", kind="non_payment", on=date(2026, 1, 20))
    result = invoice_run(run_date=date(2026, 1, 29))
    assert result.created == 2
    assert not Invoice.objects.filter(service=open_skip, invoice_type="recurring").exists()
    line = Invoice.objects.get(service=closed).lines.get()
    assert (line.days_charged, line.days_in_period, line.amount) == (21, 28, D("210.00"))
    assert line.description.endswith(" (21 of 28 days)")
    assert Invoice.objects.filter(service=non_payment, invoice_type="recurring").count() == 1


@pytest.mark.django_db
def test_dry_run_writes_nothing_but_the_job_run():
    active()
    result = invoice_run(run_date=date(2026, 1, 29), dry_run=True)
    assert result.created == 1 and result.total == D("499.00")
    assert not Invoice.objects.exists() and not LedgerEntry.objects.exists()
    assert JobRun.objects.get(pk=result.job_run_id).details["would_create"] == 1


@pytest.mark.django_db
def test_a_hand_made_invoice_for_the_period_fails_that_service_only():
    from billing.services.invoices import LineSpec, invoice_create

    taken = active()
    other = active()
    invoice_create(customer=taken.customer, service=taken, invoice_type="recurring",
                   lines=[LineSpec("by hand", D("499.00"))], period_start=date(2026, 2, 1),
                   period_end=date(2026, 3, 1), issue_date=date(2026, 1, 20))
    result = invoice_run(run_date=date(2026, 1, 29), batch_size=10)
    assert result.created == 1 and result.failed == 1
    assert Invoice.objects.filter(service=other).count() == 1
    job = JobRun.objects.get(pk=result.job_run_id)
    assert job.status == "partial" and job.details["errors"][0]["item"] == f"service:{taken.pk}"


@pytest.mark.django_db
def test_preview_matches_what_the_run_creates():
    svc = active(monthly_price=D("699.00"), billing_day=30, next_billing_date=date(2026, 1, 30))
    preview = service_next_invoice_preview(service=svc)
    invoice_run(run_date=date(2026, 1, 25))
    invoice = Invoice.objects.get(service=svc)
    assert (preview["period_start"], preview["period_end"], preview["total"]) == (
        invoice.period_start, invoice.period_end, invoice.total) == (date(2026, 1, 30), date(2026, 2, 28), D("699.00"))


@pytest.mark.django_db
def test_query_count_per_batch_does_not_grow_with_batch_size(django_assert_max_num_queries):
    for _ in range(30):
        active()
    with django_assert_max_num_queries(40):
        invoice_run(run_date=date(2026, 1, 29), batch_size=100, followups=False)
    assert Invoice.objects.count() == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_never_double_invoice_and_numbers_are_gap_free():
    """Runs for two dates (both covering the same services) at once split the work and bill each once.
    (Two runs for the same date cannot overlap at all: one live run per date, tests/circletel/test_recovery.py.)"""
    services = [active(billing_day=1) for _ in range(60)]
    outcomes = run_concurrently(lambda day: invoice_run(run_date=day, batch_size=7, followups=False),
                                [(date(2026, 1, 29),), (date(2026, 1, 28),)])
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    assert Invoice.objects.count() == 60
    assert not Invoice.objects.values("service", "period_start").annotate(n=Count("id")).filter(n__gt=1).exists()
    numbers = sorted(int(n.rsplit("-", 1)[1]) for n in Invoice.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 61))
    assert JobRun.objects.filter(job_name="generate_invoices", status="succeeded").count() == 2
    for s in services:
        assert BillingAccount.objects.get(customer=s.customer).balance == ledger_balance(customer_id=s.customer_id)


@pytest.mark.django_db
def test_activation_then_run_bills_from_the_next_billing_date():
    svc = make_service(billing_day=25)
    service_activate(service=svc, reason="installed", activation_date=date(2026, 1, 10))
    invoice_run(run_date=date(2026, 1, 20))
    assert list(Invoice.objects.filter(service=svc).order_by("pk").values_list("invoice_type", "period_start")) == [
        ("pro_rata", date(2026, 1, 10)), ("recurring", date(2026, 1, 25))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_fast_insert_fills_defaults_and_generated_columns():
    svc = active(monthly_price=D("499.00"))
    invoice_run(run_date=date(2026, 1, 29), followups=False)
    invoice = Invoice.objects.get(service=svc)
    assert (invoice.status, invoice.zoho_sync_status, invoice.amount_paid, invoice.amount_due) == (
        "unpaid", "pending", D("0.00"), D("499.00"))
    assert invoice.created_at is not None and invoice.pdf.name == "" and invoice.reminders_sent == 0
    line = invoice.lines.get()
    assert (line.position, line.quantity, line.unit_price, line.unrounded_amount) == (0, D("1.00"), D("499.00"),
                                                                                      D("499.0000000000"))
    entry = LedgerEntry.objects.get(invoice=invoice)
    assert (entry.reference, entry.created_by, entry.amount) == (f"invoice:{invoice.pk}", "system", D("499.00"))
