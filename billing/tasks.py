"""django-q2 entry points for billing: take primitive ids, call one service, safe to run twice.

Other billing developers append their task functions at the END of this module.
"""

from __future__ import annotations

from datetime import date


def run_invoice_run(run_date: str | date | None = None, dry_run: bool = False, triggered_by: str = "schedule",
                    job_run_id: int | None = None) -> int:
    """The daily invoice run (02:00 SAST). Returns the JobRun id."""
    from billing.services.invoice_run import invoice_run

    if isinstance(run_date, str):
        run_date = date.fromisoformat(run_date)
    return invoice_run(run_date=run_date, dry_run=dry_run, triggered_by=triggered_by, job_run_id=job_run_id).job_run_id


def render_invoice_pdf(invoice_id: int) -> None:
    """Render and store one invoice's PDF (never inside the run's transaction)."""
    from billing.services.pdf import invoice_render_pdf

    invoice_render_pdf(invoice_id=invoice_id)


def render_invoice_pdfs(invoice_ids: list[int]) -> None:
    """Render a batch of PDFs queued by the invoice run."""
    for invoice_id in invoice_ids:
        render_invoice_pdf(invoice_id)


def notify_invoices_issued(invoice_ids: list[int]) -> None:
    """Queue the `invoice_issued` notification for a batch queued by the invoice run (idempotent by key)."""
    from billing.services.invoices import invoices_notify_issued

    invoices_notify_issued(invoice_ids=invoice_ids)


def run_dunning(run_date: str | date | None = None, triggered_by: str = "schedule") -> int:
    """The daily overdue/dunning pass (07:00 SAST). Returns the JobRun id."""
    from billing.services.dunning import dunning_run

    if isinstance(run_date, str):
        run_date = date.fromisoformat(run_date)
    return dunning_run(today=run_date, triggered_by=triggered_by)


def sync_usage(*args, **kwargs) -> int:
    """DEPRECATED shim, remove one release after usage moved out of billing: the usage sync is
    `usage.tasks.sync_usage`. Kept so tasks queued and schedules saved under this dotted path still run
    (`setup_schedules` rewrites saved schedules to the new path). Resolved by its dotted path, like
    django-q2 does, because billing does not import usage (usage sits above billing)."""
    from django.utils.module_loading import import_string

    return import_string("usage.tasks.sync_usage")(*args, **kwargs)
