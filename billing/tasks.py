"""django-q2 entry points for billing: take primitive ids, call one service, safe to run twice.

Other billing developers append their task functions at the END of this module.
"""

from __future__ import annotations

from datetime import date


def run_invoice_run(run_date: str | date | None = None, dry_run: bool = False, triggered_by: str = "schedule",
                    job_run_id: int | None = None) -> int:
    """The daily invoice run (02:00 SAST). Returns the JobRun id."""
    from billing.services.invoice_run import invoice_run
    from circletel.jobs import RunAlreadyLive, RunSuperseded

    if isinstance(run_date, str):
        run_date = date.fromisoformat(run_date)
    try:
        return invoice_run(run_date=run_date, dry_run=dry_run, triggered_by=triggered_by,
                           job_run_id=job_run_id).job_run_id
    except RunAlreadyLive as exc:  # a second doorbell, or the schedule firing beside a resumed run
        return exc.live.pk if exc.live else 0
    except RunSuperseded:
        return job_run_id


def render_invoice_pdf(invoice_id: int) -> None:
    """Render and store one invoice's PDF (never inside the run's transaction)."""
    from billing.services.pdf import invoice_render_pdf

    invoice_render_pdf(invoice_id=invoice_id)


def render_invoice_pdfs(invoice_ids: list[int], only_missing: bool = False) -> None:
    """Render a batch of PDFs (the invoice run's follow-up passes only_missing: a rerun after a worker
    died renders only those the first attempt did not, so each is rendered once)."""
    from billing.models import Invoice

    if only_missing:
        invoice_ids = list(Invoice.objects.filter(pk__in=invoice_ids, pdf_generated_at__isnull=True)
                           .order_by("pk").values_list("pk", flat=True))
    for invoice_id in invoice_ids:
        render_invoice_pdf(invoice_id)


def notify_invoices_issued(invoice_ids: list[int]) -> None:
    """Queue the `invoice_issued` notification for a batch queued by the invoice run (idempotent by key)."""
    from billing.services.invoices import invoices_notify_issued

    invoices_notify_issued(invoice_ids=invoice_ids)


def run_dunning(run_date: str | date | None = None, triggered_by: str = "schedule") -> int:
    """The daily overdue/dunning pass (07:00 SAST). Returns the JobRun id."""
    from billing.services.dunning import dunning_run
    from circletel.jobs import RunAlreadyLive

    if isinstance(run_date, str):
        run_date = date.fromisoformat(run_date)
    try:
        return dunning_run(today=run_date, triggered_by=triggered_by)
    except RunAlreadyLive as exc:
        return exc.live.pk if exc.live else 0


def sync_usage(*args, **kwargs) -> int:
    """DEPRECATED shim, remove one release after usage moved out of billing: the usage sync is
    `usage.tasks.sync_usage`. Kept so tasks queued and schedules saved under this dotted path still run
    (`setup_schedules` rewrites saved schedules to the new path). Resolved by its dotted path, like
    django-q2 does, because billing does not import usage (usage sits above billing)."""
    from django.utils.module_loading import import_string

    return import_string("usage.tasks.sync_usage")(*args, **kwargs)
