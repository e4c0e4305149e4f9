"""Follow-ups: work that must happen after a commit, kept as a row so no lost task can lose it.

    follow_up("billing.tasks.render_invoice_pdfs", invoice_ids, queue=settings.Q_DOCUMENTS_QUEUE)

Call it inside the transaction that makes the work necessary: the row commits with the change or
not at all, and after commit the doorbell rings (`circletel.tasks.run_follow_up` is queued). The
task claims the row, runs `func(*args)` under a heartbeat lease and marks it done. The recovery
sweep (every minute) rings again for a row still pending `RING_GRACE` after it was written (the
task was lost: a worker killed after popping it from Redis, a failed enqueue) and frees a row
whose worker died (lease lapsed). A failure is retried with backoff up to `MAX_ATTEMPTS`, then
left `failed` for staff (admin action "run again").

`func` must be safe to run twice: a worker killed after the work but before "done" leaves the row
to run again. The tasks used here are (notifications by idempotency key, PDFs skip what is rendered).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from circletel.leases import held, lease_until, owner_name
from circletel.models import FollowUp

logger = logging.getLogger(__name__)

Status = FollowUp.Status
RUN_TASK = "circletel.tasks.run_follow_up"
RING_GRACE = timedelta(seconds=30)  # the doorbell normally starts it within a second
RING_AGAIN = timedelta(seconds=90)  # a rung row still pending after this is rung again
MAX_ATTEMPTS = 6
SWEEP_LIMIT = 500


def backoff_for(attempts: int) -> timedelta:
    return min(timedelta(hours=1), timedelta(minutes=1) * (2 ** max(0, attempts - 1)))


def follow_up(func: str, *args, queue: str = "") -> FollowUp:
    """Record `func(*args)` as work to do after this transaction commits, and ring for it on commit."""
    row = FollowUp.objects.create(func=func, args=list(args), queue=queue or "", ring_at=timezone.now() + RING_GRACE)
    pk, q = row.pk, row.queue
    transaction.on_commit(lambda: ring(pk, q))
    return row


def ring(pk: int, queue: str = "") -> None:
    """Queue the task for one row. Never raises: the sweep rings again for a row nobody took."""
    from circletel.queue import enqueue

    try:
        enqueue(RUN_TASK, pk, group="follow-ups", save=False, **({"cluster": queue} if queue else {}))
    except Exception:
        logger.exception("follow-up %s: could not ring; the recovery sweep will", pk)


def follow_up_claim(pk: int, *, now=None) -> FollowUp | None:
    now = now or timezone.now()
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_until__lt=now)
    if not FollowUp.objects.filter(claimable, pk=pk).update(status=Status.RUNNING, attempts=F("attempts") + 1,
                                                             lease_until=lease_until(now), owner=owner_name()):
        return None
    return FollowUp.objects.get(pk=pk)


def follow_up_run(*, pk: int, now=None) -> FollowUp | None:
    """Run one follow-up if it is free; returns the row after the attempt, None when not claimed."""
    row = follow_up_claim(pk, now=now)
    if row is None:
        return None
    mine = FollowUp.objects.filter(pk=pk, status=Status.RUNNING, owner=row.owner)
    try:
        with held(FollowUp, pk, status=Status.RUNNING):
            import_string(row.func)(*row.args)
    except Exception as exc:
        logger.exception("follow-up %s (%s) failed on attempt %s", pk, row.func, row.attempts)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            mine.update(status=Status.FAILED, error=error, lease_until=None)
        else:
            mine.update(status=Status.PENDING, error=error, lease_until=None,
                        ring_at=timezone.now() + backoff_for(row.attempts))
    else:
        mine.update(status=Status.DONE, done_at=timezone.now(), lease_until=None, error="")
    row.refresh_from_db()
    return row


def follow_ups_recover(*, now=None, limit: int = SWEEP_LIMIT) -> dict:
    """Free rows whose worker died, and ring for rows nobody took. Bounded; indexed queries only."""
    now = now or timezone.now()
    lapsed = FollowUp.objects.filter(status=Status.RUNNING, lease_until__lt=now)
    # A row whose worker died on every attempt (it kills its worker, or never fits in memory) stops here.
    lapsed.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=Status.FAILED, lease_until=None,
        error=f"the worker died on each of its {MAX_ATTEMPTS} attempts; run it again from the admin once fixed")
    freed = lapsed.filter(attempts__lt=MAX_ATTEMPTS).update(
        status=Status.PENDING, ring_at=now, error="the worker stopped renewing its lease; running it again")
    rung = 0
    for pk, queue in list(FollowUp.objects.filter(status=Status.PENDING, ring_at__lte=now)
                          .order_by("ring_at").values_list("pk", "queue")[:limit]):
        if FollowUp.objects.filter(pk=pk, status=Status.PENDING, ring_at__lte=now).update(ring_at=now + RING_AGAIN):
            ring(pk, queue)
            rung += 1
    return {"freed": freed, "rung": rung}


def follow_up_retry(*, row: FollowUp) -> bool:
    """Staff: run a failed follow-up again (fresh attempts)."""
    updated = FollowUp.objects.filter(pk=row.pk, status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, ring_at=timezone.now() + RING_GRACE)
    if updated:
        transaction.on_commit(lambda: ring(row.pk, row.queue))
    return bool(updated)


def follow_ups_prune(*, now=None, keep_days: int = 14) -> int:
    """Delete done rows older than `keep_days` (failed ones stay for staff)."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    total = 0
    while True:
        ids = list(FollowUp.objects.filter(status=Status.DONE, created_at__lt=cutoff).values_list("pk", flat=True)[:5000])
        if not ids:
            return total
        total += FollowUp.objects.filter(pk__in=ids).delete()[0]
