import json

from django.core.management.base import BaseCommand, CommandError

from zoho_sync.management.commands._common import require_credentials
from zoho_sync.services import reconcile


class Command(BaseCommand):
    help = "Drift report: per customer, our invoice totals, VAT, payments and outstanding vs ZOHO's."

    def add_arguments(self, parser):
        parser.add_argument("--customer", type=int, help="one customer id")
        parser.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or json")
        parser.add_argument("--limit", type=int, default=0, help="at most N customers (0 = every synced customer)")

    def handle(self, *args, **opts):
        if opts["limit"] < 0:
            raise CommandError("--limit must be >= 0")
        require_credentials()
        try:
            rows = reconcile.reconcile_customers(customer_id=opts["customer"], limit=opts["limit"] or None)
        except reconcile.ReconcileError as exc:
            raise CommandError(exc.message)
        except Exception as exc:  # a ZOHO error is a clean message, never a traceback
            from circletel.http import ProviderError

            if isinstance(exc, ProviderError):
                raise CommandError(f"ZOHO could not be read: {exc}")
            raise
        drifted = [r for r in rows if r["drift"]]
        if opts["format"] == "json":
            self.stdout.write(json.dumps({"customers": rows, "drifted": len(drifted)}, indent=2, default=str))
        else:
            for r in rows:
                flag = "DRIFT" if r["drift"] else "ok"
                self.stdout.write(f"{flag:5} {r['account_number']} (zoho {r['zoho_id']})")
                for key, d in r["drift"].items():
                    self.stdout.write(f"      {key}: ours {d['ours']} zoho {d['zoho']} diff {d['diff']}")
            self.stdout.write(f"{len(rows)} customers checked, {len(drifted)} with drift > R0.01")
        if drifted:
            raise CommandError(f"{len(drifted)} customers differ from ZOHO by more than a cent")
