"""Sending stored NotificationLog rows: claim, send through the channel, record, retry later.

    notification_deliver(log_id=...)     # the send task: one row, at most one worker at a time
    notifications_retry_due()            # the sweep: stale queued rows, due retries, dead claims
    notification_resend(log=...)         # staff: send a failed row again

A row is claimed with one conditional UPDATE (queued/retrying/expired-sending -> sending,
attempts + 1, next_attempt_at = now + lease), so two workers never send the same row at once.
The provider call runs outside any transaction. Outcome: sent (with the provider's message id);
retrying with exponential backoff on a retryable error (timeouts, 429, 5xx); failed on a
permanent error (4xx, configuration) or after MAX_ATTEMPTS. Nothing here raises into a caller
for a delivery problem.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from circletel.errors import ApplicationError
from circletel.http import ProviderError, RetryableProviderError
from circletel.leases import held, lease_until
from circletel.queue import enqueue
from notifications.clients import SendResult
from notifications.events import is_secret
from notifications.models import NotificationLog

logger = logging.getLogger(__name__)

Status = NotificationLog.Status
Channel = NotificationLog.Channel

MAX_ATTEMPTS = 5
# What a sent message with a one-time secret (EventSpec.secret) keeps of its body.
SCRUBBED = "[removed after sending: this message carried a one-time link]"
BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_CAP = timedelta(hours=1)
# A claim lasts the lease (circletel.leases, LEASE_SECONDS) and the sender's heartbeat renews it while
# the provider call runs; a lapsed claim belonged to a worker that died mid-send.
STALE_QUEUED_AFTER = timedelta(seconds=30)  # queued and never picked up: the send task was lost
SWEEP_BATCH = 100
SWEEP_TIME_BUDGET_SECONDS = 240  # not money; stay well inside the django-q2 task timeout
RECOVER_BUDGET_SECONDS = 15  # not money; the recovery sweep's share of its minute


class NotificationError(ApplicationError):
    pass


def backoff_for(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` tries: 2, 4, 8, 16 minutes ... capped at an hour."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


def _claimable(now) -> Q:
    waiting = Q(status__in=[Status.QUEUED, Status.RETRYING])
    return (waiting & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))) | Q(
        status=Status.SENDING, next_attempt_at__lte=now
    )


def notification_claim(*, log_id: int, now=None) -> NotificationLog | None:
    """Take the row for sending, or None when it is not due or another worker holds it."""
    now = now or timezone.now()
    claimed = (
        NotificationLog.objects.filter(pk=log_id, attempts__lt=MAX_ATTEMPTS)
        .filter(_claimable(now))
        .update(status=Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=lease_until(now))
    )
    if not claimed:
        return None
    return NotificationLog.objects.get(pk=log_id)


def _send_sms(log: NotificationLog) -> SendResult:
    provider = (settings.SMS_PROVIDER or "console").lower()
    if provider == "bulksms":
        from notifications.clients import bulksms

        return bulksms.send_sms(to=log.recipient, body=log.body, deduplication_id=log.pk)
    if provider == "clickatell":
        from notifications.clients import clickatell

        return clickatell.send_sms(to=log.recipient, body=log.body)
    if provider == "console":
        from notifications.clients import console_sms

        return console_sms.send_sms(to=log.recipient, body=log.body)
    raise ImproperlyConfigured(f"SMS_PROVIDER must be console, bulksms or clickatell, not {provider!r}")


def _send_ops(log: NotificationLog) -> SendResult:
    from notifications.clients import ops_webhook

    kind = log.recipient if log.recipient in ops_webhook.KINDS else None
    fields = log.context.get("fields") if isinstance(log.context, dict) else None
    return ops_webhook.post_alert(event=log.event, title=log.subject, message=log.body,
                                  fields=fields if isinstance(fields, dict) else None, kind=kind)


def _load_attachments(log: NotificationLog) -> list[tuple[str, bytes, str]]:
    """Read the row's attachments from the default storage (at every attempt, so a retry sends them too).

    A file that cannot be read is a retryable failure: storage may be briefly unavailable, and after
    MAX_ATTEMPTS the row is failed with the path in its error, for staff to fix and resend.
    """
    from django.core.files.storage import default_storage

    files = []
    for item in log.attachments or []:
        path = item.get("path", "")
        try:
            with default_storage.open(path, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError) as exc:
            raise RetryableProviderError(f"attachment {path!r} could not be read: {exc}", provider="email")
        files.append((item.get("filename") or path.rsplit("/", 1)[-1], data,
                      item.get("mimetype") or "application/octet-stream"))
    return files


def _send_email(log: NotificationLog) -> SendResult:
    from notifications.clients import email

    return email.send_email(to=log.recipient, subject=log.subject, text=log.body, html=log.html_body,
                            reply_to=[settings.COMPANY["email"]] if settings.COMPANY.get("email") else None,
                            attachments=_load_attachments(log), idempotency_key=idempotency_key_for(log))


def idempotency_key_for(log: NotificationLog) -> str:
    """The provider idempotency key of one row: every attempt (and a staff resend) of the row sends the same."""
    return f"circletel-notification/{log.pk}"


SENDERS = {Channel.EMAIL: _send_email, Channel.SMS: _send_sms, Channel.OPS: _send_ops}


def _record(log: NotificationLog, **fields) -> NotificationLog:
    # Only the holder of the claim records; a row re-claimed after an expired lease is left to its new holder.
    NotificationLog.objects.filter(pk=log.pk, status=Status.SENDING).update(**fields)
    log.refresh_from_db()
    return log


def notification_deliver(*, log_id: int, now=None) -> NotificationLog | None:
    """Send one row if it is due and free; returns the row after the attempt, None if not claimed."""
    log = notification_claim(log_id=log_id, now=now)
    if log is None:
        return None
    sender = SENDERS.get(log.channel)
    try:
        if sender is None:
            raise ImproperlyConfigured(f"no sender for channel {log.channel!r}")
        with held(NotificationLog, log.pk, field="next_attempt_at", status=Status.SENDING):
            result = sender(log)
    except ImproperlyConfigured as exc:
        logger.error("notification %s not sent, configuration: %s", log.pk, exc)
        return _record(log, status=Status.FAILED, error=f"configuration: {exc}"[:2000], next_attempt_at=None)
    except ProviderError as exc:
        return _failed_attempt(log, exc, retryable=exc.retryable, retry_after=exc.retry_after)
    except Exception as exc:  # an unexpected bug or library error: keep it on the row, try again later
        logger.exception("notification %s: unexpected error while sending", log.pk)
        return _failed_attempt(log, exc, retryable=True, retry_after=None)
    scrub = {"body": SCRUBBED, "html_body": "", "context": {}} if is_secret(log.event) else {}
    return _record(log, status=Status.SENT, sent_at=timezone.now(), provider_message_id=result.message_id[:200],
                   error="", next_attempt_at=None, **scrub)


def _failed_attempt(log: NotificationLog, exc: Exception, *, retryable: bool, retry_after) -> NotificationLog:
    detail = f"{type(exc).__name__}: {exc}"
    raw = getattr(exc, "raw", "")
    if raw:
        detail += f"\n{raw}"
    if retryable and log.attempts < MAX_ATTEMPTS:
        delay = backoff_for(log.attempts)
        if retry_after:
            delay = max(delay, timedelta(seconds=float(retry_after)))  # not money
        logger.warning("notification %s attempt %s failed, retrying in %s: %s", log.pk, log.attempts, delay, exc)
        return _record(log, status=Status.RETRYING, error=detail[:2000], next_attempt_at=timezone.now() + delay)
    reason = f"gave up after {log.attempts} attempts: " if retryable else ""
    logger.error("notification %s failed: %s%s", log.pk, reason, exc)
    return _record(log, status=Status.FAILED, error=(reason + detail)[:2000], next_attempt_at=None)


def due_for_retry(*, now=None):
    """Rows the sweep should try: queued but never picked up, retries whose time came, dead claims."""
    now = now or timezone.now()
    stale_queued = Q(status=Status.QUEUED, created_at__lte=now - STALE_QUEUED_AFTER) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    due = Q(status__in=[Status.RETRYING, Status.SENDING], next_attempt_at__lte=now)
    return NotificationLog.objects.filter(stale_queued | due, attempts__lt=MAX_ATTEMPTS).order_by("created_at")


def notifications_give_up_interrupted(*, now=None) -> list[int]:
    """A dead claim that already used every attempt: record it failed (its outcome is unknown)."""
    now = now or timezone.now()
    stuck = NotificationLog.objects.filter(status=Status.SENDING, next_attempt_at__lte=now, attempts__gte=MAX_ATTEMPTS)
    ids = list(stuck.values_list("pk", flat=True))
    if ids:
        stuck.filter(pk__in=ids).update(status=Status.FAILED, next_attempt_at=None,
                                        error="sending was interrupted on the last attempt; delivery unknown")
    return ids


def notifications_recover(*, now=None) -> dict:
    """The recovery sweep's part (every minute, `circletel.recovery`): due rows, within its budget."""
    return notifications_retry_due(now=now, budget_seconds=RECOVER_BUDGET_SECONDS)


def notifications_retry_due(*, run=None, now=None, batch: int = SWEEP_BATCH,
                            budget_seconds: float = SWEEP_TIME_BUDGET_SECONDS) -> dict:  # not money
    """Send the due rows (bounded in count and time); counts by outcome. Used by `tasks.retry_failed`."""
    counts = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for log_id in notifications_give_up_interrupted(now=now):
        counts["failed"] += 1
        if run is not None:
            run.fail_item(f"notification:{log_id}", "interrupted on the last attempt")
    started = time.monotonic()
    for log_id in list(due_for_retry(now=now).values_list("pk", flat=True)[:batch]):
        if time.monotonic() - started > budget_seconds:
            break
        log = notification_deliver(log_id=log_id, now=now)
        outcome = "skipped" if log is None else log.status
        counts[outcome if outcome in counts else "skipped"] += 1
        if run is not None:
            if outcome == Status.SENT:
                run.processed += 1
            elif outcome == Status.FAILED:
                run.fail_item(f"notification:{log_id}", log.error.splitlines()[0] if log.error else "failed")
            else:
                run.skipped += 1
    if run is not None:
        run.details.update(counts)
    return counts


def notification_resend(*, log: NotificationLog, actor: str = "") -> NotificationLog:
    """Queue a failed row again (fresh attempts) and send it after commit. Only failed rows."""
    with transaction.atomic():
        updated = NotificationLog.objects.filter(pk=log.pk, status=Status.FAILED).update(
            status=Status.QUEUED, attempts=0, next_attempt_at=None,
            error=f"resent{f' by {actor}' if actor else ''}; previous error: {log.error}"[:2000],
        )
        if not updated:
            raise NotificationError(f"notification {log.pk} is not failed; only failed notifications can be resent",
                                    {"id": log.pk, "status": log.status})
        pk = log.pk
        transaction.on_commit(lambda: enqueue_send(pk))
    log.refresh_from_db()
    return log


def enqueue_send(pk: int) -> None:
    """Hand the row to a worker. Never raises: a lost enqueue is picked up by the retry sweep."""
    try:
        enqueue("notifications.tasks.send_notification", pk, group="notifications")
    except Exception:
        logger.exception("notification %s: could not enqueue the send; the retry sweep will pick it up", pk)
