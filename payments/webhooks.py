"""The shared webhook pipeline: verify (in the view), record, then apply once.

    event, created = webhook_record(provider="stripe", event_id=..., event_type=..., body=..., headers=...)
    if created:  # or when reprocessing
        webhook_process(event=event, handlers=STRIPE_HANDLERS)

`webhook_record` commits the raw event on its own (unique on provider + event id: a redelivery
returns the existing row with created=False; with `fetch_existing=False` it returns (None, False)
and saves the lookup, for callers that only answer "duplicate"). `webhook_process` claims the row with a
conditional UPDATE (pending/failed -> processing), so two workers never apply one event at once,
runs the handler for the event type inside one transaction, and records the outcome on the row.
A handler raising leaves the event `failed` with the error and a next attempt time; nothing the
handler wrote survives. Handlers must also be idempotent by state (a reprocess after a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from payments.models import WebhookEvent

logger = logging.getLogger(__name__)

Handler = Callable[[WebhookEvent], None]

MAX_ATTEMPTS = 8
STALE_PROCESSING_AFTER = timedelta(minutes=10)
_HEADER_ALLOWLIST = {"content-type", "user-agent", "stripe-signature", "paypal-transmission-id",
                     "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo",
                     "x-request-id"}


class IgnoreEvent(Exception):
    """Raised by a handler to mark an event ignored (nothing to do) with a reason."""


def safe_headers(headers: Mapping[str, str]) -> dict:
    """Keep only the headers needed to re-verify or debug an event (never cookies or auth)."""
    return {k: v for k, v in headers.items() if k.lower() in _HEADER_ALLOWLIST}


def webhook_record(*, provider: str, event_id: str, event_type: str, body: str,
                   headers: Mapping[str, str] | None = None,
                   fetch_existing: bool = True) -> tuple[WebhookEvent | None, bool]:
    fields = {"provider": provider, "event_id": event_id[:200], "event_type": event_type[:100], "body": body,
              "headers": safe_headers(headers or {})}
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():  # a savepoint: a duplicate must not break the caller's transaction
                event = WebhookEvent.objects.create(**fields)
        else:
            # Autocommit: the INSERT is its own transaction (one round trip, no BEGIN/COMMIT pair).
            event = WebhookEvent.objects.create(**fields)
        return event, True
    except IntegrityError:
        if not fetch_existing:
            return None, False
        return WebhookEvent.objects.get(provider=provider, event_id=event_id[:200]), False


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 240))


def webhook_claim(event: WebhookEvent, *, now=None) -> bool:
    """Move the event to `processing` if nobody else holds it. Returns whether we got it."""
    now = now or timezone.now()
    claimable = Q(status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]) | Q(
        status=WebhookEvent.Status.PROCESSING, processing_started_at__lt=now - STALE_PROCESSING_AFTER
    )
    claimed = (
        WebhookEvent.objects.filter(claimable, pk=event.pk)
        .update(status=WebhookEvent.Status.PROCESSING, processing_started_at=now, attempts=F("attempts") + 1)
    )
    if claimed:
        # What the UPDATE wrote, without reading the row back (the body and type never change).
        event.status, event.processing_started_at = WebhookEvent.Status.PROCESSING, now
        event.attempts = (event.attempts or 0) + 1
    return bool(claimed)


def webhook_process(*, event: WebhookEvent, handlers: Mapping[str, Handler]) -> WebhookEvent:
    """Apply the event's effect once. Returns the event with its final status."""
    handler = handlers.get(event.event_type)
    if handler is None:
        WebhookEvent.objects.filter(pk=event.pk, status=WebhookEvent.Status.PENDING).update(
            status=WebhookEvent.Status.IGNORED, processed_at=timezone.now(), error="unhandled event type"
        )
        event.refresh_from_db()
        return event
    if not webhook_claim(event):
        event.refresh_from_db()
        return event
    try:
        with transaction.atomic():
            handler(event)
            # In the effect's transaction: "processed" commits with the effect or not at all (and
            # it saves a commit per event).
            _finish(event, WebhookEvent.Status.PROCESSED)
    except IgnoreEvent as exc:
        _finish(event, WebhookEvent.Status.IGNORED, error=str(exc))
    except Exception as exc:  # kept on the row for staff; the provider still gets its 200
        logger.exception("webhook %s:%s failed", event.provider, event.event_id)
        _finish(event, WebhookEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
                next_attempt_at=timezone.now() + _backoff(event.attempts))
    return event


def _finish(event: WebhookEvent, status: str, *, error: str = "", next_attempt_at=None) -> None:
    event.status, event.error, event.next_attempt_at = status, error, next_attempt_at
    event.processed_at = timezone.now() if status != WebhookEvent.Status.FAILED else None
    event.save(update_fields=["status", "error", "next_attempt_at", "processed_at"])


def events_due_for_reprocessing(*, now=None, provider: str | None = None):
    """Failed events whose backoff has passed, and events stuck in pending or processing."""
    now = now or timezone.now()
    qs = WebhookEvent.objects.filter(
        Q(status=WebhookEvent.Status.FAILED, next_attempt_at__lte=now, attempts__lt=MAX_ATTEMPTS)
        | Q(status=WebhookEvent.Status.PENDING, received_at__lt=now - timedelta(minutes=2))
        | Q(status=WebhookEvent.Status.PROCESSING, processing_started_at__lt=now - STALE_PROCESSING_AFTER)
    )
    if provider:
        qs = qs.filter(provider=provider)
    return qs.order_by("received_at")
