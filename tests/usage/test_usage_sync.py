"""Usage sync, manual corrections and data-cap thresholds (SQLite; the concurrent case is in test_usage_batch)."""

import datetime as dt
from decimal import Decimal

import pytest
import responses

from circletel.http import PermanentProviderError
from notifications.models import NotificationLog
from tests.usage.test_usage_support import (  # noqa: F401
    entry,
    interstellio,
    make_service,
    set_today,
    usage_url,
)
from usage.models import UsageRecord, UsageThresholdAlert
from usage.services import (
    UsageError,
    usage_check_thresholds,
    usage_cycle_total,
    usage_record_manual,
    usage_sync_service,
)

pytestmark = pytest.mark.django_db
D = dt.date
GB = 1024  # MB


def rows(service):
    return [(r.date, r.upload_mb, r.download_mb, r.total_mb, r.cycle_start, r.source)
            for r in UsageRecord.objects.filter(service=service).order_by("date")]


@responses.activate
def test_resync_of_a_day_replaces_its_figures_never_adds(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 10))
    service = make_service(billing_day=5)
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-09", up_mb=100, down_mb=900),
                                                         entry("2026-11-10", up_mb=5, down_mb=50)]})
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-09", up_mb=120, down_mb=1000),
                                                         entry("2026-11-10", up_mb=5, down_mb=50)]})

    first = usage_sync_service(service=service, date_from=D(2026, 11, 9), date_to=D(2026, 11, 10))
    second = usage_sync_service(service=service, date_from=D(2026, 11, 9), date_to=D(2026, 11, 10))

    assert (first.days_written, second.days_written, second.days_unchanged) == (2, 1, 1)
    assert rows(service) == [
        (D(2026, 11, 9), Decimal("120.00"), Decimal("1000.00"), Decimal("1120.00"), D(2026, 11, 5), "interstellio"),
        (D(2026, 11, 10), Decimal("5.00"), Decimal("50.00"), Decimal("55.00"), D(2026, 11, 5), "interstellio"),
    ]
    assert usage_cycle_total(service, D(2026, 11, 10)) == Decimal("1175.00")


@responses.activate
def test_sync_does_not_overwrite_a_manual_correction_and_leaves_missing_days_alone(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 10))
    service = make_service()
    usage_record_manual(service=service, date=D(2026, 11, 8), upload_mb="1", download_mb="2",
                        reason="Provider double-counted a reconnect", actor="ops@circletel.co.za")
    UsageRecord.objects.create(service=service, date=D(2026, 11, 7), upload_mb=7, download_mb=7,
                               cycle_start=D(2026, 11, 1))
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-08", up_mb=500, down_mb=500),
                                                         entry("2026-11-09", up_mb=3, down_mb=4)]})

    result = usage_sync_service(service=service, date_from=D(2026, 11, 7), date_to=D(2026, 11, 9))

    assert (result.days_written, result.days_skipped_manual) == (1, 1)
    assert rows(service) == [
        (D(2026, 11, 7), Decimal("7.00"), Decimal("7.00"), Decimal("14.00"), D(2026, 11, 1), "interstellio"),
        (D(2026, 11, 8), Decimal("1.00"), Decimal("2.00"), Decimal("3.00"), D(2026, 11, 1), "manual"),
        (D(2026, 11, 9), Decimal("3.00"), Decimal("4.00"), Decimal("7.00"), D(2026, 11, 1), "interstellio"),
    ]
    manual = UsageRecord.objects.get(service=service, date=D(2026, 11, 8))
    assert (manual.reason, manual.updated_by) == ("Provider double-counted a reconnect", "ops@circletel.co.za")


@responses.activate
def test_dry_run_fetches_but_writes_nothing(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 10))
    service = make_service(data_cap_gb=1)
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-09", up_mb=1000, down_mb=1000)]})

    result = usage_sync_service(service=service, date_from=D(2026, 11, 9), date_to=D(2026, 11, 9), dry_run=True)

    assert [r.total_mb for r in result.rows] == [Decimal("2000.00")]
    assert UsageRecord.objects.count() == 0
    assert UsageThresholdAlert.objects.count() == 0
    assert NotificationLog.objects.count() == 0


@responses.activate
def test_provider_error_writes_nothing(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 10))
    service = make_service(data_cap_gb=1)
    responses.post(usage_url("sub-1"), status=401, json={"error": {"title": "Unauthorized"}})

    with pytest.raises(PermanentProviderError):
        usage_sync_service(service=service, date_from=D(2026, 11, 9), date_to=D(2026, 11, 10))
    assert UsageRecord.objects.count() == 0


@pytest.mark.parametrize("date_from,date_to,message", [
    (D(2026, 11, 10), D(2026, 11, 9), "on or before"),
    (D(2026, 11, 10), D(2026, 11, 11), "future"),
    (D(2025, 1, 1), D(2026, 11, 10), "at most"),
])
def test_sync_rejects_bad_ranges_before_calling_the_provider(interstellio, monkeypatch, date_from, date_to,  # noqa: F811
                                                            message):
    set_today(monkeypatch, D(2026, 11, 10))
    with responses.RequestsMock() as rsps, pytest.raises(UsageError, match=message):
        usage_sync_service(service=make_service(), date_from=date_from, date_to=date_to)
    assert len(rsps.calls) == 0


def test_sync_needs_a_subscriber_id(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 10))
    with pytest.raises(UsageError, match="subscriber id"):
        usage_sync_service(service=make_service(provider_subscriber_id=""), date_from=D(2026, 11, 9),
                           date_to=D(2026, 11, 9))


# --- thresholds -------------------------------------------------------------------------------------------

def sync_day(service, day: str, mb: int):
    responses.post(usage_url(service.provider_subscriber_id),
                   json={"payload": [entry(day, up_mb=0, down_mb=mb)]})
    d = D.fromisoformat(day)
    return usage_sync_service(service=service, date_from=d, date_to=d)


def alerts(service):
    return list(UsageThresholdAlert.objects.filter(service=service).order_by("threshold")
                .values_list("cycle_start", "threshold", "used_mb", "cap_mb"))


def sent(service):
    return sorted(NotificationLog.objects.filter(customer=service.customer).values_list("event", "channel"))


@responses.activate
def test_each_threshold_warns_once_per_cycle_by_email_and_sms(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=10, billing_day=1)  # 10240 MB

    assert sync_day(service, "2026-11-18", 8000).alerts == []  # 78.1%
    assert sync_day(service, "2026-11-19", 200).alerts == [80]  # 80.1%
    assert sync_day(service, "2026-11-19", 300).alerts == []  # re-sync, still over 80: nothing new
    assert sync_day(service, "2026-11-20", 1500).alerts == [95]  # 95.2%
    assert sync_day(service, "2026-11-20", 2000).alerts == []

    assert alerts(service) == [(D(2026, 11, 1), 80, Decimal("8200.00"), Decimal("10240.00")),
                               (D(2026, 11, 1), 95, Decimal("9800.00"), Decimal("10240.00"))]
    assert sent(service) == [("usage_80", "email"), ("usage_80", "sms"), ("usage_95", "email"), ("usage_95", "sms")]
    log = NotificationLog.objects.get(event="usage_95", channel="email")
    assert log.context == {
        "customer_name": service.customer.display_name, "account_number": service.customer.account_number,
        "service_id": service.pk, "package_name": "LTE 100GB", "threshold": 95, "percent": 96,
        "used_mb": "9800.00", "used_gb": "9.57", "cap_gb": 10, "cycle_start": "2026-11-01",
        "cycle_end": "2026-11-30", "reset_date": "2026-12-01",
    }
    assert log.idempotency_key == f"usage_95:{service.pk}:2026-11-01"


@responses.activate
def test_a_new_cycle_warns_again(interstellio, monkeypatch):  # noqa: F811
    service = make_service(data_cap_gb=1, billing_day=25)
    set_today(monkeypatch, D(2026, 11, 24))
    assert sync_day(service, "2026-11-24", 850).alerts == [80]
    set_today(monkeypatch, D(2026, 11, 25))
    assert sync_day(service, "2026-11-25", 100).alerts == []  # new cycle starts from zero
    assert sync_day(service, "2026-11-25", 830).alerts == [80]
    assert [(a[0], a[1]) for a in alerts(service)] == [(D(2026, 10, 25), 80), (D(2026, 11, 25), 80)]
    assert sent(service).count(("usage_80", "email")) == 2


@responses.activate
def test_crossing_both_thresholds_at_once_records_both_and_sends_only_95(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)

    assert sync_day(service, "2026-11-20", 1000).alerts == [80, 95]

    assert [a[1] for a in alerts(service)] == [80, 95]
    assert sent(service) == [("usage_95", "email"), ("usage_95", "sms")]


@responses.activate
def test_uncapped_service_never_warns(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=None)
    sync_day(service, "2026-11-20", 5_000_000)
    assert usage_check_thresholds(service=service, on=D(2026, 11, 20)) == []
    assert alerts(service) == [] and sent(service) == []


@responses.activate
def test_sync_of_a_past_cycle_does_not_warn(interstellio, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)
    assert sync_day(service, "2026-10-15", 1024).alerts == []
    assert alerts(service) == [] and sent(service) == []


def test_sequential_threshold_checks_alert_once(monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)
    UsageRecord.objects.create(service=service, date=D(2026, 11, 3), upload_mb=0, download_mb=900,
                               cycle_start=D(2026, 11, 1))
    assert usage_check_thresholds(service=service, on=D(2026, 11, 20)) == [80]
    assert usage_check_thresholds(service=service, on=D(2026, 11, 20)) == []
    assert sent(service) == [("usage_80", "email"), ("usage_80", "sms")]


def test_sms_follows_customer_preferences(monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)
    service.customer.billing_account.notify_sms = False
    service.customer.billing_account.save()
    UsageRecord.objects.create(service=service, date=D(2026, 11, 3), upload_mb=0, download_mb=900,
                               cycle_start=D(2026, 11, 1))
    usage_check_thresholds(service=service, on=D(2026, 11, 20))
    assert sent(service) == [("usage_80", "email")]


# --- manual corrections -----------------------------------------------------------------------------------

def test_manual_correction_replaces_the_day_and_can_trigger_a_warning(monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)
    UsageRecord.objects.create(service=service, date=D(2026, 11, 3), upload_mb=10, download_mb=10,
                               cycle_start=D(2026, 11, 1))

    record = usage_record_manual(service=service, date=D(2026, 11, 3), upload_mb=Decimal("24.50"),
                                 download_mb="800", reason="  Meter reset on 3 Nov  ", actor=None)

    assert (record.upload_mb, record.download_mb, record.total_mb, record.source, record.reason, record.updated_by) == (
        Decimal("24.50"), Decimal("800.00"), Decimal("824.50"), "manual", "Meter reset on 3 Nov", "system")
    assert UsageRecord.objects.filter(service=service).count() == 1
    assert [a[1] for a in alerts(service)] == [80]


@pytest.mark.parametrize("kwargs,message", [
    ({"reason": "   "}, "reason is required"),
    ({"upload_mb": "-1"}, "cannot be negative"),
    ({"download_mb": "lots"}, "number of MB"),
    ({"date": D(2026, 11, 21)}, "future"),
])
def test_manual_correction_rejects_bad_input_and_writes_nothing(monkeypatch, kwargs, message):
    set_today(monkeypatch, D(2026, 11, 20))
    service = make_service(data_cap_gb=1)
    args = {"service": service, "date": D(2026, 11, 3), "upload_mb": "1", "download_mb": "2", "reason": "fix",
            "actor": "ops"} | kwargs
    with pytest.raises(UsageError, match=message):
        usage_record_manual(**args)
    assert UsageRecord.objects.count() == 0
