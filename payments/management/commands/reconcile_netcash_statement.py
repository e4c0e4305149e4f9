from datetime import date

from django.core.management.base import BaseCommand, CommandError

from circletel.management.commands._progress import Ticker
from payments.clients import netcash_niws
from payments.tasks import reconcile_netcash_statement


class Command(BaseCommand):
    help = ("Read the NetCash merchant statement and apply its lines once each (debit orders settled or "
            "returned, Pay Now payments confirmed), then print the day's reconciliation. Safe to run twice.")

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Statement date YYYY-MM-DD (default: yesterday for the full statement, "
                                           "today for --interim)")
        parser.add_argument("--interim", action="store_true", help="Today's interim statement (Pay Now EFT, cash)")

    def handle(self, *args, **options):
        day = options.get("date")
        if day:
            try:
                date.fromisoformat(day)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, got {day!r}") from exc
        if not netcash_niws.statement_configured():
            raise CommandError("NETCASH_ACCOUNT_SERVICE_KEY is not set: the merchant statement cannot be read.")
        kind = "interim" if options["interim"] else "daily"
        with Ticker(self, f"Reading and settling the NetCash {kind} statement") as ticker:
            result = reconcile_netcash_statement(kind=kind, day=day, triggered_by="command")
        if result.get("fetch_error"):
            self.stderr.write(f"Statement not read: {result['fetch_error']}")
        elif result.get("statement") == "requested":
            self.stdout.write("NetCash is still preparing the statement (FILE NOT READY); run again shortly.")
        keys = ("lines", "settled", "returned", "failed", "confirmed", "completed", "unmatched", "ignored",
                "unconfirmed_flagged")
        self.stdout.write(f"Statement {result['day']} ({result['kind']}): "
                          + ", ".join(f"{k} {result.get(k, 0)}" for k in keys)
                          + f" ({ticker.elapsed:.1f}s)")  # not money
        if "totals_equal" in result:
            self.stdout.write("Totals equal." if result["totals_equal"] else
                              "Totals differ: see Payments > Reconciliation reports and differences in the admin.")
        if result.get("fetch_error"):
            raise CommandError("the statement could not be read")
