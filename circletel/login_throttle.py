"""Sign-in throttling with django-axes (docs/adr/0009-login-throttling.md).

Both sign-in pages (`/accounts/login/` for customers, `/admin/login/` for staff) authenticate through
`axes.backends.AxesStandaloneBackend` first, which refuses a locked-out attempt before any password
is checked. Failures are rows in axes' `AccessAttempt` table (one per account, address and browser).

- An account (the account key of the email typed, `circletel.auth.normalise_email`: the same key
  sign-in, sign-up and password reset use, so no look-alike spelling gets a count of its own) is
  locked after `AXES_FAILURE_LIMIT` failures from any address; an address after
  `LOGIN_ADDRESS_FAILURE_LIMIT` failures for any accounts. Axes compares one number with one limit,
  so `LoginAttemptHandler.get_failures` reports the account's failures, raised to the account limit
  when the address is over its own limit.
- A lock lasts `AXES_COOLOFF_TIME` after the latest failure (a failure while locked starts it again,
  so the wait shown is exact); only failures inside that window count.
- A successful sign-in forgets that account's failures from that address (not its failures from
  elsewhere, nor the address's failures against other accounts: a valid account of one's own must
  not reset a guessing run against others).
- A locked-out request gets `lockout_response`: HTTP 429 saying how long to wait.
- Staff unlock from the admin ("Login attempts": unlock accounts / addresses), which calls
  `login_attempts_clear`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q, Sum
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from circletel.auth import normalise_email
from circletel.throttle import UNKNOWN_ADDRESS, client_ip


def normalise_username(value: str | None) -> str | None:
    """An account as sign-in sees it: `EmailBackend` signs in the user whose email has the typed
    address's account key, so every spelling with that key (` A@x.com`, `a@x.com`, `ａ@x.com`, and
    look-alikes such as `admın@x.com`) is one account and shares one failure count."""
    return normalise_email(value) or None


def attempt_username(request, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the account an attempt is for (both login forms post `username`)."""
    if credentials:
        return normalise_username(credentials.get("username"))
    return normalise_username(getattr(request, "POST", {}).get("username"))


def attempt_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client address the other throttles count (`client_ip`), or None
    for a request without one (the test client's `force_login` builds a bare HttpRequest, and axes
    stores the address in an inet column on PostgreSQL)."""
    address = client_ip(request)
    return None if address == UNKNOWN_ADDRESS else address


def address_failure_limit() -> int:
    return settings.LOGIN_ADDRESS_FAILURE_LIMIT


def recent_failures(*, username: str | None, address: str | None, since) -> tuple[int, int]:
    """(failures for `username` from any address, failures from `address` for any account) since `since`."""
    account = Q(username=username) if username else Q(pk__in=[])
    client = Q(ip_address=address) if address else Q(pk__in=[])
    totals = AccessAttempt.objects.filter(account | client, attempt_time__gte=since).aggregate(
        account=Sum("failures_since_start", filter=account, default=0),
        address=Sum("failures_since_start", filter=client, default=0),
    )
    return totals["account"], totals["address"]


class LoginAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with a separate, higher limit per address and a narrower reset on success."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        by_account, by_address = recent_failures(
            username=get_client_username(request, credentials), address=request.axes_ip_address,
            since=get_cool_off_threshold(request),
        )
        if by_address >= address_failure_limit():
            return max(by_account, get_failure_limit(request, credentials))
        return by_account

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """On a successful sign-in: forget this account's failures from this address only."""
        usernames = {attempt_username(request, credentials)}
        user = getattr(request, "user", None)  # login() sets it to the signed-in user before the signal
        usernames.add(normalise_username(getattr(user, "email", "")))
        usernames.discard(None)
        count, _ = AccessAttempt.objects.filter(username__in=usernames, ip_address=request.axes_ip_address).delete()
        return count


def wait_in_words(cool_off: timedelta) -> str:
    minutes = max(1, -(-int(cool_off.total_seconds()) // 60))  # round up: never promise less than the wait
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def lockout_message(cool_off: timedelta) -> str:
    return f"Too many failed sign-in attempts. Try again in {wait_in_words(cool_off)}."


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with the wait, in the site's layout (plain text on the admin login)."""
    cool_off = get_cool_off(request)
    message = lockout_message(cool_off)
    if request.path.startswith(reverse("admin:index")):
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def login_attempts_clear(*, usernames: Iterable[str] = (), addresses: Iterable[str] = ()) -> int:
    """Unlock: delete the recorded failures of `usernames` (from any address) and of `addresses`
    (for any account). Returns the number of attempt rows deleted."""
    usernames = {u for u in (normalise_username(u) for u in usernames) if u}
    addresses = {a for a in addresses if a}
    if not usernames and not addresses:
        return 0
    count, _ = AccessAttempt.objects.filter(Q(username__in=usernames) | Q(ip_address__in=addresses)).delete()
    return count
