"""Limits on holds (issue 19, item 6): a script must not keep every listing on hold.

`reservation_limits_check` runs before `reserve` on both entry points (`POST /api/reservations/` and
the puppy page's `/puppies/<slug>/reserve`):

- rate limits, fixed windows of `RATE_WINDOW_SECONDS` in the shared cache (`circletel.throttle`):
  every attempt from one client address (`circletel.throttle.client_ip`, which honours
  TRUSTED_PROXY_COUNT) counts towards `RATE_LIMIT_PER_IP`, and every attempt for one email (normalised,
  hashed in the cache key) towards `RATE_LIMIT_PER_EMAIL`. Over a limit: `TooManyRequests` (429, code
  `rate_limited`, `retry_after`), nothing is reserved.
- a cap on concurrent holds: a buyer (email) may hold at most `MAX_HOLDS_PER_EMAIL` unpaid reservations
  at once, a client address at most `MAX_HOLDS_PER_IP` (higher: mobile networks put many buyers behind
  one address). Over a cap: `HoldLimitReached` (409, code `hold_limit_reached`). Paying or releasing a
  hold, or its lapsing, frees the place. The count is read without a lock, so two attempts at the same
  instant may both pass it once; the rate limits bound what that can add up to.
A setting of 0 turns that limit off.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils import timezone

from circletel.throttle import UNKNOWN_ADDRESS, over_limit
from reservations.errors import HoldLimitReached, TooManyRequests
from reservations.models import Reservation
from reservations.serializers import normalise_email

DEFAULTS = {"RATE_WINDOW_SECONDS": 600, "RATE_LIMIT_PER_IP": 20, "RATE_LIMIT_PER_EMAIL": 5,
            "MAX_HOLDS_PER_EMAIL": 2, "MAX_HOLDS_PER_IP": 5}


def limit(name: str) -> int:
    return int(settings.RESERVATIONS.get(name, DEFAULTS[name]))


def _too_many(which: str) -> TooManyRequests:
    window = limit("RATE_WINDOW_SECONDS")
    who = "this network address" if which == "ip" else "this email address"
    return TooManyRequests(f"Too many reservation attempts from {who}. Please try again in {max(window // 60, 1)} "
                           "minutes.", {"limit": which, "retry_after": window})


def _holding(**lookup) -> int:
    return Reservation.objects.filter(status=Reservation.Status.PENDING, expires_at__gt=timezone.now(),
                                      **lookup).count()


def reservation_rate_check_ip(*, client_ip: str) -> None:
    """Count one reservation attempt from `client_ip`; raise `TooManyRequests` past the limit."""
    per_ip = limit("RATE_LIMIT_PER_IP")
    if per_ip and over_limit(f"reservations:reserve:ip:{client_ip}", limit=per_ip,
                             window=limit("RATE_WINDOW_SECONDS")):
        raise _too_many("ip")


def reservation_limits_check(*, client_ip: str, email: str) -> None:
    """After the input is valid: the per-email rate limit and the caps on concurrent holds."""
    email = normalise_email(email)
    per_email = limit("RATE_LIMIT_PER_EMAIL")
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    if per_email and over_limit(f"reservations:reserve:email:{digest}", limit=per_email,
                                window=limit("RATE_WINDOW_SECONDS")):
        raise _too_many("email")
    cap = limit("MAX_HOLDS_PER_EMAIL")
    if cap and _holding(buyer_email=email) >= cap:
        raise HoldLimitReached(
            f"You already have {cap} unpaid reservation{'s' if cap != 1 else ''} on hold. Pay or release one "
            "before reserving another.", {"limit": "email", "max_holds": cap})
    cap = limit("MAX_HOLDS_PER_IP")
    if cap and client_ip and client_ip != UNKNOWN_ADDRESS and _holding(client_ip=client_ip) >= cap:
        raise HoldLimitReached(
            f"There are already {cap} unpaid reservations on hold from your network. Pay or release one before "
            "reserving another.", {"limit": "ip", "max_holds": cap})


def storable_ip(client_ip: str) -> str | None:
    """`client_ip()` as the reservation stores it (a GenericIPAddressField: None when unknown)."""
    return None if not client_ip or client_ip == UNKNOWN_ADDRESS else client_ip
