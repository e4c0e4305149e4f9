"""Development email backend: each message is saved as a `.eml` file, with one line on the console.

`make run` (DEBUG on) uses it unless EMAIL_BACKEND says otherwise: the demo sends dozens of invoice and
reminder emails, and printing each in full (as Django's console backend does) buried the logins and the
URL. Open a saved message with any mail client (`xdg-open var/mail/<file>.eml`) or read it as text.
Production sets EMAIL_BACKEND to a django-anymail provider (.env.example); this backend never sends.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("circletel.email")

_SLUG = re.compile(r"[^A-Za-z0-9]+")
_counter_lock = threading.Lock()
_counter = 0


def _next_number() -> int:
    global _counter
    with _counter_lock:
        _counter += 1
        return _counter


class EmailBackend(BaseEmailBackend):
    """Writes every message to EMAIL_FILE_PATH (default var/mail) as `<time>-<pid>-<n>-<subject>.eml`."""

    def __init__(self, file_path: str | None = None, **kwargs):
        super().__init__(**kwargs)
        path = file_path or getattr(settings, "EMAIL_FILE_PATH", None) or Path(settings.BASE_DIR) / "var" / "mail"
        self.directory = Path(path)
        if not self.directory.is_absolute():
            self.directory = Path(settings.BASE_DIR) / self.directory

    def send_messages(self, email_messages) -> int:
        if not email_messages:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            slug = _SLUG.sub("-", str(message.subject)).strip("-")[:40] or "no-subject"
            name = f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-{_next_number():04d}-{slug}.eml"
            target = self.directory / name
            target.write_bytes(message.message().as_bytes(linesep="\n"))
            try:
                shown = target.relative_to(Path(settings.BASE_DIR))
            except ValueError:
                shown = target
            logger.info("email to %s: %s -> %s", ", ".join(message.to or message.recipients()), message.subject, shown)
            sent += 1
        return sent

