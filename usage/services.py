"""Usage writes: the provider sync, manual corrections and the data-cap threshold warnings.

Decisions (also in the tests):
- One `UsageRecord` per (service, date). A sync *replaces* the day's figures with the provider's
  (upsert on the unique constraint), so re-syncing never double counts. Days the provider does not
  return are left alone (a gap is not zero usage).
- A day corrected by staff (`source=manual`) is authoritative: later syncs do not overwrite it.
  To hand a day back to the provider, staff correct it again or delete the row in the admin.
- Cycle totals are summed over the dates of the billing period [start, end) containing the day
  (authoritative even if the billing day changes); `cycle_start` is stored on each row for reports.
- Caps: `data_cap_gb` GB = `data_cap_gb * 1024` MB (the provider counts 1 KB = 1024 bytes).
- Thresholds 80% and 95% are warned once per (service, cycle, threshold). The alert row is
  inserted first, inside the write transaction, and its unique constraint is the guard: an
  `IntegrityError` means another sync already warned, so two overlapping syncs alert once.
  If several thresholds are newly crossed at once (e.g. 70% -> 97% in one sync), all are
  recorded but only the highest is sent: one "95% used" message, not two in the same minute.
- Uncapped services (`data_cap_gb` empty or 0) never warn.
- No HTTP inside a transaction: the provider is called first, then the rows are written in one
  transaction that locks the service row (so a sync and a manual correction of the same
  service serialise). Notifications are queued in that transaction and sent after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CustomerService
from billing.proration import billing_period
from circletel.errors import ApplicationError
from usage.clients import interstellio
from usage.models import UsageRecord, UsageThresholdAlert

logger = logging.getLogger(__name__)

THRESHOLDS = (80, 95)
MB_PER_GB = Decimal(1024)
MAX_SYNC_DAYS = 400
ZERO = Decimal("0.00")


class UsageError(ApplicationError):
    pass


def cap_mb(service: CustomerService) -> Decimal | None:
    """The service's cap in MB, or None when uncapped."""
    return Decimal(service.data_cap_gb) * MB_PER_GB if service.data_cap_gb else None


def usage_cycle_total(service: CustomerService, on: dt.date) -> Decimal:
    """MB used in the billing cycle containing `on` (upload + download, all sources)."""
    start, end = billing_period(on, service.billing_day)
    total = (UsageRecord.objects.filter(service=service, date__gte=start, date__lt=end)
             .aggregate(total=Sum("total_mb"))["total"])
    return Decimal(total or 0).quantize(Decimal("0.01"))


def _lock_service(service: CustomerService) -> CustomerService:
    return CustomerService.objects.select_for_update().select_related("customer").get(pk=service.pk)


# --- Thresholds --------------------------------------------------------------------------------------------

def _gb(mb: Decimal) -> Decimal:
    return (mb / MB_PER_GB).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def usage_check_thresholds(*, service: CustomerService, on: dt.date | None = None) -> list[int]:
    """Warn the customer once per threshold crossed in the cycle containing `on` (default today).

    Returns the thresholds newly recorded by this call (empty when nothing new, or uncapped).
    """
    on = on or timezone.localdate()
    cap = cap_mb(service)
    if cap is None:
        return []
    start, end = billing_period(on, service.billing_day)
    with transaction.atomic():
        used = usage_cycle_total(service, on)
        crossed = [t for t in THRESHOLDS if used * 100 >= cap * t]
        newly = []
        for threshold in crossed:
            try:
                with transaction.atomic():  # savepoint: a duplicate must not poison the outer transaction
                    UsageThresholdAlert.objects.create(service=service, cycle_start=start, threshold=threshold,
                                                       used_mb=used, cap_mb=cap)
            except IntegrityError:
                continue  # already warned for this threshold in this cycle
            newly.append(threshold)
        if newly:
            _notify_threshold(service=service, threshold=max(newly), used=used, cap=cap, start=start, end=end)
    return newly


def _notify_threshold(*, service, threshold: int, used: Decimal, cap: Decimal, start: dt.date, end: dt.date) -> None:
    from notifications.services import notify

    customer = service.customer
    percent = (used * 100 / cap).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    context = {
        "customer_name": customer.display_name,
        "account_number": customer.account_number,
        "service_id": service.pk,
        "package_name": service.package_name,
        "threshold": threshold,
        "percent": int(percent),
        "used_mb": used,
        "used_gb": _gb(used),
        "cap_gb": service.data_cap_gb,
        "cycle_start": start,
        "cycle_end": end - dt.timedelta(days=1),  # last day of the cycle, inclusive
        "reset_date": end,  # the first day of the next cycle
    }
    notify(event=f"usage_{threshold}", context=context, customer=customer, channels=("email", "sms"),
           idempotency_key=f"usage_{threshold}:{service.pk}:{start.isoformat()}")


# --- Sync --------------------------------------------------------------------------------------------------

@dataclass
class SyncResult:
    service_id: int
    days_written: int = 0
    days_skipped_manual: int = 0
    days_unchanged: int = 0
    alerts: list[int] = field(default_factory=list)
    dry_run: bool = False
    rows: list = field(default_factory=list)


def _validate_range(date_from: dt.date, date_to: dt.date) -> None:
    today = timezone.localdate()
    if date_from > date_to:
        raise UsageError("The start date must be on or before the end date.",
                         {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()})
    if date_to > today:
        raise UsageError("Usage cannot be synced for future dates.", {"date_to": date_to.isoformat()})
    if (date_to - date_from).days + 1 > MAX_SYNC_DAYS:
        raise UsageError(f"Sync at most {MAX_SYNC_DAYS} days at a time.")


def _check_syncable(service: CustomerService) -> None:
    if not service.provider_subscriber_id:
        raise UsageError("This service has no usage provider subscriber id.", {"service_id": service.pk})


def usage_sync_service(*, service: CustomerService, date_from: dt.date, date_to: dt.date,
                       dry_run: bool = False) -> SyncResult:
    """Fetch the service's daily usage from Interstellio and upsert it (source interstellio).

    The provider call happens outside any transaction; the writes and the threshold check then
    run in one transaction. Raises `ProviderError` subclasses for provider failures (nothing
    written) and `UsageError` for bad input. With `dry_run` nothing is written or sent.
    """
    _validate_range(date_from, date_to)
    _check_syncable(service)
    rows = interstellio.fetch_daily_usage(subscriber_id=service.provider_subscriber_id,
                                          date_from=date_from, date_to=date_to)
    result = SyncResult(service_id=service.pk, dry_run=dry_run, rows=rows)
    if dry_run:
        return result
    today = timezone.localdate()
    with transaction.atomic():
        locked = _lock_service(service)
        existing = {r.date: r for r in UsageRecord.objects.filter(service=locked, date__gte=date_from,
                                                                  date__lte=date_to)}
        to_write = []
        for row in rows:
            current = existing.get(row.date)
            if current is not None and current.source == UsageRecord.Source.MANUAL:
                result.days_skipped_manual += 1
                continue
            cycle_start, _ = billing_period(row.date, locked.billing_day)
            if (current is not None and current.upload_mb == row.upload_mb and current.download_mb == row.download_mb
                    and current.cycle_start == cycle_start):
                result.days_unchanged += 1
                continue
            to_write.append(UsageRecord(service=locked, date=row.date, upload_mb=row.upload_mb,
                                        download_mb=row.download_mb, cycle_start=cycle_start,
                                        source=UsageRecord.Source.INTERSTELLIO, reason="", updated_by="interstellio"))
        if to_write:
            UsageRecord.objects.bulk_create(
                to_write, update_conflicts=True, unique_fields=["service", "date"],
                update_fields=["upload_mb", "download_mb", "cycle_start", "source", "reason", "updated_by",
                               "updated_at"],
            )
        result.days_written = len(to_write)
        current_start, current_end = billing_period(today, locked.billing_day)
        if date_to >= current_start and date_from < current_end:
            result.alerts = usage_check_thresholds(service=locked, on=today)
    return result


# --- Manual corrections ------------------------------------------------------------------------------------

def _as_mb(value, name: str) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        raise UsageError(f"{name} must be a number of MB.", {"field": name})
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"{name} cannot be negative.", {"field": name})
    if amount >= Decimal("1e12"):
        raise UsageError(f"{name} is too large.", {"field": name})
    return amount


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:150] or "system"
    return (getattr(actor, "get_username", lambda: "")() or str(actor))[:150]


def usage_record_manual(*, service: CustomerService, date: dt.date, upload_mb, download_mb, reason: str,
                        actor=None) -> UsageRecord:
    """Staff correction of one day's usage (source manual). Replaces that day's figures.

    `reason` is required. A correction in the current cycle re-runs the threshold check, so a
    correction that pushes usage over 80% / 95% warns (once) like a sync would.
    """
    reason = (reason or "").strip()
    if not reason:
        raise UsageError("A reason is required for a manual usage correction.", {"field": "reason"})
    up, down = _as_mb(upload_mb, "upload_mb"), _as_mb(download_mb, "download_mb")
    today = timezone.localdate()
    if date > today:
        raise UsageError("Usage cannot be recorded for a future date.", {"field": "date"})
    with transaction.atomic():
        locked = _lock_service(service)
        cycle_start, _ = billing_period(date, locked.billing_day)
        UsageRecord.objects.update_or_create(
            service=locked, date=date,
            defaults={"upload_mb": up, "download_mb": down, "cycle_start": cycle_start,
                      "source": UsageRecord.Source.MANUAL, "reason": reason, "updated_by": _actor_label(actor)},
        )
        current_start, _ = billing_period(today, locked.billing_day)
        if cycle_start == current_start:
            usage_check_thresholds(service=locked, on=today)
    # Re-read so the database-generated total_mb is current.
    return UsageRecord.objects.get(service=locked, date=date)


# --- Batch (the hourly job and the command) ----------------------------------------------------------------

def syncable_services(service_id: int | None = None):
    """Active services with a provider subscriber id (or just `service_id`, whatever its state)."""
    qs = CustomerService.objects.select_related("customer").order_by("pk")
    if service_id is not None:
        return qs.filter(pk=service_id)
    return qs.filter(status=CustomerService.Status.ACTIVE).exclude(provider_subscriber_id="")


def usage_sync_batch(*, run, service_id: int | None = None, date_from: dt.date | None = None,
                     date_to: dt.date | None = None, dry_run: bool = False, batch_size: int | None = None) -> None:
    """Sync every syncable service into the job-run tracker `run`; one failure never stops the batch.

    Default range: yesterday and today (the provider may still add to yesterday after midnight).
    Services are walked by primary key in batches of `batch_size` so memory stays flat.
    """
    from django.conf import settings

    today = timezone.localdate()
    date_to = date_to or today
    date_from = date_from or min(date_to, today - dt.timedelta(days=1))
    _validate_range(date_from, date_to)
    if service_id is not None and not CustomerService.objects.filter(pk=service_id).exists():
        raise UsageError(f"Service {service_id} does not exist.", {"service_id": service_id})
    interstellio.get_config()  # fail the whole run early and clearly when unconfigured
    batch_size = batch_size or int(settings.INTERSTELLIO.get("SYNC_BATCH_SIZE", 100))
    run.details.update({"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "dry_run": dry_run})
    written = alerts = 0
    last_pk = 0
    base = syncable_services(service_id)
    while True:
        batch = list(base.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        for service in batch:
            try:
                result = usage_sync_service(service=service, date_from=date_from, date_to=date_to, dry_run=dry_run)
            except Exception as exc:  # one service's failure must not stop the batch; kept on the JobRun
                logger.warning("usage sync failed for service %s: %s", service.pk, exc)
                run.fail_item(f"service:{service.pk}", exc)
                continue
            run.processed += 1
            written += result.days_written
            alerts += len(result.alerts)
    run.details.update({"days_written": written, "alerts": alerts})


def _parse_date(value, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{name} must be a date in the form YYYY-MM-DD.", {"field": name, "value": str(value)})


def usage_sync_run(*, service_id: int | None = None, date_from=None, date_to=None, dry_run: bool = False,
                   triggered_by: str = "schedule") -> int:
    """One tracked run of the usage sync (a `JobRun` named `sync_usage`); returns the JobRun id.

    Dates may be `date`s or ISO strings (django-q2 schedules pass strings). Bad input raises
    `UsageError` before any JobRun is written.
    """
    from circletel.jobs import job_run

    date_from, date_to = _parse_date(date_from, "date_from"), _parse_date(date_to, "date_to")
    if service_id is not None:
        try:
            service_id = int(service_id)
        except (TypeError, ValueError):
            raise UsageError("service_id must be a number.", {"field": "service_id"})
    today = timezone.localdate()
    _validate_range(date_from or min(date_to or today, today - dt.timedelta(days=1)), date_to or today)
    if service_id is not None and not CustomerService.objects.filter(pk=service_id).exists():
        raise UsageError(f"Service {service_id} does not exist.", {"service_id": service_id})
    # An unconfigured provider fails inside the run, so the JobRun records it for ops.
    with job_run("sync_usage", triggered_by=triggered_by) as run:
        usage_sync_batch(run=run, service_id=service_id, date_from=date_from, date_to=date_to, dry_run=dry_run)
    return run.id
