"""Hand work to django-q2: `enqueue(func, *args, **options)`, the one call site of `async_task`.

django-q2's `async_task` builds a new broker for every call unless it is given one, and with the
Redis broker that means a new connection per task (measured here: ~2.9 ms per enqueue against
~0.1 ms on a kept connection; the webhooks enqueue on every delivery). `broker()` keeps one broker
per process and queue name; both the ORM and the Redis broker are safe to share between threads
(the Redis client pools its connections, the ORM broker uses the thread's own database connection).

`enqueue` looks `async_task` up at call time, so tests that patch `django_q.tasks.async_task`
(the `queued` fixture) see every task.

PDF renders (invoices, receipts) go to their own queue with `enqueue_document`: a debit-order run
or an invoice run queues hundreds of renders at ~8 a second, and on the one queue webhook and
ZOHO tasks waited behind them. A second django-q2 cluster consumes it
(`Q_CLUSTER_NAME=documents manage.py qcluster`; `make run` and the Procfile start it). Setting
`Q_DOCUMENTS_QUEUE=` (empty) puts the renders back on the main queue for a single-worker deployment.
"""

from __future__ import annotations

import os
import threading

_brokers: dict = {}
_lock = threading.Lock()


def broker(cluster: str | None = None):
    """This process's broker for the queue `cluster` (django-q2's default queue when None)."""
    key = (os.getpid(), cluster)  # a forked child builds its own (sockets are not shared across fork)
    found = _brokers.get(key)
    if found is None:
        from django_q.brokers import get_broker

        with _lock:
            found = _brokers.get(key)
            if found is None:
                found = _brokers[key] = get_broker(cluster)
    return found


def enqueue(func: str, *args, **options):
    """`django_q.tasks.async_task(func, *args, **options)` on the kept broker; returns the task id."""
    from django_q import tasks

    return tasks.async_task(func, *args, broker=broker(options.get("cluster")), **options)


def enqueue_document(func: str, *args, **options):
    """`enqueue` on the documents queue (setting `Q_DOCUMENTS_QUEUE`; the main queue when empty)."""
    from django.conf import settings

    queue = settings.Q_DOCUMENTS_QUEUE or None
    return enqueue(func, *args, **({"cluster": queue} if queue else {}), **options)


def reset() -> None:
    """Forget the kept brokers (tests that change the broker settings)."""
    with _lock:
        _brokers.clear()
