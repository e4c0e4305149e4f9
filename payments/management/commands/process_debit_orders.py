from datetime import date

from django.core.management.base import BaseCommand, CommandError

from payments.tasks import process_debit_orders


class Command(BaseCommand):
    help = "Prepare (and submit) the TwoDay debit-order batch for a run date. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Run date YYYY-MM-DD (default today, SAST)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be collected; write nothing")

    def handle(self, *args, **options):
        run_date = options.get("date")
        if run_date:
            try:
                date.fromisoformat(run_date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, got {run_date!r}") from exc
        result = process_debit_orders(run_date=run_date, dry_run=options["dry_run"], triggered_by="command")
        self.stdout.write(f"Action date {result['action_date']}: {len(result['queued'])} to collect "
                          f"(R {result['total']}), {len(result['held'])} held{' [dry run]' if options['dry_run'] else ''}")
        for number, amount in result["queued"]:
            self.stdout.write(f"  collect {number} R {amount}")
        for number, amount, reason in result["held"]:
            self.stdout.write(f"  HELD {number} R {amount}: {reason}")
        if result.get("note"):
            self.stdout.write(result["note"])
