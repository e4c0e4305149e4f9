"""`Idempotency-Key` for our own POST endpoints (`/api/payments/process`, `/api/payments/refund`).

    outcome = idempotency_begin(user=request.user, key=key, method="POST", path=request.path, body=request.body,
                                content_type=request.content_type)
    if outcome.replay is not None: return outcome.replay          # (status, body) of the first request
    ... run the request ...
    idempotency_finish(record=outcome.record, status=201, body={...}, retryable=False)   # or idempotency_release

Insert first: the row (unique per user + key, state `locked`) is committed before the request
executes, so of two concurrent requests with one key only the inserter runs; the other waits up
to `WAIT_SECONDS` for the first to finish and replays its response, else answers 409 "in
progress" (`IdempotencyKeyInProgress.retry_after` seconds for the Retry-After header). The same
key with a different request (method + path + body fingerprint) answers 422.

Same body: a JSON body is fingerprinted in canonical form (parsed, sorted keys, no whitespace), so
key order and spacing do not matter; any other body by its raw bytes. Rows stored before the
canonical form existed hold the raw-bytes fingerprint, so a repeat matches either form (sound:
equal raw bytes always have equal canonical forms).

Stored answers: a response below 500 is stored and replayed until `expires_at`
(IDEMPOTENCY_KEY_TTL_HOURS, 24 h), except one that says "try again" (`retryable`: provider down,
rate limited): that one, like any 5xx, releases the key so the client's retry runs again.

Crashed requests: a `locked` row whose request died without cleanup (process killed) would block
its key until expiry. Once it is older than IDEMPOTENCY_LOCK_STALE_SECONDS (300 s; longer than
any request runs, provider retries included) a repeat takes it over with one conditional UPDATE on
the `created_at` it read, so of two repeats only one matches; the taker re-stamps `created_at`,
which is also the lock's ownership token: `idempotency_finish` / `idempotency_release` of a
request that lost its row (it was only slow) change nothing. `idempotency_keys_prune`
(scheduled) deletes expired rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.errors import ApplicationError, ConflictError
from payments.models import IdempotencyKey

logger = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,255}$")  # printable ASCII without spaces, 8..255 characters
WAIT_SECONDS = 2.0  # not money
POLL_SECONDS = 0.05  # not money
RETRY_AFTER_SECONDS = 2  # not money: what a 409 "in progress" tells the client to wait
IN_PROGRESS_MESSAGE = "A request with this Idempotency-Key is still in progress; retry shortly."
LOCKED = IdempotencyKey.State.LOCKED


class IdempotencyKeyInvalid(ApplicationError):
    status_code = 400


class IdempotencyKeyMismatch(ApplicationError):
    status_code = 422


class IdempotencyKeyInProgress(ConflictError):
    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Outcome:
    record: IdempotencyKey | None
    replay: tuple[int, object] | None = None


def ttl() -> timedelta:
    return timedelta(hours=int(getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24)))


def lock_stale_after() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_LOCK_STALE_SECONDS)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # as DRF's JSONParser: NaN / Infinity are not JSON


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return True  # caller does not know: try to parse
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def canonical_body(body: bytes, content_type: str | None = None) -> bytes:
    """The JSON body parsed and re-serialised with sorted keys and no whitespace (what the view's
    parser sees is then equal exactly when this is); anything else unchanged."""
    if not body or not _is_json(content_type):
        return body or b""
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


def _fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def request_fingerprint(*, method: str, path: str, body: bytes, content_type: str | None = None) -> str:
    return _fingerprint(method, path, canonical_body(body, content_type))


def legacy_request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """The raw-bytes fingerprint stored before canonical JSON (accepted for rows of that time)."""
    return _fingerprint(method, path, body or b"")


def validate_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key or ""):
        raise IdempotencyKeyInvalid("Idempotency-Key must be 8 to 255 printable characters without spaces.",
                                    {"Idempotency-Key": "invalid"})
    return key


def _insert(*, user, key: str, fingerprint: str, method: str, path: str) -> IdempotencyKey | None:
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint, method=method.upper(),
                                                 path=path[:200], expires_at=timezone.now() + ttl())
    except IntegrityError:
        return None


def _take_over(*, existing: IdempotencyKey, fingerprint: str) -> IdempotencyKey | None:
    """Claim a stale `locked` row (its request crashed). Compare-and-swap on the `created_at` we
    read: on PostgreSQL a second UPDATE waits for the first's row lock, re-checks the WHERE against
    the committed row (new `created_at`) and matches nothing; SQLite serialises writers."""
    now = timezone.now()
    expires_at = now + ttl()
    taken = IdempotencyKey.objects.filter(
        pk=existing.pk, state=LOCKED, created_at=existing.created_at, created_at__lte=now - lock_stale_after(),
    ).update(created_at=now, expires_at=expires_at, fingerprint=fingerprint)
    if not taken:
        return None
    logger.warning("idempotency key %s (user %s) taken over from a request locked since %s",
                   existing.pk, existing.user_id, existing.created_at.isoformat())
    existing.created_at, existing.expires_at, existing.fingerprint = now, expires_at, fingerprint
    return existing


def _in_progress(key: str) -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(IN_PROGRESS_MESSAGE, {"Idempotency-Key": key})


def idempotency_begin(*, user, key: str, method: str, path: str, body: bytes, content_type: str | None = None,
                      wait_seconds: float | None = None) -> Outcome:
    """Claim `key` for this request, or return the stored response to replay."""
    validate_key(key)
    fingerprint = request_fingerprint(method=method, path=path, body=body, content_type=content_type)
    accepted = {fingerprint, legacy_request_fingerprint(method=method, path=path, body=body)}
    for _ in range(2):
        record = _insert(user=user, key=key, fingerprint=fingerprint, method=method, path=path)
        if record is not None:
            return Outcome(record=record)
        deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
        while True:
            existing = IdempotencyKey.objects.filter(user=user, key=key).first()
            if existing is None:
                break  # released (server error) or pruned meanwhile: try to claim it again
            if existing.expires_at <= timezone.now():
                IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=timezone.now()).delete()
                break
            if existing.fingerprint not in accepted:
                raise IdempotencyKeyMismatch("This Idempotency-Key was used for a different request.",
                                             {"Idempotency-Key": key})
            if existing.state == IdempotencyKey.State.COMPLETE:
                return Outcome(record=existing, replay=(existing.response_status, existing.response_body))
            if existing.created_at <= timezone.now() - lock_stale_after():
                taken = _take_over(existing=existing, fingerprint=fingerprint)
                if taken is not None:
                    return Outcome(record=taken)
                # else another repeat took it over (or it finished) meanwhile: wait and read it again
            if time.monotonic() >= deadline:
                raise _in_progress(key)
            time.sleep(POLL_SECONDS)
    raise _in_progress(key)


def _owned(record: IdempotencyKey):
    """The row while this request still holds its lock (not taken over as stale, not finished)."""
    return IdempotencyKey.objects.filter(pk=record.pk, state=LOCKED, created_at=record.created_at)


def idempotency_finish(*, record: IdempotencyKey, status: int, body, retryable: bool = False) -> IdempotencyKey:
    """Store the response. A 5xx or a `retryable` answer ("try again": provider down, rate limited)
    releases the key instead, so the client's retry runs again rather than replaying it."""
    if status >= 500 or retryable:
        idempotency_release(record=record)
        return record
    if not _owned(record).update(state=IdempotencyKey.State.COMPLETE, response_status=status, response_body=body):
        logger.warning("idempotency key %s was taken over before its request finished; response not stored",
                       record.pk)
        return record
    record.state, record.response_status, record.response_body = IdempotencyKey.State.COMPLETE, status, body
    return record


def idempotency_release(*, record: IdempotencyKey) -> None:
    _owned(record).delete()


def idempotency_keys_prune(*, now=None) -> int:
    """Delete expired keys (and keys left locked by a crashed request once they expire)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
