"""Webhook housekeeping: reprocess pending/failed events, prune old processed ones."""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.models import WebhookEvent
from payments.webhooks import events_due_for_reprocessing, webhook_process

logger = logging.getLogger(__name__)

# provider -> (module, attribute names to try) for its handler dict.
HANDLER_SOURCES = {
    "netcash": ("payments.services.netcash_paynow", ("PAYNOW_HANDLERS",)),
    "stripe": ("payments.webhooks_stripe", ("STRIPE_HANDLERS", "HANDLERS")),
    "paypal": ("payments.webhooks_paypal", ("PAYPAL_HANDLERS", "HANDLERS")),
}


def handlers_for(provider: str) -> dict | None:
    source = HANDLER_SOURCES.get(provider)
    if source is None:
        return None
    module_name, names = source
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    for name in names:
        handlers = getattr(module, name, None)
        if handlers is not None:
            return handlers
    return None


def webhook_event_process(*, event_id: int) -> WebhookEvent | None:
    """Apply one recorded event (the `process_webhook_event` task the webhooks queue on commit).

    Safe to run twice or next to the reprocess sweep: a finished event is left alone and
    `webhook_process` claims the row first, so only one worker ever applies it. Returns None when
    the event no longer exists (pruned) or its provider has no handlers.
    """
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("webhook event %s not found (pruned?)", event_id)
        return None
    if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
        return event
    handlers = handlers_for(event.provider)
    if handlers is None:
        logger.error("webhook event %s: no handlers for provider %s", event_id, event.provider)
        return None
    return webhook_process(event=event, handlers=handlers)


def webhook_events_reprocess(*, provider: str | None = None, failed_only: bool = False, ids=None,
                             limit: int = 200, max_batches: int = 1, run=None) -> dict:
    """Reprocess due events (or the given ids). Safe to repeat: processed events are left alone.

    Works in batches of `limit`; up to `max_batches` batches while due events remain (the schedule
    uses several so a lost queue of notifications is caught up in one sweep, still bounded).
    """
    counts = {"processed": 0, "failed": 0, "ignored": 0, "skipped": 0}
    if ids:
        qs = WebhookEvent.objects.filter(pk__in=ids)
    else:
        qs = events_due_for_reprocessing(provider=provider)
        if failed_only:
            qs = qs.filter(status=WebhookEvent.Status.FAILED)
    if provider and ids:
        qs = qs.filter(provider=provider)
    qs = qs.order_by("received_at", "pk")
    after = Q()
    for _ in range(max(1, max_batches)):
        batch = list(qs.filter(after)[:limit])
        if not batch:
            break
        _reprocess_batch(batch, counts, run)
        if len(batch) < limit:
            break
        # Keyset: never revisit an event of this sweep (one skipped or failed again stays due).
        last = batch[-1]
        after = Q(received_at__gt=last.received_at) | Q(received_at=last.received_at, pk__gt=last.pk)
    return counts


def _reprocess_batch(events, counts: dict, run) -> None:
    for event in events:
        handlers = handlers_for(event.provider)
        if handlers is None:
            counts["skipped"] += 1
            if run is not None:
                run.skipped += 1
            continue
        event = webhook_process(event=event, handlers=handlers)
        key = {"processed": "processed", "failed": "failed", "ignored": "ignored"}.get(event.status, "skipped")
        counts[key] += 1
        if run is not None:
            if key == "failed":
                run.fail_item(event.pk, event.error)
            elif key == "skipped":
                run.skipped += 1
            else:
                run.processed += 1


def webhook_events_prune(*, now=None, batch: int = 5000) -> int:
    """Delete processed/ignored events older than WEBHOOK_RETENTION_DAYS. Failed ones are kept."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(WebhookEvent.objects.filter(status__in=[WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED],
                                               received_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        total += WebhookEvent.objects.filter(pk__in=ids).delete()[0]
