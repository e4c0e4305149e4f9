"""`manage.py sync_usage [--service ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--dry-run]`.

Runs the same tracked sync as the hourly schedule (`usage.tasks.sync_usage`), by hand.
Bad arguments or an unconfigured provider exit non-zero with a message and write nothing. On a terminal a
line shows the time so far while the sync works; the summary is printed at the end either way.
"""

import datetime as dt

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from circletel.management.commands._progress import Ticker
from circletel.models import JobRun
from usage.services import UsageError, usage_sync_run


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date in the form YYYY-MM-DD.")


class Command(BaseCommand):
    help = "Sync daily data usage from Interstellio (default: yesterday and today, every active service)."

    def add_arguments(self, parser):
        parser.add_argument("--service", type=int, dest="service_id", help="Only this CustomerService id.")
        parser.add_argument("--from", dest="date_from", help="First day, YYYY-MM-DD (default yesterday).")
        parser.add_argument("--to", dest="date_to", help="Last day, YYYY-MM-DD (default today).")
        parser.add_argument("--dry-run", action="store_true", help="Fetch and report, write nothing.")

    def handle(self, *args, service_id=None, date_from=None, date_to=None, dry_run=False, **options):
        date_from = _date(date_from) if date_from else None
        date_to = _date(date_to) if date_to else None
        try:
            with Ticker(self, "Syncing usage from Interstellio") as ticker:
                run_id = usage_sync_run(service_id=service_id, date_from=date_from, date_to=date_to, dry_run=dry_run,
                                        triggered_by="command")
        except UsageError as exc:
            raise CommandError(exc.message)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc))
        run = JobRun.objects.get(pk=run_id)
        details = run.details or {}
        self.stdout.write(
            f"sync_usage run #{run.pk} {run.status}: {run.processed_count} synced, {run.failed_count} failed, "
            f"{details.get('days_written', 0)} day(s) written, {details.get('alerts', 0)} alert(s)"
            f"{' (dry run: nothing written)' if dry_run else ''} in {ticker.elapsed:.1f}s."  # not money
        )
        for error in details.get("errors", []):
            self.stderr.write(f"  {error['item']}: {error['error']}")
        if run.failed_count and not run.processed_count:
            raise CommandError(f"Every service failed to sync (run #{run.pk}).")
