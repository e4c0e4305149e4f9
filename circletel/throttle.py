"""One fixed-window request counter in the shared Django cache (Redis in production), for the
public endpoints that anyone can call: the public /pay/ page and PayPal's invoice order endpoints.

    if over_limit(f"payments:public_pay:{client_ip(request)}", limit=10, window=600): ...
"""

from __future__ import annotations

from django.core.cache import cache


def client_ip(request) -> str:
    """The caller's address as the WSGI server sees it (behind a proxy: the proxy's)."""
    return request.META.get("REMOTE_ADDR", "unknown")


def over_limit(key: str, *, limit: int, window: int) -> bool:
    """Count one call under `key` in the current `window` (seconds); True once more than `limit`."""
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, window)
        count = 1
    return count > limit
