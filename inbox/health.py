"""Webhook health per provider, and the ops alert when failures or a backlog cross thresholds.

Every provider an app registered handlers for (`inbox.registry.providers()`: NetCash, Stripe,
PayPal) is reported even before its first event, plus any provider with stored events.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from inbox import registry
from inbox.models import WebhookEvent

UNPROCESSED = (WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING, WebhookEvent.Status.FAILED)


def thresholds() -> dict:
    conf = getattr(settings, "WEBHOOK_HEALTH", {}) or {}
    return {"max_failed_24h": int(conf.get("MAX_FAILED_24H", 5)),
            "max_backlog_seconds": int(conf.get("MAX_BACKLOG_SECONDS", 900))}


def webhook_health(*, now=None, providers=None) -> dict:
    """Per provider: last event received, counts by status over 24 h, oldest unprocessed age.

    `healthy` is False when a provider's failures in 24 h reach `max_failed_24h` or its oldest
    unprocessed event is older than `max_backlog_seconds`.
    """
    now = now or timezone.now()
    limits = thresholds()
    since = now - timedelta(hours=24)
    known = set(WebhookEvent.objects.values_list("provider", flat=True).distinct())
    watched = set(providers) if providers is not None else registry.providers()
    result = {"checked_at": now.isoformat(), "thresholds": limits, "providers": {}, "healthy": True}
    for provider in sorted(watched | known):
        qs = WebhookEvent.objects.filter(provider=provider)
        last = qs.aggregate(last=Max("received_at"))["last"]
        counts = {s: 0 for s in WebhookEvent.Status.values}
        for row in qs.filter(received_at__gte=since).values("status").annotate(n=Count("pk")):
            counts[row["status"]] = row["n"]
        oldest = qs.filter(status__in=UNPROCESSED).aggregate(oldest=Min("received_at"))["oldest"]
        backlog_age = int((now - oldest).total_seconds()) if oldest else None
        problems = []
        if counts[WebhookEvent.Status.FAILED] >= limits["max_failed_24h"]:
            problems.append(f"{counts['failed']} failed events in 24 h (threshold {limits['max_failed_24h']})")
        if backlog_age is not None and backlog_age > limits["max_backlog_seconds"]:
            problems.append(f"oldest unprocessed event is {backlog_age} s old (threshold {limits['max_backlog_seconds']})")
        result["providers"][provider] = {
            "last_received_at": last.isoformat() if last else None, "counts_24h": counts,
            "oldest_unprocessed_age_seconds": backlog_age, "healthy": not problems, "problems": problems,
        }
        result["healthy"] = result["healthy"] and not problems
    return result


def webhook_failures_alert(*, now=None) -> list[str]:
    """Alert ops (once per provider per hour) for every provider over a threshold."""
    from notifications.services import notify_ops

    now = now or timezone.now()
    health = webhook_health(now=now)
    alerted = []
    for provider, info in health["providers"].items():
        if info["healthy"]:
            continue
        failed = WebhookEvent.objects.filter(provider=provider, status=WebhookEvent.Status.FAILED)
        latest = failed.order_by("-received_at").first()
        oldest = failed.order_by("received_at").first()
        with transaction.atomic():
            notify_ops(event="webhook_failures",
                       context={"count": info["counts_24h"][WebhookEvent.Status.FAILED], "provider": provider,
                                "oldest_at": oldest.received_at.isoformat() if oldest else "",
                                "last_error": latest.error[:300] if latest else "",
                                "fields": {"problems": "; ".join(info["problems"]),
                                           "oldest_unprocessed_age_seconds": info["oldest_unprocessed_age_seconds"]}},
                       idempotency_key=f"webhook_failures:{provider}:{now:%Y%m%d%H}")
        alerted.append(provider)
    return alerted
