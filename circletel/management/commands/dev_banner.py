"""`make run`'s last word: once the site answers, print its URL and the demo logins, then wait.

It is one process of Procfile.dev (honcho), so it prints after the web server and the task workers have
started and their start-up lines have gone by. The logins are the lines `seed_demo` reported (saved by
`make seed` in var/log/seed.log): this platform command names no app above it. It first waits for
the task queues to stay empty a few seconds, so the emails and PDFs seeding queued go by before it,
not after. It then sleeps until honcho stops it (Ctrl-C), exiting quietly: a Procfile process that
ends would stop all the others.
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def login_lines(seed_log: Path) -> list[str]:
    """The "... login: ..." lines of seed_demo's output, as it printed them."""
    try:
        text = seed_log.read_text(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if "login:" in line.lower()]


def site_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (our own dev server)
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (a 503 from /health/ too) means the server is up
    except (OSError, ValueError):
        return False


def waiting_tasks() -> int | None:
    """Tasks waiting in the main, documents and zoho queues (None when the broker cannot say)."""
    from circletel.queue import broker

    names = {None, getattr(settings, "Q_DOCUMENTS_QUEUE", ""), getattr(settings, "Q_ZOHO_QUEUE", "")}
    try:
        return sum(broker(name or None).queue_size() or 0 for name in names)
    except Exception:  # noqa: BLE001 (a dev convenience: never stop the banner)
        return None


class Command(BaseCommand):
    help = "Development only (Procfile.dev): wait until the site answers, print its URL and the demo logins, then wait."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the site's address (default %(default)s)")
        parser.add_argument("--seed-log", default="var/log/seed.log",
                            help="seed_demo's saved output, where the logins are read (default %(default)s)")
        parser.add_argument("--wait", type=float, default=120.0,
                            help="seconds to wait for the site before printing anyway (default %(default)s)")
        parser.add_argument("--settle", type=float, default=3.0,
                            help="seconds the task queues must stay empty before printing (default %(default)s)")
        parser.add_argument("--once", action="store_true", help="print and exit instead of waiting for Ctrl-C")

    def handle(self, *args, url, seed_log, wait, settle, once, **options):
        stop = _install_quiet_exit()
        url = url if url.endswith("/") else url + "/"
        deadline = time.monotonic() + wait
        probe = url + "health/"  # answers (200 or 503) without any table of ours, never raises
        up = site_answers(probe)
        while not up and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.3)
            up = site_answers(probe)
        # Then let the workers work off what seeding queued (emails, PDFs: one console line each), so the
        # banner comes after them: until the queues have stayed empty for `settle` seconds (at most `wait`).
        quiet_since = None
        deadline = time.monotonic() + (wait if up else 0)
        while time.monotonic() < deadline and not stop.is_set():
            if waiting_tasks():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                break
            time.sleep(0.5)
        if stop.is_set():
            return
        log = Path(seed_log)
        if not log.is_absolute():
            log = Path(settings.BASE_DIR) / log
        self.stdout.write(self.banner(url, up, login_lines(log)))
        self.stdout.flush()
        if once:
            return
        while not stop.is_set():
            stop.wait(1.0)  # the handler's set() wakes it at once

    def banner(self, url: str, up: bool, logins: list[str]) -> str:
        mail = Path(getattr(settings, "EMAIL_FILE_PATH", "var/mail"))
        try:
            mail = mail.relative_to(Path(settings.BASE_DIR))
        except ValueError:
            pass
        rule = "=" * 78
        lines = [rule, f"  CircleTel Billing is running{'' if up else ' (the site has not answered yet)'}", ""]
        lines += [f"  Site:   {url}", f"  Admin:  {url}admin/", f"  API:    {url}api/docs/", ""]
        if logins:
            lines += [f"  {line}" for line in logins]
        else:
            lines.append("  No demo logins found: run `make seed` (demo data with the admin and customer logins).")
        uses_file_backend = settings.EMAIL_BACKEND == "circletel.dev_email.EmailBackend"
        lines += [""]
        if uses_file_backend:
            lines.append(f"  Emails: saved in {mail}/ (one line each on this console)")
        lines += ["  Ctrl-C stops the web server and the task workers.", rule]
        return "\n".join(lines)


def _install_quiet_exit():
    """SIGINT/SIGTERM set an event instead of raising KeyboardInterrupt (no traceback on Ctrl-C)."""
    import threading

    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    return stop
