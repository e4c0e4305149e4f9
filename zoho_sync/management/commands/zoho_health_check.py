import json

from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

from zoho_sync.services import health


class Command(BaseCommand):
    help = "ZOHO sync health: database state, recent activity, API connectivity, data integrity. Exit 0/1."

    def add_arguments(self, parser):
        parser.add_argument("--detailed", action="store_true")
        parser.add_argument("--format", choices=["text", "json", "email"], default="text")
        parser.add_argument("--skip-api", action="store_true", help="do not call ZOHO")

    def handle(self, *args, **opts):
        report = health.health_report(check_api=not opts["skip_api"], detailed=opts["detailed"])
        if opts["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            text = health.render_text(report)
            if opts["format"] == "email":
                from django.conf import settings

                subject = f"ZOHO sync health: {'OK' if report['healthy'] else 'UNHEALTHY'}"
                send_mail(subject, text, None, [settings.OPS_EMAIL])
                self.stdout.write(f"sent to {settings.OPS_EMAIL}")
            self.stdout.write(text)
        if not report["healthy"]:
            raise CommandError("ZOHO sync is unhealthy: " + "; ".join(report["problems"]))
