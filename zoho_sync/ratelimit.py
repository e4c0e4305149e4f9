"""A ZOHO rate limiter shared by every worker process, kept in the database.

Two limits, both from `settings.ZOHO`:
- `RATE_LIMIT_PER_MINUTE`: calls per fixed window (a minute; the benchmark scales the window down).
  A slot is taken with one conditional `UPDATE ... SET count = count + 1 WHERE count < limit`,
  atomic on SQLite and PostgreSQL alike, so N processes on M machines together stay under it.
  When the window is full the caller sleeps until the next window starts.
- `CONCURRENCY_LIMIT`: in-flight calls, as leased rows in `ConcurrencySlot` (a crashed worker's
  lease expires after `LEASE_SECONDS`).

Every call also bumps the day's counter (`d:YYYY-MM-DD`, SAST), which the dashboard shows as
"ZOHO calls today". Counters live in `ApiCallCounter`; old rows are pruned by `prune()`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from zoho_sync.models import ApiCallCounter, ConcurrencySlot

LEASE_SECONDS = 60
GUARD_FRACTION = 0.03  # not money: last 3% of a window (1.8 s of a minute) is not used


def day_key(now=None) -> str:
    return "d:" + timezone.localdate(now or timezone.now()).isoformat()


def calls_today() -> int:
    row = ApiCallCounter.objects.filter(window=day_key()).values_list("count", flat=True).first()
    return row or 0


def _bump(window: str, limit: int | None) -> bool:
    """Take one slot in `window` (unbounded when `limit` is None). True when taken."""
    qs = ApiCallCounter.objects.filter(window=window)
    if limit is not None:
        qs = qs.filter(count__lt=limit)
    if qs.update(count=F("count") + 1):
        return True
    if limit is not None and limit <= 0:
        return False
    try:
        with transaction.atomic():
            ApiCallCounter.objects.create(window=window, count=1)
        return True
    except IntegrityError:
        # Someone created the row first: try the conditional update once more.
        return bool(qs.update(count=F("count") + 1))


class RateLimiter:
    """Database-backed limiter; `clock` and `sleep` are injectable for tests and the benchmark."""

    def __init__(self, *, per_window: int | None = None, window_seconds: float | None = None,  # not money
                 concurrency: int | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_window = per_window if per_window is not None else settings.ZOHO["RATE_LIMIT_PER_MINUTE"]
        # The window is a minute; only the benchmark scales it down (ZOHO["RATE_LIMIT_WINDOW_SECONDS"]).
        self.window_seconds = window_seconds or settings.ZOHO.get("RATE_LIMIT_WINDOW_SECONDS", 60.0)
        self.concurrency = concurrency if concurrency is not None else settings.ZOHO["CONCURRENCY_LIMIT"]
        self.clock = clock
        self.sleep = sleep
        self.waited_seconds = 0.0  # not money

    def _window(self, now: float) -> int:
        return int(now // self.window_seconds)

    def acquire_rate(self) -> None:
        while True:
            now = self.clock()
            index = self._window(now)
            end = (index + 1) * self.window_seconds
            if end - now < self.window_seconds * GUARD_FRACTION:
                # Too close to the window's end: the request could reach ZOHO in the next window
                # and push that one over the limit. Start in the next window instead.
                self.waited_seconds += end - now + 0.001
                self.sleep(end - now + 0.001)
                continue
            if _bump(f"m:{int(self.window_seconds * 1000)}:{index}", self.per_window):
                _bump(day_key(), None)
                return
            wait = (index + 1) * self.window_seconds - now + 0.001
            self.waited_seconds += wait
            self.sleep(wait)

    def _ensure_slots(self) -> None:
        existing = ConcurrencySlot.objects.filter(slot__lt=self.concurrency).count()
        if existing < self.concurrency:
            ConcurrencySlot.objects.bulk_create(
                [ConcurrencySlot(slot=i) for i in range(self.concurrency)], ignore_conflicts=True
            )

    def acquire_slot(self) -> tuple[int, str]:
        holder = uuid.uuid4().hex
        self._ensure_slots()
        while True:
            now = timezone.now()
            for slot in range(self.concurrency):
                taken = ConcurrencySlot.objects.filter(
                    Q(leased_until__isnull=True) | Q(leased_until__lt=now), slot=slot
                ).update(holder=holder, leased_until=now + timedelta(seconds=LEASE_SECONDS))
                if taken:
                    return slot, holder
            self.sleep(0.02)

    @staticmethod
    def release_slot(slot: int, holder: str) -> None:
        ConcurrencySlot.objects.filter(slot=slot, holder=holder).update(holder="", leased_until=None)

    @contextmanager
    def call(self):
        """Wrap one ZOHO API call: wait for a rate slot and a concurrency slot, release after."""
        # Concurrency slot first, rate slot last: the rate slot is taken right before the request
        # leaves, so it lands in the window that counted it.
        slot, holder = self.acquire_slot()
        try:
            self.acquire_rate()
            yield
        finally:
            self.release_slot(slot, holder)


def prune(*, keep_days: int = 35) -> int:
    """Delete minute windows (all but the current hour's) and day rows older than `keep_days`."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = ApiCallCounter.objects.filter(window__startswith="m:", updated_at__lt=timezone.now()
                                               - timedelta(hours=1)).delete()
    old_days, _ = ApiCallCounter.objects.filter(window__startswith="d:", updated_at__lt=cutoff).delete()
    return deleted + old_days
