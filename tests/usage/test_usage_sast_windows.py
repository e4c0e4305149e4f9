"""Issue 15, finding 5: Interstellio usage windows in SAST, so a usage day is a billing day.

CONTRACTS 7 (corrected 2026-12, docs.interstellio.io/subscriber/api/telemetry): `X-Timezone`
applies to the answer's values, so the window is asked for in the same zone (SAST,
`2026-12-01T00:00:00+02:00`). A UTC window (`...T00:00:00Z` = 02:00 SAST) cuts each of our days in
two: the 00:00-02:00 SAST traffic of the first day is lost and the next day's leaks in.

The fake telemetry server below behaves as the contract says: it keeps the samples whose moment lies
inside [start, end] (read with their offsets) and answers daily buckets in the `X-Timezone` zone.
"""

import datetime as dt
import json
import zoneinfo
from decimal import Decimal

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured

from tests.usage.test_usage_support import interstellio, make_service, set_today, usage_url  # noqa: F401
from usage.checks import interstellio_timezone_check
from usage.clients import interstellio as client
from usage.models import UsageRecord
from usage.services import usage_cycle_total, usage_sync_service

pytestmark = pytest.mark.django_db
D = dt.date
SAST = zoneinfo.ZoneInfo("Africa/Johannesburg")
MB = 1024  # KB


def _fake_telemetry(samples):
    """A callback standing in for POST /v1/subscriber/{id}/data/daily: `samples` are (aware moment, MB)."""
    def callback(request):
        body = json.loads(request.body)
        start = dt.datetime.fromisoformat(body["start"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(body["end"].replace("Z", "+00:00"))
        zone = zoneinfo.ZoneInfo(request.headers["X-Timezone"])
        buckets = {}
        for moment, mb in samples:
            if start <= moment <= end:
                day = moment.astimezone(zone).date()
                buckets[day] = buckets.get(day, 0) + mb
        payload = [{"time": dt.datetime.combine(day, dt.time(0), tzinfo=zone).isoformat(), "upload_kb": 0,
                    "download_kb": mb * MB, "combined_kb": mb * MB} for day, mb in sorted(buckets.items())]
        return 200, {}, json.dumps({"payload": payload})
    return callback


# One minute either side of midnight SAST between 30 November and 1 December (21:59 and 22:00 UTC on
# 30 Nov), and 01:00 SAST on 2 December (23:00 UTC on 1 Dec).
SAMPLES = [
    (dt.datetime(2026, 11, 30, 23, 59, tzinfo=SAST), 100),
    (dt.datetime(2026, 12, 1, 0, 0, tzinfo=SAST), 7),
    (dt.datetime(2026, 12, 2, 1, 0, tzinfo=SAST), 50),
]


def test_window_body_is_sast_with_offset():
    assert client.window_body(D(2026, 12, 1), D(2026, 12, 2), tz="Africa/Johannesburg") == {
        "start": "2026-12-01T00:00:00+02:00", "end": "2026-12-02T23:59:59+02:00"}


@responses.activate
def test_midnight_sast_falls_on_the_right_day_and_billing_cycle(interstellio, monkeypatch):  # noqa: F811
    # Given a service billed on the 1st: 30 Nov is the last day of one cycle, 1 Dec the first of the next.
    set_today(monkeypatch, D(2026, 12, 3))
    service = make_service(billing_day=1)
    responses.add_callback(responses.POST, usage_url("sub-1"), callback=_fake_telemetry(SAMPLES),
                           content_type="application/json")

    # When 1 December alone is synced, then 30 November alone.
    usage_sync_service(service=service, date_from=D(2026, 12, 1), date_to=D(2026, 12, 1))
    usage_sync_service(service=service, date_from=D(2026, 11, 30), date_to=D(2026, 11, 30))

    # Then the request asked for SAST days, matching the X-Timezone header ...
    first = responses.calls[0].request
    assert json.loads(first.body) == {"start": "2026-12-01T00:00:00+02:00", "end": "2026-12-01T23:59:59+02:00"}
    assert first.headers["X-Timezone"] == "Africa/Johannesburg"
    # ... 00:00 SAST is on 1 December (the new cycle), 23:59 SAST on 30 November (the old one), and
    # 01:00 SAST on 2 December is on neither.
    records = {r.date: (r.download_mb, r.cycle_start) for r in UsageRecord.objects.filter(service=service)}
    assert records == {D(2026, 12, 1): (Decimal("7.00"), D(2026, 12, 1)),
                       D(2026, 11, 30): (Decimal("100.00"), D(2026, 11, 1))}
    assert usage_cycle_total(service, D(2026, 12, 1)) == Decimal("7.00")
    assert usage_cycle_total(service, D(2026, 11, 30)) == Decimal("100.00")


@responses.activate
def test_a_range_sync_counts_every_sample_once(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 12, 3))
    service = make_service(billing_day=1)
    responses.add_callback(responses.POST, usage_url("sub-1"), callback=_fake_telemetry(SAMPLES),
                           content_type="application/json")
    usage_sync_service(service=service, date_from=D(2026, 11, 30), date_to=D(2026, 12, 2))
    records = {r.date: r.download_mb for r in UsageRecord.objects.filter(service=service)}
    assert records == {D(2026, 11, 30): Decimal("100.00"), D(2026, 12, 1): Decimal("7.00"),
                       D(2026, 12, 2): Decimal("50.00")}


def test_a_provider_zone_other_than_the_billing_zone_is_refused(interstellio, settings):  # noqa: F811
    interstellio["TIMEZONE"] = "UTC"
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE"):
        client.get_config()
    interstellio["TIMEZONE"] = settings.TIME_ZONE  # positive control
    assert client.get_config().timezone == "Africa/Johannesburg"


def test_deploy_check_refuses_a_provider_zone_other_than_the_billing_zone(interstellio, settings):  # noqa: F811
    interstellio["TIMEZONE"] = "UTC"
    assert [e.id for e in interstellio_timezone_check(None)] == ["usage.E001"]
    interstellio["TIMEZONE"] = "Africa/Johannesburg"  # positive control
    assert interstellio_timezone_check(None) == []
    interstellio.update(TIMEZONE="UTC", API_TOKEN="")  # no usage sync configured: nothing to check
    assert interstellio_timezone_check(None) == []
