"""`Idempotency-Key` for our own POST endpoints (`/api/payments/process`, `/api/payments/refund`).

    outcome = idempotency_begin(user=request.user, key=key, method="POST", path=request.path, body=request.body)
    if outcome.replay is not None: return outcome.replay          # (status, body) of the first request
    ... run the request ...
    idempotency_finish(record=outcome.record, status=201, body={...})   # or idempotency_release(...)

Insert first: the row (unique per user + key, state `locked`) is committed before the request
executes, so of two concurrent requests with one key only the inserter runs; the other waits up
to `WAIT_SECONDS` for the first to finish and replays its response, else answers 409 "in
progress". The same key with a different request (method + path + body hash) answers 422.
Responses below 500 are stored and replayed until `expires_at` (IDEMPOTENCY_KEY_TTL_HOURS, 24 h);
a server error releases the key so the client's retry runs again. `idempotency_keys_prune`
(scheduled) deletes expired rows.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.errors import ApplicationError, ConflictError
from payments.models import IdempotencyKey

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,255}$")  # printable ASCII without spaces, 8..255 characters
WAIT_SECONDS = 2.0  # not money
POLL_SECONDS = 0.05  # not money


class IdempotencyKeyInvalid(ApplicationError):
    status_code = 400


class IdempotencyKeyMismatch(ApplicationError):
    status_code = 422


class IdempotencyKeyInProgress(ConflictError):
    pass


@dataclass(frozen=True)
class Outcome:
    record: IdempotencyKey | None
    replay: tuple[int, object] | None = None


def ttl() -> timedelta:
    return timedelta(hours=int(getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24)))


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body or b""):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


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


def idempotency_begin(*, user, key: str, method: str, path: str, body: bytes,
                      wait_seconds: float | None = None) -> Outcome:
    """Claim `key` for this request, or return the stored response to replay."""
    validate_key(key)
    fingerprint = request_fingerprint(method=method, path=path, body=body)
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
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyMismatch("This Idempotency-Key was used for a different request.",
                                             {"Idempotency-Key": key})
            if existing.state == IdempotencyKey.State.COMPLETE:
                return Outcome(record=existing, replay=(existing.response_status, existing.response_body))
            if time.monotonic() >= deadline:
                raise IdempotencyKeyInProgress("A request with this Idempotency-Key is still in progress; retry shortly.",
                                               {"Idempotency-Key": key})
            time.sleep(POLL_SECONDS)
    raise IdempotencyKeyInProgress("A request with this Idempotency-Key is still in progress; retry shortly.",
                                   {"Idempotency-Key": key})


def idempotency_finish(*, record: IdempotencyKey, status: int, body) -> IdempotencyKey:
    """Store the response (a 5xx releases the key instead, so a retry runs again)."""
    if status >= 500:
        idempotency_release(record=record)
        return record
    IdempotencyKey.objects.filter(pk=record.pk).update(state=IdempotencyKey.State.COMPLETE, response_status=status,
                                                       response_body=body)
    record.state, record.response_status, record.response_body = IdempotencyKey.State.COMPLETE, status, body
    return record


def idempotency_release(*, record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.LOCKED).delete()


def idempotency_keys_prune(*, now=None) -> int:
    """Delete expired keys (and keys left locked by a crashed request once they expire)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
