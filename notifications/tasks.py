"""django-q2 entry points for notifications: take ids, call one service, never raise."""

from __future__ import annotations

import logging

from circletel.jobs import job_run
from notifications.delivery import notification_deliver, notifications_retry_due

logger = logging.getLogger(__name__)


def send_notification(log_id: int) -> str:
    """Send one NotificationLog row (enqueued after commit by `notify`). Returns the row's status."""
    try:
        log = notification_deliver(log_id=int(log_id))
    except Exception:  # the delivery service records provider errors itself; this is the last guard
        logger.exception("send_notification(%s) crashed; the retry sweep will pick the row up", log_id)
        return "error"
    return "not claimed" if log is None else log.status


def retry_failed(triggered_by: str = "schedule") -> int:
    """Send rows that are due: queued but never enqueued, retries whose time came, dead claims."""
    with job_run("notifications_retry", triggered_by=triggered_by) as run:
        notifications_retry_due(run=run)
    return run.id
