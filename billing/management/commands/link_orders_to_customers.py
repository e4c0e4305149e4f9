from django.core.management.base import BaseCommand

from billing.services.orders import orders_link_to_customers
from circletel.jobs import job_run


class Command(BaseCommand):
    help = (
        "Link consumer orders to customers by email (case-insensitive). With --create-missing, create a "
        "customer for each unmatched (not cancelled) order's email. Orders that stay unlinked are recorded "
        "as order issues (admin: Billing > Order issues). Idempotent; --dry-run changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--create-missing", action="store_true", help="Create customers for unmatched orders.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; write nothing.")

    def handle(self, *args, create_missing=False, dry_run=False, **options):
        with job_run("link_orders_to_customers", triggered_by="command") as run:
            result = orders_link_to_customers(create_missing=create_missing, dry_run=dry_run)
            run.processed = result.newly_linked
            run.skipped = result.already_linked
            for order_id, reason in result.orphan_reasons:
                run.fail_item(f"order:{order_id}", reason)
            run.details.update({"dry_run": dry_run, "create_missing": create_missing,
                                "customers_created": result.created, "success_rate": str(result.success_rate)})
        prefix = "[dry run, nothing written] " if dry_run else ""
        out = self.stdout
        out.write(f"{prefix}Orders: {result.total_orders} ({result.already_linked} already linked, "
                  f"{result.considered} to link)")
        out.write(f"  linked to existing customers: {result.linked}")
        if create_missing:
            out.write(f"  customers created: {result.created} (orders linked to them: {result.linked_to_created})")
        out.write(f"  orphans (recorded as order issues): {result.orphans}")
        for order_id, reason in result.orphan_reasons[:50]:
            out.write(f"    order {order_id}: {reason}")
        if len(result.orphan_reasons) > 50:
            out.write(f"    ... and {len(result.orphan_reasons) - 50} more (see the admin)")
        style = self.style.SUCCESS if not result.orphans else self.style.WARNING
        out.write(style(f"Success rate: {result.success_rate}% of orders linked to a customer."))
