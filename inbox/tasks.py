"""django-q2 entry points of the webhook inbox: primitive arguments, one service each, safe twice.

`process_webhook_event` runs once per received webhook (queued by `webhook_accept`) and writes no
JobRun: the WebhookEvent row is its record. The scheduled sweeps write a JobRun per run.
"""

from __future__ import annotations

from circletel.jobs import job_run
from inbox.health import webhook_failures_alert
from inbox.services import webhook_event_process, webhook_events_prune, webhook_events_reprocess

# A sweep takes up to 10 batches of 200 (a lost queue of notifications is caught up quickly,
# and one run still ends well inside the task timeout).
REPROCESS_MAX_BATCHES = 10


def process_webhook_event(event_id: int) -> str:
    """Apply one stored webhook event; returns its final status ("missing" if it is gone)."""
    event = webhook_event_process(event_id=int(event_id))
    return event.status if event is not None else "missing"


def reprocess_webhook_events(provider: str | None = None, failed_only: bool = False, ids=None,
                             triggered_by: str = "schedule") -> dict:
    with job_run("reprocess_webhook_events", triggered_by=triggered_by) as run:
        counts = webhook_events_reprocess(provider=provider, failed_only=failed_only, ids=ids, run=run,
                                          max_batches=REPROCESS_MAX_BATCHES)
        run.details.update(counts)
    return counts


def prune_webhook_events(triggered_by: str = "schedule") -> int:
    with job_run("prune_webhook_events", triggered_by=triggered_by) as run:
        deleted = webhook_events_prune()
        run.processed = deleted
    return deleted


def webhook_health_alert(triggered_by: str = "schedule") -> list[str]:
    """Alert ops for every provider (NetCash, Stripe, PayPal) whose failures or backlog cross a threshold."""
    with job_run("webhook_health_alert", triggered_by=triggered_by) as run:
        alerted = webhook_failures_alert()
        run.processed = len(alerted)
        run.details["alerted"] = alerted
    return alerted
