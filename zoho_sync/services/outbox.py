"""The ZOHO outbox entry point that domain code calls inside its write transaction.

`enqueue_sync(entity=obj)` marks the row pending in the caller's transaction and, after commit,
enqueues the sync task. When sync is disabled the row just stays pending for a later backfill.
The zoho_sync owner refines this (debounce, prerequisites); the signature stays.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
    type(entity).objects.filter(pk=entity.pk).update(
        zoho_sync_status=SyncStatus.PENDING, zoho_next_attempt_at=timezone.now(), zoho_attempts=0
    )
    if settings.ENABLE_ZOHO_SYNC:
        pk = entity.pk
        transaction.on_commit(lambda: _enqueue_task(entity_type, pk))


def _enqueue_task(entity_type: str, pk: int) -> None:
    from django_q.tasks import async_task

    async_task("zoho_sync.tasks.sync_entity", entity_type, pk, group=f"zoho:{entity_type}")
