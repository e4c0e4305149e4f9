from django.core.management.base import BaseCommand, CommandError

from inbox import registry
from inbox.models import WebhookEvent
from inbox.tasks import reprocess_webhook_events


class Command(BaseCommand):
    help = "Reprocess webhook events left pending or failed (safe to repeat)."

    def add_arguments(self, parser):
        # The providers some app takes events from (inbox.registry); anything else is a usage error (exit 2).
        providers = sorted(registry.providers())
        parser.add_argument("--provider", choices=providers,
                            help=f"Only this provider's events: {', '.join(providers) or 'none registered'}.")
        parser.add_argument("--failed", action="store_true", help="Only failed events")
        parser.add_argument("--id", type=int, action="append", dest="ids", help="Event id (repeatable)")

    def handle(self, *args, **options):
        ids = options.get("ids")
        if ids:
            missing = set(ids) - set(WebhookEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No webhook event with id {sorted(missing)}")
        counts = reprocess_webhook_events(provider=options.get("provider"), failed_only=options["failed"], ids=ids,
                                          triggered_by="command")
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in counts.items()))
