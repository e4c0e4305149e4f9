"""Monitor, sweeper and alert services for the sync outbox (called by tasks and commands)."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from zoho_sync import selectors
from zoho_sync.models import SyncLog, SyncStatus
from zoho_sync.services.sync import DEPENDENCY_ORDER, ENTITY_MODELS


def _conf(key, default):
    return getattr(settings, "ZOHO_SYNC", {}).get(key, default)


def due_ids(entity_type: str, *, include_stale: bool = True, limit: int = 500) -> list[int]:
    """Rows the sweeper should sync now: pending/retrying and due (or never queued), plus rows stuck
    in syncing past their lease and pending rows whose task was lost (older than STALE_MINUTES)."""
    model = apps.get_model(ENTITY_MODELS[entity_type])
    now = timezone.now()
    q = Q(zoho_sync_status__in=[SyncStatus.PENDING, SyncStatus.RETRYING]) & (
        Q(zoho_next_attempt_at__lte=now) | Q(zoho_next_attempt_at__isnull=True))
    if include_stale:
        q |= Q(zoho_sync_status=SyncStatus.SYNCING, zoho_next_attempt_at__lt=now)
    return list(model.objects.filter(q).order_by("zoho_next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def unstick(entity_type: str) -> int:
    """Syncing rows whose lease ran out (worker died) go back to retrying, due now."""
    model = apps.get_model(ENTITY_MODELS[entity_type])
    return model.objects.filter(zoho_sync_status=SyncStatus.SYNCING, zoho_next_attempt_at__lt=timezone.now()).update(
        zoho_sync_status=SyncStatus.RETRYING, zoho_next_attempt_at=timezone.now(),
        zoho_last_error="worker stopped while syncing (lease expired)")


def failed_ids(entity_type: str, *, since=None, include_retrying: bool = True) -> list[int]:
    """Rows a human would retry: failed, and (by default) retrying ones waiting for their backoff."""
    model = apps.get_model(ENTITY_MODELS[entity_type])
    statuses = [SyncStatus.FAILED, SyncStatus.RETRYING] if include_retrying else [SyncStatus.FAILED]
    qs = model.objects.filter(zoho_sync_status__in=statuses)
    if since is not None:
        qs = qs.filter(updated_at__gte=since)
    return list(qs.order_by("pk").values_list("pk", flat=True))


def entity_mark_for_retry(*, entity_type: str, pk: int) -> bool:
    """Staff "retry": make the row pending and due now (attempts reset). True when the row exists."""
    from zoho_sync.services.outbox import enqueue_task

    model = apps.get_model(ENTITY_MODELS[entity_type])
    with transaction.atomic():
        n = model.objects.filter(pk=pk).exclude(zoho_sync_status=SyncStatus.SYNCING).update(
            zoho_sync_status=SyncStatus.PENDING, zoho_attempts=0, zoho_next_attempt_at=timezone.now(),
            zoho_last_error="")
        exists = n or model.objects.filter(pk=pk).exists()
        if n and settings.ENABLE_ZOHO_SYNC:
            transaction.on_commit(lambda: enqueue_task(entity_type, pk))
    return bool(exists)


def entity_type_mark_for_retry(*, entity_type: str, limit: int = 500) -> int:
    """The dashboard's "Retry" for one entity type: every failed/retrying row it shows is made due
    now (attempts reset) and queued on the ZOHO queue (after commit), at most `limit` per click."""
    from zoho_sync.services.outbox import enqueue_task

    model = apps.get_model(ENTITY_MODELS[entity_type])
    with transaction.atomic():
        ids = list(model.objects.filter(zoho_sync_status__in=[SyncStatus.FAILED, SyncStatus.RETRYING])
                   .order_by("pk").values_list("pk", flat=True)[:limit])
        n = model.objects.filter(pk__in=ids, zoho_sync_status__in=[SyncStatus.FAILED, SyncStatus.RETRYING]).update(
            zoho_sync_status=SyncStatus.PENDING, zoho_attempts=0, zoho_next_attempt_at=timezone.now(),
            zoho_last_error="")
        if settings.ENABLE_ZOHO_SYNC:
            transaction.on_commit(lambda: [enqueue_task(entity_type, pk) for pk in ids])
    return n


def health_metrics() -> dict:
    stats = selectors.dashboard_stats()
    stats["failed"] = stats["totals"]["overall"][SyncStatus.FAILED]
    return stats


# Targets from the specification (issue 17), overridable in ZOHO_SYNC.
DEFAULT_TARGETS = {
    "ALERT_MIN_SUCCESS_RATE": 99.0,  # not money: percent of attempts in 24 h
    "ALERT_FAILED_COUNT": 5,  # rows failed (needing a human); "fewer than 5 failures a day"
    "ALERT_MAX_LATENCY_SECONDS": 5.0,  # not money: p95 of one sync's duration in 24 h
    "ALERT_MIN_RECEIPT_DELIVERY": 98.0,  # not money: receipt emails sent / decided in 24 h
    "ALERT_RETRYING_COUNT": 50,  # rows retrying (a backlog the sweep has not cleared)
    "ALERT_STALE_PENDING_COUNT": 50,
    "ALERT_DAILY_USAGE_PERCENT": 80,
    "ALERT_WAITING_OVERDUE_COUNT": 1,  # waiting rows past WAIT_ALERT_DAYS (each also alerted on its own)
}


def target(key: str):
    return _conf(key, DEFAULT_TARGETS[key])


def monitor_conditions(stats: dict) -> list[tuple[str, str]]:
    """(condition key, message) for each target missed; each message says the value and the target."""
    crossed = []
    if stats["failed"] >= target("ALERT_FAILED_COUNT"):
        crossed.append(("failed", f"{stats['failed']} ZOHO syncs have failed and need a human "
                                  f"(target: fewer than {target('ALERT_FAILED_COUNT')})"))
    rate = stats["success_rate_24h"]
    if rate is not None and rate < target("ALERT_MIN_SUCCESS_RATE"):
        crossed.append(("success_rate", f"ZOHO sync success rate over 24 h is {rate}% "
                                        f"(target: above {target('ALERT_MIN_SUCCESS_RATE')}%)"))
    p95 = (stats.get("duration_24h") or {}).get("p95")
    if p95 is not None and p95 > target("ALERT_MAX_LATENCY_SECONDS"):
        crossed.append(("latency", f"ZOHO sync latency p95 over 24 h is {p95} s "
                                   f"(target: under {target('ALERT_MAX_LATENCY_SECONDS')} s)"))
    receipts = stats.get("receipt_delivery_24h") or {}
    if receipts.get("rate") is not None and receipts["rate"] < target("ALERT_MIN_RECEIPT_DELIVERY"):
        crossed.append(("receipt_delivery", f"receipt emails delivered over 24 h: {receipts['rate']}% of "
                                            f"{receipts['decided']} (target: above {target('ALERT_MIN_RECEIPT_DELIVERY')}%)"))
    retrying = stats["totals"]["overall"].get(SyncStatus.RETRYING, 0)
    if retrying >= target("ALERT_RETRYING_COUNT"):
        crossed.append(("retrying", f"{retrying} ZOHO syncs are retrying (target: fewer than "
                                    f"{target('ALERT_RETRYING_COUNT')}); the sweep runs every 5 minutes"))
    if stats["stale_pending"] >= target("ALERT_STALE_PENDING_COUNT"):
        crossed.append(("stale_pending", f"{stats['stale_pending']} ZOHO syncs are stuck pending/syncing"))
    if stats.get("waiting_overdue", 0) >= target("ALERT_WAITING_OVERDUE_COUNT"):
        crossed.append(("waiting_overdue", f"{stats['waiting_overdue']} recurring invoices/payments still wait for "
                                           f"ZOHO {_conf('WAIT_ALERT_DAYS', 2)} days after their period started"))
    pct = stats.get("calls_today_percent")
    if pct is not None and pct >= target("ALERT_DAILY_USAGE_PERCENT"):
        crossed.append(("daily_usage", f"ZOHO API calls today at {pct}% of the daily limit"))
    open_breakers = [name for name, b in (stats.get("breakers") or {}).items() if b["open"]]
    if open_breakers:
        crossed.append(("breaker", f"ZOHO calls paused by the {', '.join(open_breakers)} limit breaker"))
    return crossed


def monitor_run() -> dict:
    """Compute the metrics and alert ops once per missed target per day (idempotency key). The
    alert's title names the condition and its value (a generic ops alert, not a failure count)."""
    from notifications.services import notify_ops

    stats = health_metrics()
    crossed = monitor_conditions(stats)
    today = timezone.localdate().isoformat()
    alerted = []
    for key, message in crossed:
        with transaction.atomic():
            logs = notify_ops(event="ops_alert", idempotency_key=f"zoho_sync_monitor:{key}:{today}", context={
                "title": f"ZOHO sync: {message}", "message": message, "severity": "warning",
                "fields": {"condition": key, "failed": stats["failed"],
                           "retrying": stats["totals"]["overall"].get(SyncStatus.RETRYING, 0),
                           "waiting": stats.get("waiting", 0),
                           "success_rate_24h": stats["success_rate_24h"], "volume_24h": stats["volume_24h"],
                           "calls_today": stats["calls_today"], "admin": "/admin/zoho_sync/syncdashboard/"}})
        if logs:
            alerted.append(key)
    return {"stats": stats, "crossed": [k for k, _ in crossed], "alerted": alerted}


def failed_rows(*, since_hours: int | None = None) -> list[dict]:
    since = timezone.now() - timedelta(hours=since_hours) if since_hours else None
    rows = []
    for entity_type in DEPENDENCY_ORDER:
        model = apps.get_model(ENTITY_MODELS[entity_type])
        qs = model.objects.filter(zoho_sync_status=SyncStatus.FAILED)
        if since is not None:
            qs = qs.filter(updated_at__gte=since)
        for pk, error, attempts in qs.values_list("pk", "zoho_last_error", "zoho_attempts")[:500]:
            rows.append({"entity_type": entity_type, "entity_id": pk, "error": error[:300], "attempts": attempts})
    labels = selectors.entity_labels((r["entity_type"], r["entity_id"]) for r in rows)
    for r in rows:
        r["label"] = labels.get((r["entity_type"], r["entity_id"]), "")
    return rows


def failed_alert_send(*, rows: list[dict], since_hours: int | None) -> int:
    """Email (HTML + text) and webhook alert listing failed syncs. Returns notification rows written."""
    from notifications.services import notify_ops

    key_part = timezone.now().strftime("%Y-%m-%dT%H")
    with transaction.atomic():
        logs = notify_ops(event="zoho_sync_failed_list", idempotency_key=f"zoho_sync_failed_list:{key_part}",
                          context={"failed_count": len(rows), "rows": rows[:100], "since_hours": since_hours or "",
                                   "admin_url": "/admin/zoho_sync/syncdashboard/"})
    return len(logs)


def log_prune(*, keep_days: int = 90) -> int:
    deleted, _ = SyncLog.objects.filter(created_at__lt=timezone.now() - timedelta(days=keep_days)).delete()
    return deleted
