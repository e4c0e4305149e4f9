from django.core.management.base import BaseCommand, CommandError

from zoho_sync.services import monitoring


class Command(BaseCommand):
    help = "Email (HTML + text) and webhook alert listing failed ZOHO syncs."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=int, default=0, help="only rows that failed in the last N hours")
        parser.add_argument("--dry-run", action="store_true", help="list the failed rows; send no alert")

    def handle(self, *args, **opts):
        if opts["since"] < 0:
            raise CommandError("--since must be >= 0")
        rows = monitoring.failed_rows(since_hours=opts["since"] or None)
        for r in rows[:50]:
            self.stdout.write(f"{r['entity_type']} #{r['entity_id']} {r['label']}: {r['error'][:120]}")
        if not rows:
            self.stdout.write("No failed ZOHO syncs.")
            return
        if opts["dry_run"]:
            self.stdout.write(f"{len(rows)} failed (dry run: no alert sent)")
            return
        sent = monitoring.failed_alert_send(rows=rows, since_hours=opts["since"] or None)
        self.stdout.write(f"{len(rows)} failed; {sent} alert message(s) queued"
                          + ("" if sent else " (already alerted this hour, or no ops recipients configured)"))
