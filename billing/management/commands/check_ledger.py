"""`manage.py check_ledger`: recompute balances and invoice paid amounts; non-zero exit on any difference."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.ledger_check import ledger_differences


class Command(BaseCommand):
    help = "Recompute every customer's balance and every invoice's paid amount from the ledger and payments."

    def handle(self, *args, **options):
        differences = ledger_differences()
        for d in differences:
            self.stdout.write(str(d))
        if differences:
            raise CommandError(f"{len(differences)} difference(s) between stored and recomputed amounts.")
        self.stdout.write(self.style.SUCCESS("Ledger OK: every balance and paid amount agrees with its sources."))
