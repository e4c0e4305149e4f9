"""`GET /health/`: database and task-broker status; 200 when healthy, 503 otherwise.

The broker check also reports how many tasks wait in each queue (the main one and the documents
one), so a stuck or missing worker shows as a growing number."""

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check(fn):
    t0 = time.monotonic()
    try:
        found = fn() or {}
        return {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 1), **found}  # not money
    except Exception as exc:  # health must report, never raise
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> dict:
    from django.conf import settings
    from django_q.conf import Conf

    from circletel.queue import broker

    if not broker().ping():
        raise RuntimeError("broker did not answer ping")
    queues = {Conf.CLUSTER_NAME: broker().queue_size()}
    if settings.Q_DOCUMENTS_QUEUE:
        queues[settings.Q_DOCUMENTS_QUEUE] = broker(settings.Q_DOCUMENTS_QUEUE).queue_size()
    return {"queues": queues}


@never_cache
@require_GET
def health(request):
    checks = {"database": _check(_database), "broker": _check(_broker)}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
