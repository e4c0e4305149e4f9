from django.core.management.base import BaseCommand, CommandError

from billing.services.orders import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, OrderImportError, orders_import_csv
from circletel.jobs import job_run


class Command(BaseCommand):
    help = (
        "Import a legacy order export (CSV, UTF-8, header row). Columns: "
        + ", ".join(REQUIRED_COLUMNS) + " (required; phone may be empty) and "
        + ", ".join(OPTIONAL_COLUMNS) + " (optional). order_id is the import key: re-importing a file "
        "skips orders already imported. phone: E.164 (+27821234567) or SA local (0821234567); status: new, "
        "scheduled, installed, cancelled; created_at: YYYY-MM-DD[ HH:MM]. Invalid rows are reported and "
        "recorded as order issues; valid rows are imported, all in one transaction. Sample: "
        "docs/samples/orders_sample.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the CSV file.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")

    def handle(self, *args, file, dry_run=False, **options):
        try:
            with job_run("import_orders", triggered_by="command") as run:
                result = orders_import_csv(path=file, dry_run=dry_run)
                run.processed = result.imported
                run.skipped = result.skipped
                for rejected in result.rejected:
                    run.fail_item(f"line {rejected.line}", "; ".join(rejected.reasons))
                run.details.update({"file": result.filename, "rows": result.rows, "dry_run": dry_run})
        except OrderImportError as exc:
            raise CommandError(exc.message)
        prefix = "[dry run, nothing written] " if dry_run else ""
        out = self.stdout
        out.write(f"{prefix}{result.filename}: {result.rows} rows")
        out.write(f"  imported: {result.imported}")
        out.write(f"  skipped (already imported): {result.skipped}")
        out.write(f"  rejected: {len(result.rejected)}")
        for rejected in result.rejected:
            ref = f" (order_id {rejected.order_id})" if rejected.order_id else ""
            out.write(f"    line {rejected.line}{ref}: {'; '.join(rejected.reasons)}")
        if result.rejected:
            out.write(self.style.WARNING("Rejected rows are recorded as order issues (admin: Billing > Order issues)."))
        else:
            out.write(self.style.SUCCESS("All rows valid."))
