"""`manage.py generate_invoices [--date YYYY-MM-DD] [--dry-run] [--batch-size N]`: the invoice run, by hand."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from billing.services.invoice_run import DEFAULT_BATCH, invoice_run


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD, not {value!r}")


class Command(BaseCommand):
    help = "Create the recurring invoices due within the lead days of --date (default today), exactly once."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="run_date", help="Run date YYYY-MM-DD (default: today, SAST).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be invoiced; write nothing.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)

    def handle(self, *args, run_date=None, dry_run=False, batch_size=DEFAULT_BATCH, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        result = invoice_run(run_date=_date(run_date) if run_date else None, dry_run=dry_run,
                             triggered_by="command", batch_size=batch_size)
        verb = "Would create" if dry_run else "Created"
        self.stdout.write(f"{verb} {result.created} invoice(s) totalling R {result.total:,.2f}; "
                          f"skipped {result.skipped}, failed {result.failed} (job run #{result.job_run_id}).")
        for row in result.preview[:20]:
            self.stdout.write(f"  service {row['service']}: period from {row['period_start']}, R {row['total']}")
        if result.failed:
            raise CommandError(f"{result.failed} service(s) failed; see job run #{result.job_run_id}.")
