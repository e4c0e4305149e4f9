"""Usage cycle boundaries for every billing day (1, 5, 25, 30), including February."""

import datetime as dt
from decimal import Decimal

import pytest
import responses

from tests.usage.test_usage_support import entry, interstellio, make_service, set_today, usage_url  # noqa: F401
from usage.models import UsageRecord
from usage.services import usage_cycle_total, usage_sync_service

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.mark.parametrize("billing_day,last_of_old,first_of_new", [
    (1, D(2027, 1, 31), D(2027, 2, 1)),
    (5, D(2027, 2, 4), D(2027, 2, 5)),
    (25, D(2027, 2, 24), D(2027, 2, 25)),
    (30, D(2027, 2, 27), D(2027, 2, 28)),  # day 30 falls on 28 Feb in a common year
    (30, D(2027, 3, 29), D(2027, 3, 30)),
])
@responses.activate
def test_days_land_in_the_right_cycle(interstellio, monkeypatch, billing_day, last_of_old, first_of_new):  # noqa: F811
    set_today(monkeypatch, D(2027, 4, 30))
    service = make_service(billing_day=billing_day)
    responses.post(usage_url("sub-1"), json={"payload": [
        entry(last_of_old.isoformat(), up_mb=1, down_mb=9), entry(first_of_new.isoformat(), up_mb=2, down_mb=98)]})

    usage_sync_service(service=service, date_from=last_of_old, date_to=first_of_new)

    starts = dict(UsageRecord.objects.filter(service=service).values_list("date", "cycle_start"))
    assert starts[first_of_new] == first_of_new
    assert starts[last_of_old] < first_of_new
    assert usage_cycle_total(service, last_of_old) == Decimal("10.00")
    assert usage_cycle_total(service, first_of_new) == Decimal("100.00")


@pytest.mark.parametrize("billing_day,on,expected_start", [
    (30, D(2028, 2, 29), D(2028, 2, 29)),  # leap year: day 30 falls on 29 Feb
    (30, D(2028, 2, 28), D(2028, 1, 30)),
    (30, D(2027, 3, 1), D(2027, 2, 28)),
    (5, D(2027, 1, 4), D(2026, 12, 5)),  # across the year end
    (25, D(2027, 1, 1), D(2026, 12, 25)),
    (1, D(2027, 1, 1), D(2027, 1, 1)),
])
def test_cycle_start_stored_on_manual_rows(monkeypatch, billing_day, on, expected_start):
    from usage.services import usage_record_manual

    set_today(monkeypatch, D(2028, 6, 1))
    service = make_service(billing_day=billing_day)
    record = usage_record_manual(service=service, date=on, upload_mb="1", download_mb="1", reason="import", actor="t")
    assert record.cycle_start == expected_start


def test_cycle_total_only_counts_the_cycle(monkeypatch):
    service = make_service(billing_day=25)
    for day, mb in [(D(2026, 10, 24), 1000), (D(2026, 10, 25), 1), (D(2026, 11, 24), 2), (D(2026, 11, 25), 4000)]:
        UsageRecord.objects.create(service=service, date=day, upload_mb=0, download_mb=mb, cycle_start=day)
    assert usage_cycle_total(service, D(2026, 11, 1)) == Decimal("3.00")
    assert usage_cycle_total(service, D(2026, 11, 25)) == Decimal("4000.00")
    assert usage_cycle_total(service, D(2026, 12, 30)) == Decimal("0.00")
