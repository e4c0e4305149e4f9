"""Usage reads for the customer dashboard: this cycle's total against the cap, and daily series.

`usage_summary(service, on)` answers everything the usage card and chart need in one query.
Units: MB as stored (1 MB = 1024 KB), GB = MB / 1024, both Decimal with 2 places.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.models import CustomerService
from billing.proration import billing_period
from usage.models import UsageRecord
from usage.services import MB_PER_GB, THRESHOLDS, cap_mb

TWO = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class DailyUsagePoint:
    date: dt.date
    upload_mb: Decimal
    download_mb: Decimal
    total_mb: Decimal
    source: str  # "" for a day with no record (shown as zero)


@dataclass(frozen=True)
class UsageSummary:
    service_id: int
    uncapped: bool
    cycle_start: dt.date
    cycle_end: dt.date  # last day of the cycle (inclusive)
    used_mb: Decimal
    used_gb: Decimal
    cap_gb: int | None
    remaining_gb: Decimal | None
    percent: Decimal | None  # of the cap, 1 place; None when uncapped
    warning_level: int | None  # None, 80 or 95
    current_days: list[DailyUsagePoint]
    previous_cycle_start: dt.date
    previous_cycle_end: dt.date
    previous_used_gb: Decimal
    previous_days: list[DailyUsagePoint]


def _gb(mb: Decimal) -> Decimal:
    return (mb / MB_PER_GB).quantize(TWO, rounding=ROUND_HALF_UP)


def _series(records: dict, first: dt.date, last: dt.date) -> list[DailyUsagePoint]:
    points = []
    day = first
    while day <= last:
        r = records.get(day)
        points.append(DailyUsagePoint(day, r.upload_mb, r.download_mb, r.total_mb, r.source) if r
                      else DailyUsagePoint(day, ZERO, ZERO, ZERO, ""))
        day += dt.timedelta(days=1)
    return points


def warning_level(used_mb: Decimal, cap: Decimal | None) -> int | None:
    if not cap:
        return None
    crossed = [t for t in THRESHOLDS if used_mb * 100 >= cap * t]
    return max(crossed) if crossed else None


def usage_summary(service: CustomerService, on: dt.date) -> UsageSummary:
    """The cycle containing `on` (days up to `on`, gaps as zero) and the whole previous cycle."""
    start, end = billing_period(on, service.billing_day)
    prev_start, _ = billing_period(start - dt.timedelta(days=1), service.billing_day)
    records = {r.date: r for r in UsageRecord.objects.filter(service=service, date__gte=prev_start, date__lt=end)
               .only("date", "upload_mb", "download_mb", "total_mb", "source")}
    current = _series(records, start, min(on, end - dt.timedelta(days=1)))
    previous = _series(records, prev_start, start - dt.timedelta(days=1))
    used = sum((r.total_mb for d, r in records.items() if d >= start), ZERO)
    prev_used = sum((r.total_mb for d, r in records.items() if d < start), ZERO)
    cap = cap_mb(service)
    percent = (used * 100 / cap).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if cap else None
    return UsageSummary(
        service_id=service.pk, uncapped=cap is None, cycle_start=start, cycle_end=end - dt.timedelta(days=1),
        used_mb=used.quantize(TWO), used_gb=_gb(used), cap_gb=service.data_cap_gb or None,
        remaining_gb=max(_gb(cap - used), ZERO) if cap else None, percent=percent,
        warning_level=warning_level(used, cap), current_days=current,
        previous_cycle_start=prev_start, previous_cycle_end=start - dt.timedelta(days=1),
        previous_used_gb=_gb(prev_used), previous_days=previous,
    )
