"""`GET /health/`: database and task-broker status; 200 when healthy, 503 otherwise."""

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check(fn):
    t0 = time.monotonic()
    try:
        fn()
        return {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 1)}  # not money
    except Exception as exc:  # health must report, never raise
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker():
    from django_q.brokers import get_broker

    if not get_broker().ping():
        raise RuntimeError("broker did not answer ping")


@never_cache
@require_GET
def health(request):
    checks = {"database": _check(_database), "broker": _check(_broker)}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
