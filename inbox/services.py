"""The webhook inbox: record an authenticated delivery, then apply it once through the registry.

    event, created = webhook_accept(provider="stripe", event_id=..., event_type=..., body=..., headers=...)
    answer = webhook_answer(event, created)   # "queued" | "duplicate" | the applied status

A provider's view (payments/providers/<name>.py) authenticates the delivery, then calls
`webhook_accept`. By default (`WEBHOOK_APPLY_INLINE=false`) that costs the request one INSERT: the
apply step runs in the task `inbox.tasks.process_webhook_event`, queued on commit (with the ORM
broker, in the event's own transaction); if that task is lost (broker down, or a worker killed
after popping it from Redis), the recovery sweep applies the event (pending > 30 s, every minute). With `apply_inline=True` (the sandbox
gateways, whose next page must show the result, or the setting on) it is applied before answering,
and a redelivery of an event still pending is applied too; the row claim keeps it once either way.

`webhook_record` commits the raw event on its own (unique on provider + event id: a redelivery
returns the existing row with created=False; with `fetch_existing=False` it returns (None, False)
and saves the lookup). `webhook_process` claims the row with a conditional UPDATE
(pending/failed -> processing, with a lease its heartbeat renews while the handler runs; a lapsed
lease means the worker died and the sweep takes the event), so two workers never apply one event at once, runs the handler the
registry routes it to (`inbox.registry.route_for`) inside one transaction, and records the outcome
on the row. A handler raising leaves the event `failed` with the error and a next attempt time;
nothing the handler wrote survives. Handlers must also be idempotent by state (a reprocess after a
crash). An event no registered handler matches is `ignored` ("no handler").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from circletel.leases import held, lease_until
from circletel.queue import enqueue
from circletel.text import make_storable, storable
from inbox.errors import IgnoreEvent
from inbox.models import WebhookEvent
from inbox.registry import route_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A pending event whose apply task has not run after this was lost by the queue (a worker killed after
# popping it, a failed enqueue); the recovery sweep applies it. Normally it runs within a second.
PENDING_LOST_AFTER = timedelta(seconds=30)
RECOVER_BUDGET_SECONDS = 25  # not money; the sweep's share of the minute
PROCESS_TASK = "inbox.tasks.process_webhook_event"
_HEADER_ALLOWLIST = {"content-type", "user-agent", "stripe-signature", "paypal-transmission-id",
                     "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo",
                     "x-request-id"}
EVENT_ID_MAX = WebhookEvent._meta.get_field("event_id").max_length  # 200
EVENT_TYPE_MAX = WebhookEvent._meta.get_field("event_type").max_length  # 100


def event_envelope_problem(*, event_id, event_type, type_field: str = "type") -> str | None:
    """Why a parsed event's id / type cannot be stored as they are (None when they can).

    The receivers call this before `webhook_accept`: an id that is not a string (an object, number,
    list, null) would otherwise be stored as its Python repr, and one longer than the column would
    be cut, so two different ids could meet as one "duplicate". Nothing is stored for such an event.
    """
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= EVENT_ID_MAX:
        return f"id must be a string of 1 to {EVENT_ID_MAX} characters"
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= EVENT_TYPE_MAX:
        return f"{type_field} must be a string of 1 to {EVENT_TYPE_MAX} characters"
    if not storable(event_id) or not storable(event_type):
        return "id and type must not contain NUL or unpaired surrogate characters"
    return None


def safe_headers(headers: Mapping[str, str]) -> dict:
    """Keep only the headers needed to re-verify or debug an event (never cookies or auth)."""
    return {k: v for k, v in headers.items() if k.lower() in _HEADER_ALLOWLIST}


def _event_row(*, provider: str, event_id: str, event_type: str, body: str,
               headers: Mapping[str, str] | None) -> dict:
    return {"provider": provider, "event_id": event_id[:200], "event_type": event_type[:100], "body": body,
            "headers": safe_headers(headers or {})}


def webhook_record(*, provider: str, event_id: str, event_type: str, body: str,
                   headers: Mapping[str, str] | None = None,
                   fetch_existing: bool = True) -> tuple[WebhookEvent | None, bool]:
    fields = _event_row(provider=provider, event_id=event_id, event_type=event_type, body=body, headers=headers)
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


def _record_and_enqueue(**fields) -> tuple[WebhookEvent | None, bool]:
    """ORM broker, autocommit: the event row and its queue row in one transaction (one commit)."""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(**_event_row(**fields))
            webhook_enqueue(event.pk)
        return event, True
    except IntegrityError:
        if WebhookEvent.objects.filter(provider=fields["provider"], event_id=fields["event_id"][:200]).exists():
            return None, False  # a redelivery
        raise


def webhook_accept(*, provider: str, event_id: str, event_type: str, body: str,
                   headers: Mapping[str, str] | None = None,
                   apply_inline: bool | None = None) -> tuple[WebhookEvent | None, bool]:
    """Record an authenticated delivery, then apply it now or queue the apply step on commit.

    Returns (event, created). A queued-mode duplicate returns (None, False): nothing is read back.
    `apply_inline=None` follows the WEBHOOK_APPLY_INLINE setting.
    """
    if apply_inline is None:
        apply_inline = settings.WEBHOOK_APPLY_INLINE
    fields = {"provider": provider, "event_id": event_id, "event_type": event_type, "body": body, "headers": headers}
    if not apply_inline and _enqueue_with_the_event():
        return _record_and_enqueue(**fields)
    event, created = webhook_record(**fields, fetch_existing=apply_inline)
    if apply_inline:
        if created or event.status == WebhookEvent.Status.PENDING:
            event = webhook_process(event=event)
    elif created:
        event_pk = event.pk
        # robust: a broker outage must not turn the provider's 200 into a 500; the sweep applies it later.
        transaction.on_commit(lambda: webhook_enqueue(event_pk), robust=True)
    return event, created


def _enqueue_with_the_event() -> bool:
    """With django-q2's ORM broker the queue row can join the event's transaction: one commit
    instead of two, and the task can never be lost between them (a worker only sees committed
    rows). Any other broker (Redis) could hand the task out before the commit, so it is queued on
    commit; so is sync mode (tests), which would run the task inside the request."""
    from django_q.conf import Conf

    return bool(Conf.ORM) and not Conf.SYNC and not transaction.get_connection().in_atomic_block


def webhook_enqueue(event_pk: int) -> None:
    """Queue the apply step for a stored event (call after commit)."""
    # save=False: a successful run keeps no django-q Task row (the event row records the outcome);
    # a failed one is still saved by django-q.
    enqueue(PROCESS_TASK, event_pk, save=False, group="webhooks")


def webhook_answer(event: WebhookEvent | None, created: bool) -> str:
    """The word a webhook answers with: duplicate, queued, or the status the inline apply reached."""
    if not created:
        return "duplicate"
    return "queued" if event.status == WebhookEvent.Status.PENDING else event.status


def webhook_answer_json(event: WebhookEvent | None, created: bool) -> dict:
    """The JSON body of a Stripe/PayPal webhook answer (a fetched duplicate also says how it ended)."""
    answer = {"status": webhook_answer(event, created)}
    if not created and event is not None:
        answer["event_status"] = event.status
    return answer


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 240))


def webhook_claim(event: WebhookEvent, *, now=None) -> bool:
    """Move the event to `processing` if nobody else holds it. Returns whether we got it."""
    now = now or timezone.now()
    claimable = Q(status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]) | _lapsed(now)
    until = lease_until(now)
    claimed = (
        WebhookEvent.objects.filter(claimable, pk=event.pk)
        .update(status=WebhookEvent.Status.PROCESSING, processing_started_at=now, lease_until=until,
                attempts=F("attempts") + 1)
    )
    if claimed:
        # What the UPDATE wrote, without reading the row back (the body and type never change).
        event.status, event.processing_started_at, event.lease_until = WebhookEvent.Status.PROCESSING, now, until
        event.attempts = (event.attempts or 0) + 1
    return bool(claimed)


def _lapsed(now) -> Q:
    """A `processing` event whose worker stopped renewing its lease (a row from before leases: 10 minutes)."""
    return Q(status=WebhookEvent.Status.PROCESSING) & (
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, processing_started_at__lt=now - timedelta(minutes=10)))


def webhook_process(*, event: WebhookEvent) -> WebhookEvent:
    """Apply the event's effect once, through the handler the registry routes it to. Returns the
    event with its final status. Nothing here raises for a bad event: a route match or handler that
    fails on a malformed event leaves it `failed` with the error (the sweep and other events go on),
    and an event no route matches is `ignored`."""
    if not webhook_claim(event):
        event.refresh_from_db()
        return event
    try:
        route = route_for(event)  # match predicates read the body: a malformed event may make one raise
        if route is None:
            _finish(event, WebhookEvent.Status.IGNORED, error="unhandled event type")
            return event
        with held(WebhookEvent, event.pk, status=WebhookEvent.Status.PROCESSING), transaction.atomic():
            route.handler(event)
            # In the effect's transaction: "processed" commits with the effect or not at all (and
            # it saves a commit per event).
            _finish(event, WebhookEvent.Status.PROCESSED)
    except IgnoreEvent as exc:
        _finish(event, WebhookEvent.Status.IGNORED, error=make_storable(str(exc)))
    except Exception as exc:  # kept on the row for staff; the provider still gets its 200
        logger.exception("webhook %s:%s failed", event.provider, event.event_id)
        _finish(event, WebhookEvent.Status.FAILED, error=make_storable(f"{type(exc).__name__}: {exc}")[:2000],
                next_attempt_at=timezone.now() + _backoff(event.attempts))
    return event



def _finish(event: WebhookEvent, status: str, *, error: str = "", next_attempt_at=None) -> None:
    event.status, event.error, event.next_attempt_at, event.lease_until = status, error, next_attempt_at, None
    event.processed_at = timezone.now() if status != WebhookEvent.Status.FAILED else None
    event.save(update_fields=["status", "error", "next_attempt_at", "processed_at", "lease_until"])


def events_due_for_reprocessing(*, now=None, provider: str | None = None):
    """Failed events whose backoff has passed, pending events whose task was lost, and events whose
    worker died (lease lapsed)."""
    now = now or timezone.now()
    qs = WebhookEvent.objects.filter(
        Q(status=WebhookEvent.Status.FAILED, next_attempt_at__lte=now, attempts__lt=MAX_ATTEMPTS)
        | Q(status=WebhookEvent.Status.PENDING, received_at__lt=now - PENDING_LOST_AFTER)
        | _lapsed(now)
    )
    if provider:
        qs = qs.filter(provider=provider)
    return qs.order_by("received_at")


def webhook_event_process(*, event_id: int) -> WebhookEvent | None:
    """Apply one recorded event (the `process_webhook_event` task the webhooks queue on commit).

    Safe to run twice or next to the reprocess sweep: a finished event is left alone and
    `webhook_process` claims the row first, so only one worker ever applies it. Returns None when
    the event no longer exists (pruned).
    """
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("webhook event %s not found (pruned?)", event_id)
        return None
    if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
        return event
    return webhook_process(event=event)


def webhook_events_recover(*, now=None) -> dict:
    """The recovery sweep's part (every minute, `circletel.recovery`): apply what is due, within its budget."""
    return webhook_events_reprocess(limit=200, max_batches=10, budget_seconds=RECOVER_BUDGET_SECONDS)


def webhook_events_reprocess(*, provider: str | None = None, failed_only: bool = False, ids=None,
                             limit: int = 200, max_batches: int = 1, run=None,
                             budget_seconds: float | None = None) -> dict:  # not money
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
    started = time.monotonic()
    for _ in range(max(1, max_batches)):
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            break
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
        try:
            event = webhook_process(event=event)
        except Exception:  # e.g. the database refused the row: log it, and let the sweep go on to the next
            logger.exception("webhook event %s could not be reprocessed", event.pk)
            counts["failed"] += 1
            if run is not None:
                run.fail_item(event.pk, "could not be reprocessed (see the log)")
            continue
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
