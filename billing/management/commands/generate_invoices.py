"""`manage.py generate_invoices [--date YYYY-MM-DD] [--dry-run] [--batch-size N]`: the invoice run, by hand.

On a terminal a line shows how many services are due and the time so far while the run works; the summary
(invoices, total, skipped, failed, job run, time taken) is printed at the end either way."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.services.invoice_run import (
    DEFAULT_BATCH,
    InvoiceRunError,
    eligible_services,
    invoice_run,
    run_date_check,
)
from circletel.jobs import RunAlreadyLive
from circletel.management.commands._progress import Ticker, is_terminal


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        if len(value) == 10 and value[4] == value[7] == "-":
            raise CommandError(f"--date {value} is not a day of the calendar")
        raise CommandError(f"--date must be YYYY-MM-DD, not {value!r}")


class Command(BaseCommand):
    help = "Create the recurring invoices due within the lead days of --date (default today), exactly once."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="run_date", help="Run date YYYY-MM-DD (default: today, SAST).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be invoiced; write nothing.")
        parser.add_argument("--batch-size", type=int, default=None,
                            help=f"Services claimed and invoiced per transaction (default: the INVOICE_RUN_BATCH "
                                 f"setting, {DEFAULT_BATCH} unless set).")

    def handle(self, *args, run_date=None, dry_run=False, batch_size=None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        day = _date(run_date) if run_date else None
        try:
            day = run_date_check(day)
        except InvoiceRunError as exc:
            raise CommandError(str(exc))
        label = "Invoice run"
        if is_terminal(self.stdout):  # counting is a query: only when someone watches
            due = eligible_services(day or timezone.localdate()).count()
            label = f"{'Previewing' if dry_run else 'Invoicing'} {due} due service{'s' if due != 1 else ''}"
        with Ticker(self, label) as ticker:
            try:
                result = invoice_run(run_date=day, dry_run=dry_run, triggered_by="command", batch_size=batch_size)
            except RunAlreadyLive as exc:
                raise CommandError(f"{exc}; it goes on by itself (each service is invoiced once). Check the job "
                                   f"run in the admin before starting another.")
        verb = "Would create" if dry_run else "Created"
        self.stdout.write(f"{verb} {result.created} invoice(s) totalling R {result.total:,.2f}; "
                          f"skipped {result.skipped}, failed {result.failed} (job run #{result.job_run_id}, "
                          f"{ticker.elapsed:.1f}s).")  # not money
        for row in result.preview[:20]:
            self.stdout.write(f"  service {row['service']}: period from {row['period_start']}, R {row['total']}")
        if result.failed:
            raise CommandError(f"{result.failed} service(s) failed; see job run #{result.job_run_id}.")
