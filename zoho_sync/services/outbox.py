"""The ZOHO outbox entry point that domain code calls inside its write transaction.

`enqueue_sync(entity=obj)` marks the row pending in the caller's transaction and, after commit,
enqueues the sync task. When sync is disabled the row just stays pending for a later backfill.

Debounce: a task is enqueued only when the row *becomes* queued (new rows are pending with no
next attempt; synced/failed/retrying rows move to pending). Further changes while it is queued
ride on the task already queued, which reads the row's latest state when it runs. With sync off
the row is pending with no next attempt, so nothing is queued and the backfill catches it up. A change while a worker is syncing the row moves the worker's
lease marker (`zoho_next_attempt_at`) by a microsecond, so the worker sees the row changed and
puts it back to pending (and enqueues it again) instead of marking it synced.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from circletel.queue import enqueue
from zoho_sync.models import SyncStatus

ENTITY_TYPES = {
    "billing.customer": "customer",
    "billing.customerservice": "service",
    "billing.invoice": "invoice",
    "payments.paymenttransaction": "payment",
}


def entity_type_of(entity) -> str:
    return ENTITY_TYPES[entity._meta.label_lower]


def enqueue_sync(*, entity) -> None:
    entity_type = entity_type_of(entity)
    model = type(entity)
    now = timezone.now()
    rows = model.objects.filter(pk=entity.pk)
    # Being synced right now: keep the worker's claim, but change its marker (see module doc).
    if rows.filter(zoho_sync_status=SyncStatus.SYNCING).update(
            zoho_next_attempt_at=F("zoho_next_attempt_at") + timedelta(microseconds=1)):
        return
    enabled = settings.ENABLE_ZOHO_SYNC
    # Pending with a task already queued (next attempt set): that task reads the latest state.
    if enabled and rows.filter(zoho_sync_status=SyncStatus.PENDING, zoho_next_attempt_at__isnull=False).exists():
        return
    rows.update(zoho_sync_status=SyncStatus.PENDING, zoho_attempts=0, zoho_last_error="",
                zoho_next_attempt_at=now if enabled else None)
    if enabled:
        pk = entity.pk
        transaction.on_commit(lambda: enqueue_task(entity_type, pk))


def zoho_queue_options() -> dict:
    """ZOHO tasks go to their own queue, consumed by their own cluster (`Q_ZOHO_QUEUE`, default
    "zoho": `Q_CLUSTER_NAME=zoho manage.py qcluster`), so a slow or limited ZOHO never holds the
    workers that process payments' webhooks. Empty: the main queue (a single-worker deployment)."""
    queue = getattr(settings, "Q_ZOHO_QUEUE", "") or None
    return {"cluster": queue} if queue else {}


def enqueue_task(entity_type: str, pk: int) -> None:
    enqueue("zoho_sync.tasks.sync_entity", entity_type, pk, group=f"zoho:{entity_type}", **zoho_queue_options())


