from django.core.management.base import BaseCommand, CommandError

from zoho_sync.management.commands._common import model, require_enabled
from zoho_sync.models import SyncStatus
from zoho_sync.services.sync import ENTITY_MODELS, entity_sync


class Command(BaseCommand):
    help = "Sync one entity now and print the result, its ZOHO id and the time taken (--find lists candidates)."

    def add_arguments(self, parser):
        parser.add_argument("entity_type", choices=list(ENTITY_MODELS), help="what to sync: " + ", ".join(ENTITY_MODELS))
        parser.add_argument("id", nargs="?", type=int, help="its id in our database (not needed with --find)")
        parser.add_argument("--force", action="store_true", help="sync even if synced / failed / not yet due")
        parser.add_argument("--find", action="store_true", help="list rows of this type that need syncing")
        parser.add_argument("--dry-run", action="store_true", help="show the row's sync state; call nothing")

    def handle(self, *args, **opts):
        entity_type = opts["entity_type"]
        qs = model(entity_type).objects
        if opts["find"]:
            rows = (qs.exclude(zoho_sync_status=SyncStatus.SYNCED).order_by("pk")
                    .values_list("pk", "zoho_sync_status", "zoho_attempts", "zoho_last_error")[:100])
            for pk, status, attempts, error in rows:
                self.stdout.write(f"{entity_type} #{pk}: {status} (attempts {attempts}) {error[:100]}")
            self.stdout.write(f"{len(rows)} shown")
            return
        if opts["id"] is None:
            raise CommandError("give the entity id (or --find)")
        if not qs.filter(pk=opts["id"]).exists():
            raise CommandError(f"{entity_type} #{opts['id']} does not exist")
        if opts["dry_run"]:
            row = qs.filter(pk=opts["id"]).values("zoho_sync_status", "zoho_id").get()
            self.stdout.write(f"{entity_type} #{opts['id']}: {row['zoho_sync_status']} zoho_id={row['zoho_id'] or '-'}"
                              " (dry run: nothing called)")
            return
        require_enabled(False)
        result = entity_sync(entity_type=entity_type, pk=opts["id"], force=opts["force"])
        self.stdout.write(f"{entity_type} #{opts['id']}: {result.status} {result.action} "
                          f"zoho_id={result.zoho_id or '-'} in {result.duration_ms} ms")
        if result.status == "skipped":
            self.stdout.write("not claimed: already synced, not due, failed (use --force) or held by another worker")
        if result.status not in ("synced", "skipped"):
            raise CommandError(result.error or result.status)
