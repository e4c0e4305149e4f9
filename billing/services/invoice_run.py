"""The invoice run: every active service due within the lead days gets that period's recurring invoice once.

Work is claimed in bounded batches with `SELECT ... FOR UPDATE SKIP LOCKED` on the service rows, so
concurrent runs split the work and never bill a service twice; each batch is one transaction that
bulk-creates invoices, lines and ledger entries, reserves invoice numbers with one `next_values`
call, moves balances and next billing dates with one UPDATE each, so the query count per batch is
constant. A crash rolls back the open batch only: committed batches advanced their services'
next billing dates, so a rerun continues where the crash stopped. The partial unique constraint on
(service, period_start) for live recurring invoices is the last line of defence. PDFs and
notifications are queued after each batch commits, never inside it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Case, DecimalField, Exists, F, OuterRef, Value, When
from django.utils import timezone

from billing.models import BillingAccount, CustomerService, Invoice, InvoiceLine, LedgerEntry, Suspension
from billing.proration import overlap_days, period_after
from billing.services.bulk import bulk_insert
from billing.services.credit import apply_account_credit, customers_with_credit
from billing.services.invoices import (
    LineSpec,
    bill_to,
    due_date_for,
    invoice_number,
    invoice_totals,
    prices_include_vat_for,
    recurring_line,
)
from circletel.errors import ApplicationError
from circletel.follow_ups import follow_up
from circletel.jobs import job_queue_resumable, job_run
from circletel.models import JobRun
from circletel.sequences import next_values

JOB_NAME = "generate_invoices"
PREVIEW_JOB_NAME = "generate_invoices_preview"  # dry runs: their own job name, never resumed or counted as a run
DEFAULT_BATCH = 1000
MAX_DAYS_AHEAD = 31  # a run date typed by a person may be at most this far ahead (a year typo bills a year)
MONEY_FIELD = DecimalField(max_digits=12, decimal_places=2)
TEN_PLACES = Decimal("1e-10")


@dataclass
class PlannedInvoice:
    service: CustomerService
    period_start: date
    period_end: date
    line: LineSpec | None  # None: every day of the period is a skip-billing suspension day


@dataclass
class RunResult:
    job_run_id: int
    created: int = 0
    skipped: int = 0
    failed: int = 0
    batches: int = 0
    total: Decimal = Decimal("0.00")
    preview: list = field(default_factory=list)


class InvoiceRunError(ApplicationError):
    pass


def run_date_check(run_date: date | None) -> date:
    """A run date given by a person (admin, API, command): today or earlier, or at most MAX_DAYS_AHEAD ahead.

    Further ahead would invoice (and email) every month up to it at once."""
    today = timezone.localdate()
    run_date = run_date or today
    if run_date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvoiceRunError(f"The run date {run_date:%-d %b %Y} is more than {MAX_DAYS_AHEAD} days ahead; a run "
                              f"for it would invoice every period up to then at once.", {"run_date": run_date.isoformat()})
    return run_date


def lead_cutoff(run_date: date) -> date:
    return run_date + timedelta(days=settings.BILLING["INVOICE_LEAD_DAYS"])


def eligible_services(run_date: date):
    """Services billed within the lead days; suspended ones too, unless the open suspension skips billing."""
    open_skip = Suspension.objects.filter(service=OuterRef("pk"), reactivated_on__isnull=True, skip_billing=True)
    return (CustomerService.objects
            .filter(status__in=[CustomerService.Status.ACTIVE, CustomerService.Status.SUSPENDED],
                    next_billing_date__isnull=False, next_billing_date__lte=lead_cutoff(run_date))
            .exclude(Exists(open_skip)))


def plan_for(service: CustomerService, suspensions: list[Suspension]) -> PlannedInvoice:
    """The period that starts at the service's next billing date and its (suspension-adjusted) charge."""
    start = service.next_billing_date
    end = period_after(start, service.billing_day)[1]
    skipped = sum(overlap_days(start, end, s.suspended_on, s.reactivated_on) for s in suspensions)
    skipped = min(skipped, (end - start).days)
    if skipped == (end - start).days:
        return PlannedInvoice(service, start, end, None)
    return PlannedInvoice(service, start, end, recurring_line(service, start, end, skipped))


def service_next_invoice_preview(*, service: CustomerService) -> dict | None:
    """What the run will invoice next for this service (the dashboard's "next invoice"), same code path."""
    if service.next_billing_date is None:
        return None
    suspensions = list(service.suspensions.filter(skip_billing=True, reactivated_on__isnull=False))
    plan = plan_for(service, suspensions)
    if plan.line is None:
        return {"period_start": plan.period_start, "period_end": plan.period_end, "lines": [], "total": Decimal("0.00")}
    totals = invoice_totals([plan.line], prices_include_vat=prices_include_vat_for(service.customer))
    return {"period_start": plan.period_start, "period_end": plan.period_end, "lines": [plan.line],
            "subtotal": totals.subtotal, "vat_amount": totals.vat_amount, "total": totals.total,
            "due_date": due_date_for(customer=service.customer, invoice_type=Invoice.InvoiceType.RECURRING,
                                     issue_date=plan.period_start - timedelta(days=settings.BILLING["INVOICE_LEAD_DAYS"]),
                                     period_start=plan.period_start)}


def _suspensions_by_service(service_ids: list[int]) -> dict[int, list[Suspension]]:
    out: dict[int, list[Suspension]] = defaultdict(list)
    for s in Suspension.objects.filter(service_id__in=service_ids, skip_billing=True, reactivated_on__isnull=False):
        out[s.service_id].append(s)
    return out


def _bill_batch(services: list[CustomerService], run_date: date, *, followups: bool = True) -> tuple[int, Decimal]:
    """Invoice one claimed batch (call inside atomic with the service rows locked). Returns (count, total).

    Constant query count: suspensions (1), invoice numbers (2), invoices, lines, ledger entries (1 each),
    balances (1), customers in credit (1 per credit source), next billing dates (1); plus the credit
    application for each customer who has credit (rare: a handful of queries each).
    """
    suspensions = _suspensions_by_service([s.pk for s in services])
    plans = [plan_for(s, suspensions.get(s.pk, [])) for s in services]
    billable = [p for p in plans if p.line is not None]
    rows = []
    if billable:
        numbers = next_values("invoice", len(billable))
        for plan, value in zip(billable, numbers, strict=True):
            customer = plan.service.customer
            inclusive = prices_include_vat_for(customer)
            totals = invoice_totals([plan.line], prices_include_vat=inclusive)
            rows.append({
                "number": invoice_number(run_date, value), "customer_id": customer.pk, "service_id": plan.service.pk,
                "invoice_type": Invoice.InvoiceType.RECURRING.value, "issue_date": run_date,
                "due_date": due_date_for(customer=customer, invoice_type=Invoice.InvoiceType.RECURRING,
                                         issue_date=run_date, period_start=plan.period_start),
                "period_start": plan.period_start, "period_end": plan.period_end, "prices_include_vat": inclusive,
                "subtotal": totals.subtotal, "vat_amount": totals.vat_amount, "total": totals.total,
                **bill_to(customer),
            })
        ids = bulk_insert(Invoice, rows, returning="id")
        bulk_insert(InvoiceLine, [_line_row(pk, plan.line) for pk, plan in zip(ids, billable, strict=True)])
        bulk_insert(LedgerEntry, [
            {"customer_id": row["customer_id"], "entry_type": LedgerEntry.EntryType.INVOICE.value,
             "amount": row["total"], "reference": f"invoice:{pk}", "description": f"Invoice {row['number']}",
             "effective_date": run_date, "invoice_id": pk}
            for pk, row in zip(ids, rows, strict=True)
        ])
        owed: dict[int, Decimal] = defaultdict(Decimal)
        for row in rows:
            owed[row["customer_id"]] += row["total"]
        _add_to_balances(owed)
        # Customers in credit: the credit pays their new invoice now (a query per credit source).
        for customer_id in sorted(customers_with_credit(among=owed)):
            apply_account_credit(customer_id=customer_id)
        if followups:
            _record_followups(ids)
    _set_next_billing_dates({p.service.pk: p.period_end for p in plans})
    return len(rows), sum((row["total"] for row in rows), Decimal("0.00"))


def _line_row(invoice_id: int, line: LineSpec) -> dict:
    return {"invoice_id": invoice_id, "position": 0, "description": line.description[:300], "quantity": line.quantity,
            "unit_price": line.amount if line.unit_price is None else line.unit_price, "amount": line.amount,
            "period_start": line.period_start, "period_end": line.period_end, "days_charged": line.days_charged,
            "days_in_period": line.days_in_period,
            "unrounded_amount": None if line.unrounded_amount is None else line.unrounded_amount.quantize(TEN_PLACES)}


def _add_to_balances(owed: dict[int, Decimal]) -> None:
    """One UPDATE for the whole batch: balance += the batch's invoices per customer."""
    if connection.vendor == "postgresql":
        table = BillingAccount._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS b SET balance = b.balance + v.amount, updated_at = now() "
                f"FROM unnest(%s::bigint[], %s::numeric[]) AS v(customer_id, amount) WHERE b.customer_id = v.customer_id",
                [list(owed), list(owed.values())],
            )
        return
    BillingAccount.objects.filter(customer_id__in=list(owed)).update(balance=F("balance") + Case(
        *[When(customer_id=c, then=Value(v)) for c, v in owed.items()], output_field=MONEY_FIELD))


def _set_next_billing_dates(dates: dict[int, date]) -> None:
    """One UPDATE for the whole batch: each service's next billing date moves to its period end."""
    if connection.vendor == "postgresql":
        table = CustomerService._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET next_billing_date = v.d, updated_at = now() "
                f"FROM unnest(%s::bigint[], %s::date[]) AS v(id, d) WHERE s.id = v.id",
                [list(dates), list(dates.values())],
            )
        return
    CustomerService.objects.filter(pk__in=list(dates)).update(
        next_billing_date=Case(*[When(pk=k, then=Value(v)) for k, v in dates.items()]), updated_at=timezone.now())


def _record_followups(ids: list[int]) -> None:
    """The batch's follow-ups as rows in its own transaction (durable intent; rung after commit):
    the "invoice issued" notifications (once per invoice by their idempotency key) and the PDFs
    (rendered once: a rerun skips invoices already rendered)."""
    follow_up("billing.tasks.notify_invoices_issued", ids)
    follow_up("billing.tasks.render_invoice_pdfs", ids, True, queue=settings.Q_DOCUMENTS_QUEUE)


def _claim(run_date: date, limit: int, exclude: set[int]) -> list[CustomerService]:
    qs = eligible_services(run_date)
    if exclude:
        qs = qs.exclude(pk__in=exclude)
    return list(qs.select_related("customer").select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:limit])


def invoice_run(*, run_date: date | None = None, dry_run: bool = False, triggered_by: str = "schedule",
                job_run_id: int | None = None, batch_size: int | None = None, followups: bool = True) -> RunResult:
    """Create every due recurring invoice for `run_date` (default today) exactly once."""
    run_date = run_date or timezone.localdate()
    batch_size = batch_size or settings.BILLING.get("INVOICE_RUN_BATCH") or DEFAULT_BATCH
    record = JobRun.objects.get(pk=job_run_id) if job_run_id else None
    # One live run per run date (dry runs write nothing and are not keyed). A run whose worker dies is
    # resumed by the recovery sweep with the same date (billing/apps.py registers it).
    keyed = {} if dry_run else {"run_key": run_date.isoformat(), "args": {"run_date": run_date.isoformat()}}
    with job_run(PREVIEW_JOB_NAME if dry_run else JOB_NAME, triggered_by=triggered_by, record=record, **keyed) as run:
        result = RunResult(job_run_id=run.id)
        run.details.update({"run_date": run_date.isoformat(), "dry_run": dry_run, "cutoff": lead_cutoff(run_date).isoformat()})
        if dry_run:
            _dry_run(run_date, result, batch_size)
            run.details["would_create"] = result.created
            run.details["would_total"] = str(result.total)
            run.skipped = result.skipped
            return result
        failed: set[int] = set()
        while True:
            try:
                with transaction.atomic():
                    services = _claim(run_date, batch_size, failed)
                    if not services:
                        break
                    count, total = _bill_batch(services, run_date, followups=followups)
            except (IntegrityError, DatabaseError):
                # One bad row (e.g. a period already invoiced by hand) must not stop the run: retry
                # this batch one service at a time and set the failures aside.
                count, total = _one_by_one(run_date, batch_size, failed, run, followups)
                if count is None:
                    break
            result.created += count
            result.total += total
            result.batches += 1
            run.processed += count
            run.checkpoint(batches=result.batches, invoices_total=str(result.total))
        result.failed = len(failed)
        run.details["invoices_total"] = str(result.total)
        run.details["batches"] = result.batches
    return result


def _one_by_one(run_date, batch_size, failed, run, followups):
    with transaction.atomic():
        ids = [s.pk for s in _claim(run_date, batch_size, failed)]
    if not ids:
        return None, Decimal("0.00")
    created, total = 0, Decimal("0.00")
    for pk in ids:
        try:
            with transaction.atomic():
                services = list(eligible_services(run_date).filter(pk=pk).select_related("customer")
                                .select_for_update(skip_locked=True, of=("self",)))
                if services:
                    c, t = _bill_batch(services, run_date, followups=followups)
                    created += c
                    total += t
        except (IntegrityError, DatabaseError) as exc:
            failed.add(pk)
            run.fail_item(f"service:{pk}", exc)
    return created, total


def _dry_run(run_date: date, result: RunResult, batch_size: int) -> None:
    """Plan every period the run would bill for every eligible service, without writing anything."""
    last_pk = 0
    while True:
        services = list(eligible_services(run_date).filter(pk__gt=last_pk).select_related("customer")
                        .order_by("pk")[:batch_size])
        if not services:
            return
        suspensions = _suspensions_by_service([s.pk for s in services])
        cutoff = lead_cutoff(run_date)
        for s in services:
            # Every period the run would bill: a service behind (a late or catch-up run) is billed once per
            # period up to the cutoff, as the run's loop claims it again after each period.
            while s.next_billing_date is not None and s.next_billing_date <= cutoff:
                plan = plan_for(s, suspensions.get(s.pk, []))
                s.next_billing_date = plan.period_end
                if plan.line is None:
                    result.skipped += 1
                    continue
                totals = invoice_totals([plan.line], prices_include_vat=prices_include_vat_for(s.customer))
                result.created += 1
                result.total += totals.total
                if len(result.preview) < 100:
                    result.preview.append({"service": s.pk, "period_start": plan.period_start.isoformat(),
                                           "total": str(totals.total)})
        last_pk = services[-1].pk


def invoice_run_start(*, triggered_by: str, run_date: date | None = None) -> JobRun:
    """Queue the run (a `queued` JobRun row now, its task after commit); returns the row (for its id).

    When a run for that date is already queued or running, that run is returned instead of a second.
    A task lost by the broker is queued again by the recovery sweep once the row's grace lapses."""
    run_date = run_date_check(run_date)
    with transaction.atomic():
        record = job_queue_resumable(JOB_NAME, triggered_by=triggered_by, args={"run_date": run_date.isoformat()})
    return record or JobRun.objects.filter(job_name=JOB_NAME, run_key=run_date.isoformat()).order_by("-pk").first()
