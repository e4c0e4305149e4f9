"""Serve the local Stripe stand-in (API + fake Stripe.js) until SIGTERM/SIGINT: for `make run`, not production."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.stripe_standin import StripeStandIn


class Command(BaseCommand):
    help = ("Run the Stripe stand-in on 127.0.0.1 (keys from settings.STRIPE); point STRIPE_API_BASE at the URL "
            "it prints. It is not Stripe: it plays back documented shapes for local demos and browser tests.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
        parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/api/webhooks/stripe",
                            help="where signed events are POSTed ('' to send none)")
        parser.add_argument("--idle-if-unconfigured", action="store_true",
                            help="without the STRIPE_* keys, say so and wait for the stop signal instead of failing "
                                 "(`make run` with a .env written before the stand-in existed: honcho stops every "
                                 "process when one exits)")

    def handle(self, *args, **options):
        keys = {name: settings.STRIPE.get(name) or "" for name in ("SECRET_KEY", "PUBLISHABLE_KEY", "WEBHOOK_SECRET")}
        missing = [f"STRIPE_{name}" for name, value in keys.items() if not value]
        if missing and options["idle_if_unconfigured"]:
            self.stdout.write(f"Stripe stand-in off: {', '.join(missing)} not set (card payments are off; delete .env "
                              "and run `make run` again to get the stand-in's keys).")
            self.stdout.flush()
            self._wait_for_stop()
            return
        if missing:
            raise CommandError(f"{', '.join(missing)} not set: the stand-in takes its keys from settings.STRIPE.")
        try:
            standin = StripeStandIn(secret_key=keys["SECRET_KEY"], publishable_key=keys["PUBLISHABLE_KEY"],
                                    webhook_url=options["webhook_url"] or None,
                                    webhook_secret=keys["WEBHOOK_SECRET"]).start(port=options["port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc}") from exc
        self.stdout.write(f"Stripe stand-in on {standin.url} (Stripe.js {standin.js_url}), "
                          f"webhooks to {options['webhook_url'] or 'nowhere'}")
        self.stdout.flush()
        try:
            self._wait_for_stop()
        finally:
            standin.stop()
        self.stdout.write("Stripe stand-in stopped.")

    @staticmethod
    def _wait_for_stop() -> None:
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
