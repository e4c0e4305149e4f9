"""Write a local `.env` for development when there is none (`make run` / `make seed` / `make migrate`).

With it, every command run by hand (`.venv/bin/python manage.py import_orders ...`) gets the same
development settings as `make run`: DEBUG on, a SECRET_KEY of its own, demo data allowed, the sandbox
gateway, emails saved to var/mail. An existing file is never touched: delete it to get a new one.
`.env.example` documents every variable (and what production needs).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The key `make run` used before it wrote a .env (circletel/settings.py, DEBUG default). Demo bank details
# stored under it stay readable: its Fernet key follows the new one in FIELD_ENCRYPTION_KEYS (decrypt only).
OLD_DEV_SECRET_KEY = "dev-only-insecure-key-change-me"


def fernet_key_from(secret: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(f"fernet:{secret}".encode()).digest()).decode()


def dev_env_text() -> str:
    new_fernet = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return "\n".join([
        "# Local development settings, written by `make run` because there was no .env. It is never",
        "# overwritten (delete it to get a new one) and git-ignored. Never use these values in production:",
        "# .env.example documents every variable and what production needs.",
        "DEBUG=true",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        "# The second key only reads data encrypted before this file existed (the old built-in dev key).",
        f"FIELD_ENCRYPTION_KEYS={new_fernet},{fernet_key_from(OLD_DEV_SECRET_KEY)}",
        "# seed_demo may create the demo logins (an admin with a published password)",
        "DEMO_DATA_ALLOWED=true",
        "# the sandbox payment gateway: pay invoices without a real provider",
        "SANDBOX_GATEWAY_ENABLED=true",
        "# emails are saved as .eml files in EMAIL_FILE_PATH, one line each on the console",
        "EMAIL_BACKEND=circletel.dev_email.EmailBackend",
        "EMAIL_FILE_PATH=var/mail",
        "# card payments against the local Stripe stand-in (payments/stripe_standin.py, the `stripe` process of",
        "# Procfile.dev): Stripe's test cards, e.g. 4242 4242 4242 4242; 4000 0027 6000 3184 asks for 3-D Secure",
        "STRIPE_STANDIN_PORT=8765",
        "STRIPE_SECRET_KEY=sk_test_standin",
        "STRIPE_PUBLISHABLE_KEY=pk_test_standin",
        f"STRIPE_WEBHOOK_SECRET=whsec_{secrets.token_hex(16)}",
        "STRIPE_API_BASE=http://127.0.0.1:8765",
        "STRIPE_JS_URL=http://127.0.0.1:8765/v3/",
        "",
    ])


class Command(BaseCommand):
    help = "Development only: write a local .env (DEBUG on, a generated SECRET_KEY, demo data, sandbox, file email) if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=".env",
                            help="where to write it, relative to the project root (default %(default)s)")

    def handle(self, *args, path, **options):
        target = Path(path)
        if not target.is_absolute():
            target = Path(settings.BASE_DIR) / target
        if target.exists():
            self.stdout.write(f"{path} exists: left as it is.")
            return
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent} is not a directory.")
        try:
            # O_EXCL: never overwrite, even a file that appeared since the check above.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            self.stdout.write(f"{path} exists: left as it is.")
            return
        with os.fdopen(fd, "w") as handle:
            handle.write(dev_env_text())
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {path} for development (DEBUG on, a new SECRET_KEY): commands run by hand use it too."))
