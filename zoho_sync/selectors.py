"""Reads for the sync dashboard, APIs, health check and monitor."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from circletel.money import format_zar
from zoho_sync.models import ManualEntry, SyncLog, SyncStatus, SyncWait
from zoho_sync.ratelimit import calls_today
from zoho_sync.services.sync import ENTITY_MODELS

STATUSES = [s.value for s in SyncStatus]


def _model(entity_type):
    return apps.get_model(ENTITY_MODELS[entity_type])


def status_totals() -> dict:
    """{"overall": {status: n}, "by_entity": {entity: {status: n}}}."""
    by_entity = {}
    overall = dict.fromkeys(STATUSES, 0)
    for entity_type in ENTITY_MODELS:
        counts = dict.fromkeys(STATUSES, 0)
        for row in _model(entity_type).objects.values("zoho_sync_status").annotate(n=Count("pk")):
            counts[row["zoho_sync_status"]] = row["n"]
            overall[row["zoho_sync_status"]] += row["n"]
        by_entity[entity_type] = counts
    return {"overall": overall, "by_entity": by_entity}


def success_rate(*, hours: int = 24, entity_type: str | None = None) -> float | None:
    """Percentage of successful attempts (skips excluded) in the window; None without attempts."""
    qs = SyncLog.objects.filter(created_at__gte=timezone.now() - timedelta(hours=hours))
    if entity_type:
        qs = qs.filter(entity_type=entity_type)
    agg = qs.aggregate(ok=Count("pk", filter=Q(status=SyncLog.Status.SUCCESS)),
                       bad=Count("pk", filter=Q(status=SyncLog.Status.FAILED)))
    total = agg["ok"] + agg["bad"]
    return round(100.0 * agg["ok"] / total, 1) if total else None  # not money


def stale_pending_count(*, minutes: int | None = None) -> int:
    """Rows due for longer than STALE_MINUTES that nobody picked up (waiting rows are due only at
    their check time, so they count only when a check is overdue too)."""
    minutes = minutes or getattr(settings, "ZOHO_SYNC", {}).get("STALE_MINUTES", 30)
    cutoff = timezone.now() - timedelta(minutes=minutes)
    n = 0
    for entity_type in ENTITY_MODELS:
        qs = _model(entity_type).objects.filter(
            Q(zoho_sync_status=SyncStatus.PENDING) & (Q(zoho_next_attempt_at__lt=cutoff)
                                                      | Q(zoho_next_attempt_at__isnull=True, updated_at__lt=cutoff))
            | Q(zoho_sync_status=SyncStatus.SYNCING, zoho_next_attempt_at__lt=timezone.now()))
        n += qs.count()
    return n


def latency_percentiles(*, hours: int = 24) -> dict:
    """Pending -> synced latency (seconds) for entities synced in the window, from the row's
    `updated_at` (the change that made it pending) to `zoho_last_synced_at`. Approximate: a later
    edit that did not need ZOHO also moves `updated_at`; negative gaps are dropped."""
    since = timezone.now() - timedelta(hours=hours)
    samples: list[float] = []  # not money
    for entity_type in ENTITY_MODELS:
        rows = (_model(entity_type).objects.filter(zoho_last_synced_at__gte=since)
                .values_list("updated_at", "zoho_last_synced_at")[:5000])
        for changed, synced in rows:
            if changed and synced and synced >= changed:
                samples.append((synced - changed).total_seconds())
    if not samples:
        return {"p50": None, "p95": None, "samples": 0}
    samples.sort()

    def pct(p):
        return round(samples[min(len(samples) - 1, int(p * (len(samples) - 1) + 0.5))], 1)  # not money

    return {"p50": pct(0.50), "p95": pct(0.95), "samples": len(samples)}


def duration_percentiles(*, hours: int = 24) -> dict:
    """Seconds one sync took (SyncLog.duration_ms of successful attempts) in the window: the
    "sync latency < 5 s" target. Waiting for ZOHO's own recurring invoice is not latency."""
    since = timezone.now() - timedelta(hours=hours)
    samples = sorted(SyncLog.objects.filter(created_at__gte=since, status=SyncLog.Status.SUCCESS)
                     .values_list("duration_ms", flat=True)[:20000])
    if not samples:
        return {"p50": None, "p95": None, "samples": 0}

    def pct(p):
        return round(samples[min(len(samples) - 1, int(p * (len(samples) - 1) + 0.5))] / 1000.0, 2)  # not money

    return {"p50": pct(0.50), "p95": pct(0.95), "samples": len(samples)}


def receipt_delivery(*, hours: int = 24) -> dict:
    """Receipt emails (`payment_received`, email channel) sent / decided (sent + failed) in the
    window, from the notification log; queued, sending and retrying ones are not decided yet."""
    NotificationLog = apps.get_model("notifications", "NotificationLog")
    since = timezone.now() - timedelta(hours=hours)
    agg = NotificationLog.objects.filter(event="payment_received", channel="email", created_at__gte=since).aggregate(
        sent=Count("pk", filter=Q(status="sent")), failed=Count("pk", filter=Q(status="failed")))
    decided = agg["sent"] + agg["failed"]
    return {"sent": agg["sent"], "failed": agg["failed"], "decided": decided,
            "rate": round(100.0 * agg["sent"] / decided, 1) if decided else None}  # not money


def waiting_counts() -> dict:
    """Rows waiting for ZOHO (recurring invoices not generated yet, payments applied to them), and
    those still waiting WAIT_ALERT_DAYS after their period started."""
    alert_days = getattr(settings, "ZOHO_SYNC", {}).get("WAIT_ALERT_DAYS", 2)
    overdue_before = timezone.localdate() - timedelta(days=alert_days)
    by_entity = dict(SyncWait.objects.values_list("entity_type").annotate(n=Count("pk")).values_list("entity_type", "n"))
    return {"total": sum(by_entity.values()), "by_entity": by_entity,
            "overdue": SyncWait.objects.filter(due_on__lte=overdue_before).count()}


def manual_entries_awaiting() -> int:
    return ManualEntry.objects.filter(entered_at__isnull=True).count()


def daily_volume(*, hours: int = 24) -> int:
    return SyncLog.objects.filter(created_at__gte=timezone.now() - timedelta(hours=hours)).count()


def recent_failures(*, hours: int = 24, limit: int = 20):
    return list(SyncLog.objects.filter(status=SyncLog.Status.FAILED,
                                       created_at__gte=timezone.now() - timedelta(hours=hours))[:limit])


def entity_labels(pairs) -> dict:
    """{(entity_type, id): label} (account number + name, invoice number, payment reference)."""
    wanted: dict[str, set] = {}
    for entity_type, pk in pairs:
        if entity_type in ENTITY_MODELS:
            wanted.setdefault(entity_type, set()).add(pk)
    labels = {}
    for entity_type, ids in wanted.items():
        qs = _model(entity_type).objects.filter(pk__in=ids)
        if entity_type == "customer":
            for c in qs.only("account_number", "first_name", "last_name", "company_name"):
                labels[(entity_type, c.pk)] = f"{c.account_number} {c.display_name}"
        elif entity_type == "service":
            for s in qs.select_related("customer").only("package_name", "customer__account_number"):
                labels[(entity_type, s.pk)] = f"{s.package_name} ({s.customer.account_number})"
        elif entity_type == "invoice":
            for i in qs.only("number"):
                labels[(entity_type, i.pk)] = i.number
        else:
            for p in qs.only("reference", "amount"):
                labels[(entity_type, p.pk)] = f"{p.reference} {format_zar(p.amount)}"
    return labels


def logs(*, entity_type: str | None = None, status: str | None = None, entity_id: int | None = None):
    qs = SyncLog.objects.all()
    if entity_type:
        qs = qs.filter(entity_type=entity_type)
    if status:
        qs = qs.filter(status=status)
    if entity_id:
        qs = qs.filter(entity_id=entity_id)
    return qs


def dashboard_stats() -> dict:
    from zoho_sync import breaker

    totals = status_totals()
    daily_limit = settings.ZOHO.get("DAILY_CALL_LIMIT", 0)
    used = calls_today()
    waiting = waiting_counts()
    # Waiting rows are pending in their own table: shown apart, not as pending.
    for name, n in waiting["by_entity"].items():
        if name in totals["by_entity"]:
            totals["by_entity"][name]["waiting"] = n
            totals["by_entity"][name][SyncStatus.PENDING] = max(totals["by_entity"][name][SyncStatus.PENDING] - n, 0)
    for counts in totals["by_entity"].values():
        counts.setdefault("waiting", 0)
    totals["overall"]["waiting"] = waiting["total"]
    totals["overall"][SyncStatus.PENDING] = max(totals["overall"][SyncStatus.PENDING] - waiting["total"], 0)
    return {
        "totals": totals,
        "waiting": waiting["total"],
        "waiting_overdue": waiting["overdue"],
        "success_rate_24h": success_rate(),
        "success_rate_1h": success_rate(hours=1),
        "duration_24h": duration_percentiles(),
        "receipt_delivery_24h": receipt_delivery(),
        "breakers": breaker.state(),
        "manual_entries_awaiting": manual_entries_awaiting(),
        "stale_pending": stale_pending_count(),
        "latency_24h": latency_percentiles(),
        "volume_24h": daily_volume(),
        "calls_today": used,
        "daily_call_limit": daily_limit,
        "calls_today_percent": round(100.0 * used / daily_limit, 1) if daily_limit else None,  # not money
        "enabled": bool(settings.ENABLE_ZOHO_SYNC),
    }


def payment_sync_stats() -> dict:
    """Payments: synced today, pending now, failed now (`failed`) and payments with a failed attempt
    today (`failed_today`), and the 24 h success rate (admin widget + API)."""
    model = _model("payment")
    today = timezone.localdate()
    start = timezone.make_aware(timezone.datetime(today.year, today.month, today.day))
    agg = model.objects.aggregate(
        synced_today=Count("pk", filter=Q(zoho_sync_status=SyncStatus.SYNCED, zoho_last_synced_at__gte=start)),
        pending=Count("pk", filter=Q(zoho_sync_status__in=[SyncStatus.PENDING, SyncStatus.SYNCING,
                                                           SyncStatus.RETRYING])),
        failed=Count("pk", filter=Q(zoho_sync_status=SyncStatus.FAILED)),
        total=Count("pk"),
    )
    failed_today = (SyncLog.objects.filter(entity_type="payment", status=SyncLog.Status.FAILED, created_at__gte=start)
                    .values("entity_id").distinct().count())
    return {**agg, "failed_today": failed_today, "success_rate_24h": success_rate(entity_type="payment")}
