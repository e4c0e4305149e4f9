"""`manage.py apply_credit`: apply unapplied account credit to open invoices (the dunning run does it daily)."""

from django.core.management.base import BaseCommand

from billing.services.credit import credit_apply_sweep
from circletel.money import format_zar


class Command(BaseCommand):
    help = "Apply every customer's unapplied credit (over-payments, credit-note remainders) to their open invoices."

    def handle(self, *args, **options):
        result = credit_apply_sweep()
        if not result["customers_checked"]:
            self.stdout.write("Nothing to do: no customer has open invoices beside unapplied credit.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Applied {format_zar(result['amount'])} of credit for {result['customers_applied']} of "
            f"{result['customers_checked']} customer(s)."))
