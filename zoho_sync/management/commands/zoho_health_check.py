"""ZOHO sync health. Exit codes (docs/zoho-sync.md):

    0  healthy (with --ping: ZOHO answered and our organisation is reachable)
    1  unhealthy: the problems are printed (and the API step that failed, with what it had proved)
    2  disabled: ENABLE_ZOHO_SYNC is off and nothing was asked of ZOHO (use --ping to test the
       credentials anyway)
"""

import json

from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

from zoho_sync.services import health

EXIT_UNHEALTHY = 1
EXIT_DISABLED = 2


class Command(BaseCommand):
    help = ("ZOHO sync health: database state, recent activity, API connectivity, data integrity. "
            "Exit 0 healthy, 1 unhealthy, 2 disabled (sync off, ZOHO not called; --ping calls it anyway).")

    def add_arguments(self, parser):
        parser.add_argument("--detailed", action="store_true", help="add counts per entity, latency, sync durations and receipt delivery")
        parser.add_argument("--format", choices=["text", "json", "email"], default="text",
                            help="text (default), json, or email: send the text report to OPS_EMAIL as well")
        parser.add_argument("--skip-api", action="store_true", help="do not call ZOHO")
        parser.add_argument("--ping", action="store_true",
                            help="call ZOHO even with the sync off: refresh the OAuth token, list the organisations, "
                                 "find ours; prints what each step proved")

    def handle(self, *args, **opts):
        if opts["ping"] and opts["skip_api"]:
            raise CommandError("--ping and --skip-api contradict each other")
        report = health.health_report(check_api=not opts["skip_api"], detailed=opts["detailed"], ping=opts["ping"])
        if opts["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            text = health.render_text(report)
            if opts["format"] == "email":
                from django.conf import settings

                subject = f"ZOHO sync health: {report['state'].upper()}"
                send_mail(subject, text, None, [settings.OPS_EMAIL])
                self.stdout.write(f"sent to {settings.OPS_EMAIL}")
            self.stdout.write(text)
        if report["state"] == "unhealthy":
            raise CommandError("ZOHO sync is unhealthy: " + "; ".join(report["problems"]), returncode=EXIT_UNHEALTHY)
        if report["state"] == "disabled":
            raise CommandError("ZOHO sync is disabled (ENABLE_ZOHO_SYNC off): ZOHO was not called; "
                               "run with --ping to test the credentials", returncode=EXIT_DISABLED)
