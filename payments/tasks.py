"""django-q2 entry points: primitive arguments, one service each, safe twice.

Scheduled jobs write a JobRun per run. The webhook tasks live in `inbox.tasks`; the shims below keep
their old dotted paths working for one release.
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from circletel.jobs import job_run
from payments.clients import netcash
from payments.models import DebitOrderRun
from payments.services.debit_orders import (
    debit_order_run_prepare,
    debit_order_run_submit,
    debit_order_runs_check,
    pending_payments_flag_stale,
)


def process_debit_orders(run_date: str | None = None, dry_run: bool = False, triggered_by: str = "schedule") -> dict:
    day = date.fromisoformat(run_date) if run_date else timezone.localdate()
    with job_run("process_debit_orders", triggered_by=triggered_by) as run:
        plan = debit_order_run_prepare(run_date=day, dry_run=dry_run, job_run_id=run.id)
        run.processed = len(plan.queued)
        run.skipped = plan.skipped + len(plan.held)
        run.details.update({
            "action_date": plan.action_date.isoformat(), "dry_run": dry_run, "total": str(plan.total),
            "queued": [[n, str(a)] for n, a in plan.queued][:200],
            "held": [[n, str(a), r] for n, a, r in plan.held][:200],
        })
        if plan.run is not None and plan.run.status == DebitOrderRun.Status.PREPARED:
            if not netcash.debit_orders_configured():
                run.details["submitted"] = False
                run.details["note"] = "NETCASH_DEBIT_ORDER_SERVICE_KEY is not set: batch prepared, not submitted"
            else:
                submitted = debit_order_run_submit(run=plan.run)
                run.details["submitted"] = submitted.status == DebitOrderRun.Status.SUBMITTED
                if submitted.status == DebitOrderRun.Status.FAILED:
                    run.fail_item(submitted.batch_name, submitted.error)
        if plan.run is not None:
            run.details["debit_order_run"] = plan.run.pk
        return {"job_run": run.id, **run.details}


def reconcile_pending_payments(triggered_by: str = "schedule") -> int:
    """Stale pending Pay Now payments, and submitted debit-order runs followed through NetCash (load report,
    authorisation, batch status). Nothing settles here: only statement lines settle debit orders."""
    with job_run("reconcile_pending_payments", triggered_by=triggered_by) as run:
        run.details["stale_pending_flagged"] = pending_payments_flag_stale()
        if not netcash.debit_orders_configured():
            run.details["note"] = "NetCash debit orders not configured"
            return run.id
        counts = debit_order_runs_check(job=run)
        run.processed += counts["checked"]
        run.details.update(counts)
    return run.id


def reconcile_netcash_statement(kind: str = "daily", day: str | None = None, triggered_by: str = "schedule") -> dict:
    """The NetCash statement reconciliation (daily after 08:30 for yesterday; interim for today's Pay Now EFT)."""
    from payments.clients import netcash_niws
    from payments.services.netcash_statement import netcash_reconcile

    with job_run(f"reconcile_netcash_statement_{kind}", triggered_by=triggered_by) as run:
        if not netcash_niws.statement_configured():
            run.details["note"] = "NETCASH_ACCOUNT_SERVICE_KEY is not set: no statement to read"
            return dict(run.details)
        result = netcash_reconcile(kind=kind, day=date.fromisoformat(day) if day else None, job=run)
        run.processed = int(result.get("lines", 0) or 0)
        run.details.update({k: v for k, v in result.items()})
    return result


def apply_netcash_statement_lines(day: str) -> dict:
    """An extra job process the reconciliation queues for a large statement (see statement_apply_helpers_queue)."""
    from payments.services.netcash_statement import statement_apply_helper

    with job_run("apply_netcash_statement_lines", triggered_by="reconcile_netcash_statement") as run:
        result = statement_apply_helper(day=date.fromisoformat(day))
        run.processed = int(result.get("lines", 0) or 0)
        run.details.update(result)
    return result


def reconcile_netcash_interim(triggered_by: str = "schedule") -> dict:
    return reconcile_netcash_statement(kind="interim", triggered_by=triggered_by)


def check_pending_mandates(triggered_by: str = "schedule") -> dict:
    """eMandates pending longer than a day: ask NetCash (RequestMandateData/RetrieveMandateData)."""
    from payments.services.mandates import mandates_check_pending

    with job_run("check_pending_mandates", triggered_by=triggered_by) as run:
        if not netcash.debit_orders_configured():
            run.details["note"] = "NetCash debit orders not configured"
            return dict(run.details)
        counts = mandates_check_pending(job=run)
        run.processed = counts.get("updated", 0)
        run.details.update(counts)
    return counts


def issue_receipts(payment_ids: list[int]) -> int:
    """Receipts for payments settled in bulk from the statement (one task per batch, documents queue)."""
    from payments.services.receipts import receipt_issue

    issued = 0
    for payment_id in payment_ids:
        try:
            issued += receipt_issue(payment_id=int(payment_id)) is not None
        except Exception:  # one bad PDF must not stop the rest; the receipts sweep retries
            import logging

            logging.getLogger(__name__).exception("receipt for payment %s failed", payment_id)
    return issued


def notify_payments_reversed(payment_ids: list[int]) -> int:
    """The "payment failed" emails for debit orders returned in bulk from the statement."""
    from payments.services.netcash_statement import payments_reversed_notify

    return payments_reversed_notify(payment_ids=[int(i) for i in payment_ids])


def payments_received_hooks(customer_ids: list[int]) -> int:
    """Dunning's `customer_payment_received` for customers paid in bulk from the statement."""
    from payments.services.allocation import _payment_received_hook

    for customer_id in customer_ids:
        _payment_received_hook(int(customer_id))
    return len(customer_ids)


# --- moved to inbox.tasks: thin shims for one release, so tasks queued and schedules saved under the
# old dotted paths still run (setup_schedules rewrites the schedules to the new paths) -----------------
def process_webhook_event(event_id: int) -> str:
    from inbox.tasks import process_webhook_event as moved

    return moved(event_id)


def reprocess_webhook_events(provider: str | None = None, failed_only: bool = False, ids=None,
                             triggered_by: str = "schedule") -> dict:
    from inbox.tasks import reprocess_webhook_events as moved

    return moved(provider=provider, failed_only=failed_only, ids=ids, triggered_by=triggered_by)


def prune_webhook_events(triggered_by: str = "schedule") -> int:
    from inbox.tasks import prune_webhook_events as moved

    return moved(triggered_by=triggered_by)


def issue_receipt(payment_id: int) -> str | None:  # receipt row + PDF, idempotent
    from payments.services.receipts import receipt_issue

    receipt = receipt_issue(payment_id=int(payment_id))
    return receipt.number if receipt is not None else None


def refresh_receipt(payment_id: int) -> str | None:  # the receipt PDF again, after a refund
    from payments.services.receipts import receipt_refresh

    receipt = receipt_refresh(payment_id=int(payment_id))
    return receipt.number if receipt is not None else None


def issue_missing_receipts(triggered_by: str = "schedule") -> dict:
    """Safety net for lost `issue_receipt` enqueues (see `receipts_issue_due`)."""
    from payments.services.receipts import receipts_issue_due

    with job_run("issue_missing_receipts", triggered_by=triggered_by) as run:
        counts = receipts_issue_due(run=run)
        run.details.update(counts)
    return counts


def prune_idempotency_keys(triggered_by: str = "schedule") -> int:
    from payments.services.idempotency import idempotency_keys_prune

    with job_run("prune_idempotency_keys", triggered_by=triggered_by) as run:
        run.processed = idempotency_keys_prune()
    return run.processed



def resolve_unknown_refunds(triggered_by: str = "schedule") -> dict:
    """Refunds whose provider call ended with an unknown outcome: ask again with the same key."""
    from payments.services.refunds import refunds_resolve_unknown

    with job_run("resolve_unknown_refunds", triggered_by=triggered_by) as run:
        counts = refunds_resolve_unknown()
        run.processed = sum(counts.values())
        run.details.update(counts)
    return counts


def sweep_pending_card_attempts(triggered_by: str = "schedule") -> dict:
    """Card attempts whose webhook has not come: ask Stripe (see `stripe_pending_attempts_sweep`)."""
    from payments.clients.stripe import is_configured
    from payments.services.stripe_payments import stripe_pending_attempts_sweep

    with job_run("sweep_pending_card_attempts", triggered_by=triggered_by) as run:
        counts = stripe_pending_attempts_sweep() if is_configured() else {}
        run.processed = sum(counts.values())
        run.details.update(counts)
    return counts
