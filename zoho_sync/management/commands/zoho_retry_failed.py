from django.core.management.base import BaseCommand, CommandError

from circletel.management.commands._progress import progress_bar
from zoho_sync.management.commands._common import entity_types, require_enabled
from zoho_sync.services import monitoring
from zoho_sync.services.sync import entity_sync


class Command(BaseCommand):
    help = ("Retry every failed and retrying ZOHO sync now (attempt count restarts), in dependency order. "
            "Waiting rows (recurring invoices ZOHO has not made yet) are not retried: they are checked on schedule.")

    def add_arguments(self, parser):
        parser.add_argument("--entity", default="all",
                            help="customers | subscriptions | invoices | payments | all (default)")
        parser.add_argument("--dry-run", action="store_true", help="list what would be retried; call nothing")
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar (it is shown only when the output is a terminal)")

    def handle(self, *args, **opts):
        require_enabled(opts["dry_run"])
        still_failing = 0
        for entity_type in entity_types(opts["entity"]):
            ids = monitoring.failed_ids(entity_type, include_retrying=True)
            if opts["dry_run"]:
                self.stdout.write(f"{entity_type}: {len(ids)} failed/retrying would be retried {ids[:20]}")
                continue
            ok = waiting = 0
            for pk in progress_bar(self, iterable=ids, desc=entity_type, disable=opts["no_progress"]):
                result = entity_sync(entity_type=entity_type, pk=pk, force=True)
                if result.status == "synced":
                    ok += 1
                elif result.status in ("waiting", "deferred"):
                    waiting += 1
                    self.stdout.write(f"{entity_type} #{pk}: {result.status}: {result.error}")
                else:
                    still_failing += 1
                    self.stderr.write(f"{entity_type} #{pk}: {result.status}: {result.error}")
            self.stdout.write(f"{entity_type}: {ok} of {len(ids)} synced" + (f", {waiting} waiting/deferred" if waiting else ""))
        if still_failing:
            raise CommandError(f"{still_failing} still not synced")
