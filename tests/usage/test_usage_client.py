"""The Interstellio client at the HTTP boundary: request shape, parsing, retries and typed errors."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, ProviderTimeoutError, RetryableProviderError
from tests.usage.test_usage_support import entry, interstellio, usage_url  # noqa: F401
from usage.clients import interstellio as client

D = dt.date


@responses.activate
def test_fetch_daily_usage_sends_contract_request_and_parses_mb(interstellio):  # noqa: F811
    responses.post(usage_url("sub-9"), json={"payload": [
        entry("2026-11-01", up_mb=10, down_mb=200),
        {"time": "2026-11-02T00:00:00+02:00", "upload_kb": 1536, "download_kb": 1025, "combined_kb": 2561},
    ]})

    rows = client.fetch_daily_usage(subscriber_id="sub-9", date_from=D(2026, 11, 1), date_to=D(2026, 11, 2))

    assert rows == [
        client.DailyUsage(date=D(2026, 11, 1), upload_mb=Decimal("10.00"), download_mb=Decimal("200.00")),
        client.DailyUsage(date=D(2026, 11, 2), upload_mb=Decimal("1.50"), download_mb=Decimal("1.00")),
    ]
    call = responses.calls[0].request
    assert json.loads(call.body) == {"start": "2026-11-01T00:00:00+02:00", "end": "2026-11-02T23:59:59+02:00"}
    assert call.headers["X-Auth-Token"] == "test-token"
    assert call.headers["X-Domain"] == "circletel.co.za"
    assert call.headers["X-Tenant-ID"] == "tenant-1"
    assert call.headers["X-Timezone"] == "Africa/Johannesburg"
    assert call.req_kwargs["timeout"] == (5, 7.0)


def test_parse_accepts_bare_list_utc_times_and_sums_same_local_day():
    rows = client.parse_daily_usage([
        {"time": "2026-10-31T22:00:00Z", "upload_kb": 1024, "download_kb": 2048},  # 00:00 SAST on 1 Nov
        {"time": "2026-11-01T10:00:00+02:00", "upload_kb": 512, "download_kb": 0},
        {"time": "2026-11-02", "upload_kb": 0, "download_kb": 0},
    ])
    assert rows == [
        client.DailyUsage(date=D(2026, 11, 1), upload_mb=Decimal("1.50"), download_mb=Decimal("2.00")),
        client.DailyUsage(date=D(2026, 11, 2), upload_mb=Decimal("0.00"), download_mb=Decimal("0.00")),
    ]


@pytest.mark.parametrize("payload", [{"payload": "nope"}, "text", [{"time": "yesterday"}],
                                     [{"time": "2026-11-01", "upload_kb": -5}], [{"time": "2026-11-01", "upload_kb": "x"}]])
def test_parse_rejects_unrecognised_shapes_as_permanent(payload):
    with pytest.raises(PermanentProviderError):
        client.parse_daily_usage(payload)


@responses.activate
def test_long_ranges_are_split_into_windows_and_out_of_range_days_dropped(interstellio):  # noqa: F811
    interstellio["MAX_DAYS_PER_REQUEST"] = 2
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-01", up_mb=1, down_mb=1),
                                                         entry("2026-11-02", up_mb=2, down_mb=2)]})
    responses.post(usage_url("sub-1"), json=[entry("2026-11-03", up_mb=3, down_mb=3),
                                             entry("2026-11-09", up_mb=9, down_mb=9)])

    rows = client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 3))

    assert [r.date for r in rows] == [D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 3)]
    assert [json.loads(c.request.body) for c in responses.calls] == [
        {"start": "2026-11-01T00:00:00+02:00", "end": "2026-11-02T23:59:59+02:00"},
        {"start": "2026-11-03T00:00:00+02:00", "end": "2026-11-03T23:59:59+02:00"},
    ]


@responses.activate
def test_500_is_retried_then_raised_as_retryable(interstellio):  # noqa: F811
    responses.post(usage_url("sub-1"), status=500, json={"error": {"title": "Internal", "description": "x"}})

    with pytest.raises(RetryableProviderError) as info:
        client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1))

    assert len(responses.calls) == 3
    assert info.value.http_status == 500
    assert info.value.code == "Internal"


@responses.activate
def test_500_then_success_recovers(interstellio):  # noqa: F811
    responses.post(usage_url("sub-1"), status=503)
    responses.post(usage_url("sub-1"), json={"payload": [entry("2026-11-01", up_mb=1, down_mb=2)]})

    rows = client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1))

    assert len(responses.calls) == 2
    assert rows[0].total_mb == Decimal("3.00")


@responses.activate
def test_timeout_is_retried_then_raised(interstellio):  # noqa: F811
    responses.post(usage_url("sub-1"), body=requests.ReadTimeout("read timed out"))

    with pytest.raises(ProviderTimeoutError):
        client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1))
    assert len(responses.calls) == 3


@responses.activate
@pytest.mark.parametrize("status,title", [(401, "Unauthorized"), (402, "Out of credits"), (404, "Not found")])
def test_4xx_is_permanent_and_not_retried(interstellio, status, title):  # noqa: F811
    responses.post(usage_url("sub-1"), status=status,
                   json={"error": {"title": title, "description": "", "request_id": "r-1"}})

    with pytest.raises(PermanentProviderError) as info:
        client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1))

    assert len(responses.calls) == 1
    assert info.value.http_status == status
    assert info.value.code == title


@responses.activate
def test_non_json_answer_is_permanent(interstellio):  # noqa: F811
    responses.post(usage_url("sub-1"), body="<html>gateway</html>", status=200)
    with pytest.raises(PermanentProviderError):
        client.fetch_daily_usage(subscriber_id="sub-1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1))


def test_missing_token_is_improperly_configured(settings):
    settings.INTERSTELLIO = {"API_URL": "", "API_TOKEN": "", "DOMAIN": ""}
    with pytest.raises(ImproperlyConfigured, match="INTERSTELLIO_API_TOKEN"):
        client.get_config()


def test_usage_path_must_name_the_subscriber(interstellio):  # noqa: F811
    interstellio["USAGE_PATH"] = "/v1/usage"
    with pytest.raises(ImproperlyConfigured, match="subscriber_id"):
        client.get_config()


@responses.activate
def test_usage_path_is_configurable(interstellio):  # noqa: F811
    interstellio["USAGE_PATH"] = "/v9/usage/{subscriber_id}/days"
    responses.post(f"{interstellio['TELEMETRY_URL']}/v9/usage/sub%2F1/days", json={"payload": []})
    assert client.fetch_daily_usage(subscriber_id="sub/1", date_from=D(2026, 11, 1), date_to=D(2026, 11, 1)) == []
