"""Demo usage: two billing cycles of daily usage for the demo customers' services.

Called by `manage.py seed_demo` (each installed app's `<app>.demo.seed_demo`, in INSTALLED_APPS order:
after billing, whose demo creates and activates the services this fills).
Idempotent: figures are a pure function of (service, date), written with an upsert, so running it
twice on the same day changes nothing. The first capped service is filled to about 85% of its cap
in the current cycle (so the dashboard shows the 80% warning and the admin shows the alert).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, CustomerService
from billing.proration import billing_period
from usage.models import UsageRecord
from usage.services import MB_PER_GB, usage_check_thresholds

TWO = Decimal("0.01")
TARGET_PERCENT = Decimal("0.85")


def _demo_emails() -> list[str]:
    from billing.management.commands.seed_demo import DEMO_CUSTOMERS

    return [row[2] for row in DEMO_CUSTOMERS]


def _weight(service_id: int, day: dt.date) -> Decimal:
    """A stable pseudo-random weight in [0.5, 1.5) for (service, day)."""
    digest = hashlib.sha256(f"{service_id}:{day.isoformat()}".encode()).digest()
    return Decimal(500 + int.from_bytes(digest[:2], "big") % 1000) / Decimal(1000)


def _days(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def seed_demo(stdout) -> None:
    today = timezone.localdate()
    customers = Customer.objects.filter(email__in=_demo_emails())
    services = list(CustomerService.objects.filter(customer__in=customers)
                    .exclude(status__in=[CustomerService.Status.CANCELLED, CustomerService.Status.PENDING])
                    .select_related("customer").order_by("pk"))
    if not services:
        stdout.write("  usage: no active demo services yet, skipped")
        return
    heavy = next((s for s in services if s.data_cap_gb), None)
    written = 0
    with transaction.atomic():
        for service in services:
            start, _ = billing_period(today, service.billing_day)
            prev_start, _ = billing_period(start - dt.timedelta(days=1), service.billing_day)
            current_days = list(_days(start, today))
            if service is heavy:
                # Spread 85% of the cap over the days so far (weights keep the chart uneven).
                weights = {d: _weight(service.pk, d) for d in current_days}
                target = Decimal(service.data_cap_gb) * MB_PER_GB * TARGET_PERCENT
                per_weight = target / sum(weights.values())
                daily = {d: (per_weight * w).quantize(TWO, rounding=ROUND_HALF_UP) for d, w in weights.items()}
                base_prev = Decimal(service.data_cap_gb) * MB_PER_GB * Decimal("0.6") / 30
            else:
                base_prev = Decimal(1500)  # ~1.5 GB a day for an uncapped fibre line
                daily = {d: (base_prev * _weight(service.pk, d)).quantize(TWO) for d in current_days}
            for d in _days(prev_start, start - dt.timedelta(days=1)):
                daily[d] = (base_prev * _weight(service.pk, d)).quantize(TWO)
            rows = [UsageRecord(service=service, date=d, upload_mb=(mb / 10).quantize(TWO),
                                download_mb=mb - (mb / 10).quantize(TWO),
                                cycle_start=billing_period(d, service.billing_day)[0],
                                source=UsageRecord.Source.INTERSTELLIO, updated_by="demo")
                    for d, mb in sorted(daily.items())]
            UsageRecord.objects.bulk_create(rows, update_conflicts=True, unique_fields=["service", "date"],
                                            update_fields=["upload_mb", "download_mb", "cycle_start", "source"])
            written += len(rows)
        if heavy is not None:
            usage_check_thresholds(service=heavy, on=today)
    note = f"; service #{heavy.pk} at ~85% of {heavy.data_cap_gb} GB" if heavy else "; no capped demo service"
    stdout.write(f"  usage: {written} daily record(s) for {len(services)} demo service(s){note}")
