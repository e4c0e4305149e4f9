"""One fixed-window request counter in the shared Django cache (Redis in production), for the
public endpoints that anyone can call: the public /pay/ page and PayPal's invoice order endpoints.

    if over_limit(f"payments:public_pay:{client_ip(request)}", limit=10, window=600): ...
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.cache import cache

UNKNOWN_ADDRESS = "unknown"


def client_ip(request) -> str:
    """The caller's address, as every throttle here and the sign-in lockout (django-axes) count it.

    With no proxy in front (`TRUSTED_PROXY_COUNT=0`, the default) it is REMOTE_ADDR. Behind N
    trusted proxies it is the N-th address from the right of X-Forwarded-For, the one the outermost
    of our proxies appended; anything further left is whatever the client sent and is ignored. A
    request that did not come through that many proxies falls back to REMOTE_ADDR."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            try:
                return str(ipaddress.ip_address(hops[-proxies]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or UNKNOWN_ADDRESS


def over_limit(key: str, *, limit: int, window: int) -> bool:
    """Count one call under `key` in the current `window` (seconds); True once more than `limit`."""
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, window)
        count = 1
    return count > limit
