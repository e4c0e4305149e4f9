"""Commands that explain themselves (issue 18): every option of every one of our management commands has help
text; a wrong `--provider` is a usage error listing the valid ones; `zoho_reconcile` without credentials is a
one-line error like its siblings; long commands show progress on a terminal only, and a summary at the end."""

import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import BaseCommand, call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from circletel.management.commands._progress import Ticker, is_terminal, progress_bar
from inbox import registry

ROOT = Path(settings.BASE_DIR)


class Terminal(io.StringIO):
    """An output stream that says it is a terminal (as stdout is in a shell)."""

    def isatty(self):
        return True


def _our_commands() -> list[tuple[str, str]]:
    """(app, command) for every command defined in this repository (not Django's or a library's)."""
    ours = {config.name for config in apps.get_app_configs() if Path(config.path).is_relative_to(ROOT)
            and ".venv" not in Path(config.path).parts}
    return sorted((app, name) for name, app in get_commands().items() if app in ours)


BASE_DESTS = {action.dest for action in BaseCommand().create_parser("manage.py", "base")._actions}


def _options_without_help(command: BaseCommand, name: str) -> list[str]:
    parser = command.create_parser("manage.py", name)
    return [action.option_strings[0] if action.option_strings else action.dest
            for action in parser._actions if action.dest not in BASE_DESTS and not (action.help or "").strip()]


def test_every_option_of_every_command_has_help():
    commands = _our_commands()
    assert len(commands) >= 20
    assert {("zoho_sync", "zoho_backfill"), ("billing", "generate_invoices"), ("usage", "sync_usage"),
            ("inbox", "reprocess_webhook_events")} <= set(commands)
    missing = {f"{app}.{name}": gaps for app, name in commands
               if (gaps := _options_without_help(load_command_class(app, name), name))}
    assert missing == {}


def test_the_help_check_finds_an_option_without_help():
    class Command(BaseCommand):
        def add_arguments(self, parser):
            parser.add_argument("--quiet-one", action="store_true")
            parser.add_argument("--told", action="store_true", help="explained")
            parser.add_argument("thing")

    assert _options_without_help(Command(), "demo") == ["--quiet-one", "thing"]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py ...` as a shell runs it (its exit status and its stderr), with the test settings."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "circletel.settings_test", **env})


def test_an_unknown_provider_is_a_usage_error_listing_the_providers():
    done = _manage("reprocess_webhook_events", "--provider", "foo")

    assert done.returncode == 2
    assert "argument --provider: invalid choice: 'foo' (choose from 'netcash', 'paypal', 'stripe')" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_provider_choices_are_the_inbox_registrys():
    parser = load_command_class("inbox", "reprocess_webhook_events").create_parser("manage.py", "x")
    choices = next(a.choices for a in parser._actions if a.dest == "provider")
    assert choices == sorted(registry.providers()) == ["netcash", "paypal", "stripe"]


@pytest.mark.django_db
def test_a_known_provider_is_accepted():
    out = io.StringIO()
    call_command("reprocess_webhook_events", "--provider", "stripe", stdout=out)
    assert out.getvalue().startswith("processed: 0, failed: 0")


def test_zoho_reconcile_without_credentials_is_one_clean_line():
    done = _manage("zoho_reconcile", ZOHO_CLIENT_ID="", ZOHO_CLIENT_SECRET="", ZOHO_REFRESH_TOKEN="",
                   ZOHO_ORGANIZATION_ID="")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CommandError: ZOHO is not configured: set ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN, "
        "ZOHO_ORGANIZATION_ID (see .env.example and docs/zoho-sync.md)"]
    # Its sibling says it the same way (one line, exit 1).
    sibling = _manage("zoho_backfill", "--no-progress")
    assert sibling.returncode == 1 and len(sibling.stderr.strip().splitlines()) == 1
    assert sibling.stderr.startswith("CommandError: ")


# --- progress on a terminal, a summary at the end ----------------------------------------------------------

class _Cmd:
    def __init__(self, stdout):
        self.stdout = stdout


def test_progress_shows_only_on_a_terminal():
    terminal, pipe = Terminal(), io.StringIO()
    assert is_terminal(terminal) and not is_terminal(pipe)

    for out in (terminal, pipe):
        with progress_bar(_Cmd(out), total=3, desc="customer") as bar:
            bar.update(3)
        with Ticker(_Cmd(out), "Syncing", interval=0.01):
            pass

    assert "\rcustomer:   0%|          | 0/3" in terminal.getvalue()  # tqdm redraws at most every 0.1 s
    assert "\rSyncing... 0s" in terminal.getvalue()
    assert pipe.getvalue() == ""


@pytest.mark.django_db
def test_generate_invoices_shows_the_due_services_on_a_terminal_and_always_a_summary():
    from billing.services.lifecycle import service_activate
    from tests.billing.factories import service as make_service

    svc = make_service(monthly_price=Decimal("499.00"))
    service_activate(service=svc, reason="live")
    svc.refresh_from_db()
    terminal, pipe = Terminal(), io.StringIO()

    call_command("generate_invoices", "--dry-run", "--date", svc.next_billing_date.isoformat(), stdout=terminal)
    call_command("generate_invoices", "--dry-run", "--date", svc.next_billing_date.isoformat(), stdout=pipe)

    assert "\rPreviewing 1 due service... 0s" in terminal.getvalue()
    for out in (terminal, pipe):
        summary = [line for line in out.getvalue().split("\n") if "Would create" in line]
        assert len(summary) == 1 and "Would create 1 invoice(s) totalling R 499.00; skipped 0, failed 0 (job run #" \
            in summary[0]
        assert summary[0].rstrip().endswith("s).")
    assert "\r" not in pipe.getvalue() and "Previewing" not in pipe.getvalue()


@pytest.mark.django_db
def test_sync_usage_ticks_on_a_terminal_even_when_it_fails(settings):
    settings.INTERSTELLIO = {**getattr(settings, "INTERSTELLIO", {}), "API_BASE": "", "API_KEY": "", "USERNAME": "",
                             "PASSWORD": "", "TOKEN": ""}
    terminal = Terminal()

    with pytest.raises(CommandError):
        call_command("sync_usage", stdout=terminal)

    assert "\rSyncing usage from Interstellio... 0s" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")  # the line is cleared before the error is shown


@pytest.mark.django_db
def test_zoho_backfill_ends_with_a_summary(settings):
    from tests.factories import CustomerFactory

    CustomerFactory()
    CustomerFactory()
    out = io.StringIO()

    call_command("zoho_backfill", "--dry-run", "--entity", "customers", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "customer: 2 would be synced"
    assert lines[-1].startswith("Backfill dry run finished in ") and lines[-1].endswith(": 2 would sync.")
