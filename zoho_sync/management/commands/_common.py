"""Shared bits of the ZOHO commands (underscore: not a command itself)."""

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError

from zoho_sync.services.sync import DEPENDENCY_ORDER, ENTITY_MODELS

PLURALS = {"customers": "customer", "subscriptions": "service", "services": "service", "invoices": "invoice",
           "payments": "payment"}


def entity_types(choice: str | None) -> list[str]:
    if not choice or choice == "all":
        return list(DEPENDENCY_ORDER)
    entity = PLURALS.get(choice, choice)
    if entity not in ENTITY_MODELS:
        raise CommandError(f"unknown entity {choice!r}: use customers, subscriptions, invoices, payments or all")
    return [entity]


def model(entity_type: str):
    return apps.get_model(ENTITY_MODELS[entity_type])


def require_enabled(dry_run: bool) -> None:
    if not dry_run and not settings.ENABLE_ZOHO_SYNC:
        raise CommandError("ENABLE_ZOHO_SYNC is off: nothing may call ZOHO (use --dry-run to see the work)")
    if not dry_run:
        require_credentials()


def require_credentials() -> None:
    """A clean message (exit 1, no traceback) when ZOHO_* credentials are missing or invalid."""
    from django.core.exceptions import ImproperlyConfigured

    from zoho_sync.clients.zoho import load_config

    try:
        load_config()
    except ImproperlyConfigured as exc:
        raise CommandError(f"{exc} (see .env.example and docs/zoho-sync.md)")
