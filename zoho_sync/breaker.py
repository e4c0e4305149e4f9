"""The circuit breaker in front of every ZOHO call, shared by all workers (a database row).

    breaker.check()                          # raises CircuitOpenError while open
    breaker.trip("daily", until, reason)     # after a daily-limit answer from ZOHO

Why: a 429 for the *daily* limit will not clear for hours. Sleeping on it (as the client did: ~270 s
per entity) only held workers that webhook processing needed. While the breaker is open no worker
calls ZOHO; rows wait (pending, attempt count untouched, next attempt at the reopening) and the
sweep picks them up after it closes. It closes by itself: `open_until` passes.

ZOHO's daily reset time is not documented for Billing (CONTRACTS 1.3/1.4 and 9.1: the 429 codes
44/45/1070 and the daily caps are Zoho *Books* facts). ASSUMPTION, kept here only: the day is the
organisation's calendar day, which for a South-African organisation is SAST (our TIME_ZONE); the
breaker reopens at the next local midnight plus `DAILY_RESET_GRACE_MINUTES`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from circletel.http import RetryableProviderError
from zoho_sync.models import CircuitBreaker

DAILY = "daily"
MINUTE = "minute"


class CircuitOpenError(RetryableProviderError):
    """ZOHO is not called until `open_until` (a limit answer told us to stop)."""

    def __init__(self, message: str, *, open_until: datetime, name: str):
        super().__init__(message, provider="zoho")
        self.open_until = open_until
        self.name = name


def _conf(key, default):
    return getattr(settings, "ZOHO_SYNC", {}).get(key, default)


def next_daily_reset(now: datetime | None = None) -> datetime:
    """The next local midnight (plus a grace period): when ZOHO's daily count starts again (ASSUMPTION)."""
    now = timezone.localtime(now or timezone.now())
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(minutes=_conf("DAILY_RESET_GRACE_MINUTES", 5))


def open_until() -> datetime | None:
    """When the breaker closes (None when it is closed now)."""
    now = timezone.now()
    row = (CircuitBreaker.objects.filter(open_until__gt=now).order_by("-open_until")
           .values_list("open_until", flat=True).first())
    return row


def state() -> dict:
    """For the dashboard, health check and API: every breaker with its last trip."""
    now = timezone.now()
    out = {}
    for row in CircuitBreaker.objects.order_by("name"):
        out[row.name] = {"open": bool(row.open_until and row.open_until > now), "open_until": row.open_until,
                         "reason": row.reason, "opened_at": row.opened_at, "trips": row.trips}
    return out


_closed_seen_at = 0.0  # not money: monotonic time this process last saw every breaker closed
CLOSED_RECHECK_SECONDS = 1.0  # not money: a trip in another process is seen within a second


def check() -> None:
    """Raise CircuitOpenError while a breaker is open. Only ZOHO's own limit answers trip it (our
    day counter is shown and alerted on at 80%, never a hard stop: Billing's daily caps are
    unconfirmed, CONTRACTS 9.1). A process re-reads the row at most once a second while closed."""
    global _closed_seen_at
    if time.monotonic() - _closed_seen_at < CLOSED_RECHECK_SECONDS:
        return
    until = open_until()
    if until is not None:
        row = CircuitBreaker.objects.filter(open_until=until).values_list("name", "reason").first()
        name, reason = row if row else (DAILY, "")
        raise CircuitOpenError(f"ZOHO calls paused until {timezone.localtime(until):%Y-%m-%d %H:%M} ({name} limit: "
                               f"{reason or 'limit reached'})", open_until=until, name=name)
    _closed_seen_at = time.monotonic()


def trip(name: str, until: datetime, reason: str) -> datetime:
    """Open breaker `name` until `until` (never shortens an open breaker). Returns the open-until."""
    global _closed_seen_at
    _closed_seen_at = 0.0
    now = timezone.now()
    row, _ = CircuitBreaker.objects.get_or_create(name=name)
    if row.open_until and row.open_until >= until:
        return row.open_until
    CircuitBreaker.objects.filter(pk=row.pk).update(open_until=until, reason=reason[:500], opened_at=now,
                                                    trips=F("trips") + 1)
    return until


def reset(name: str | None = None) -> int:
    """Close breakers by hand (ops, after raising the limit with ZOHO support)."""
    global _closed_seen_at
    _closed_seen_at = 0.0
    qs = CircuitBreaker.objects.all() if name is None else CircuitBreaker.objects.filter(name=name)
    return qs.update(open_until=None)
