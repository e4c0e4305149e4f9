"""Leases with heartbeats: how a worker says "I still hold this" while it works, and how a dead one is found.

Work that a worker claims (a webhook event, a notification send, a follow-up, a job run) carries a
`lease_until` time. The claim sets it to now + `LEASE_SECONDS`; while the worker holds the row, one
heartbeat thread per process moves it forward every `HEARTBEAT_SECONDS`:

    with held(WebhookEvent, event.pk, status=WebhookEvent.Status.PROCESSING):
        ...  # however long the work takes, the lease stays ahead of now

A worker killed with -9 stops beating: its lease lapses within `LEASE_SECONDS`, and the recovery sweep
(`circletel.recovery`, every minute) hands the row to a live worker. So recovery waits on the lease
(seconds), never on a fixed "stale after 10 minutes" guess, and a slow but live worker is never
mistaken for a dead one.

The heartbeat renews only rows still in the state given to `held` (a row another worker has taken
over after a lapse, or that the work finished, is left alone), with one UPDATE per model per beat on
its own database connection. On PostgreSQL it waits at most a second for a row lock (the holder's
own transaction may be writing the row) and skips the beat rather than block the others. With
`LEASE_HEARTBEAT_THREAD = False` (tests) nothing runs in the background: `beat()` renews on demand.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_seconds() -> int:
    return int(getattr(settings, "LEASE_SECONDS", 20))


def heartbeat_seconds() -> float:
    return float(getattr(settings, "HEARTBEAT_SECONDS", max(1.0, lease_seconds() / 4)))  # not money


def lease_until(now=None):
    """The lease a claim made now gets."""
    return (now or timezone.now()) + timedelta(seconds=lease_seconds())


def owner_name() -> str:
    """Who holds a lease: host and process id (shown in the admin beside a run that died)."""
    return f"{os.uname().nodename}:{os.getpid()}"[:100]


class _Heartbeat:
    """This process's heartbeat: the rows it holds, renewed by one daemon thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[tuple, int] = {}  # (model, pk, field, frozen filters) -> how many holders
        self._thread: threading.Thread | None = None
        self._pid = None
        self._wake = threading.Event()

    def hold(self, key: tuple) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's rows and thread are not ours
                self._held, self._thread, self._pid = {}, None, os.getpid()
            self._held[key] = self._held.get(key, 0) + 1
        if getattr(settings, "LEASE_HEARTBEAT_THREAD", True):
            self._ensure_thread()

    def release(self, key: tuple) -> None:
        with self._lock:
            count = self._held.get(key, 0) - 1
            if count <= 0:
                self._held.pop(key, None)
            else:
                self._held[key] = count

    def holding(self) -> list[tuple]:
        with self._lock:
            return list(self._held)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        from django.db import connections

        while True:
            self._wake.wait(heartbeat_seconds())
            self._wake.clear()
            if not self.holding():
                connections.close_all()  # idle: give the connection back (this thread's only)
                continue
            try:
                self.beat()
            except Exception:  # never let the heartbeat die; the next beat tries again
                logger.exception("lease heartbeat failed; retrying at the next beat")
                connections.close_all()

    def beat(self, now=None) -> int:
        """Renew every lease this process holds (one UPDATE per model and state). Returns rows renewed."""
        groups: dict[tuple, list] = {}
        for model, pk, field, filters in self.holding():
            groups.setdefault((model, field, filters), []).append(pk)
        renewed = 0
        until = lease_until(now)
        for (model, field, filters), pks in groups.items():
            try:
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL lock_timeout = '1s'")
                    renewed += model._default_manager.filter(pk__in=pks, **dict(filters)).update(**{field: until})
            except DatabaseError as exc:  # a row lock held by the work itself, or a brief outage: next beat
                logger.warning("lease heartbeat skipped for %s: %s", model.__name__, exc)
        return renewed


_heartbeat = _Heartbeat()


@contextmanager
def held(model, pk, *, field: str = "lease_until", **still):
    """Keep `model` row `pk`'s lease ahead of now while the block runs (only while it matches `still`)."""
    key = (model, pk, field, tuple(sorted(still.items())))
    _heartbeat.hold(key)
    try:
        yield
    finally:
        _heartbeat.release(key)


def beat(now=None) -> int:
    """Renew this process's leases now (what the heartbeat thread does every `HEARTBEAT_SECONDS`)."""
    return _heartbeat.beat(now)


def holding() -> list[tuple]:
    return _heartbeat.holding()
