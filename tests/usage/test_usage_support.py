"""Shared helpers for the usage tests (no tests here): provider settings, a fixed today, services."""

import datetime as dt

import pytest
from django.utils import timezone

from billing.models import CustomerService
from tests.factories import CustomerServiceFactory

TELEMETRY = "https://telemetry.test"


def usage_url(subscriber_id: str) -> str:
    return f"{TELEMETRY}/v1/subscriber/{subscriber_id}/data/daily"


def entry(day: str, *, up_mb, down_mb) -> dict:
    """A provider daily bucket for `day` with the given MB (sent as KB, 1 MB = 1024 KB)."""
    return {"time": f"{day}T00:00:00+02:00", "upload_kb": up_mb * 1024, "download_kb": down_mb * 1024,
            "combined_kb": (up_mb + down_mb) * 1024, "download_kbps": 0, "upload_kbps": 0}


@pytest.fixture
def interstellio(settings):
    settings.INTERSTELLIO = {
        "API_URL": "", "API_TOKEN": "test-token", "DOMAIN": "circletel.co.za", "TENANT_ID": "tenant-1",
        "TELEMETRY_URL": TELEMETRY, "USAGE_PATH": "/v1/subscriber/{subscriber_id}/data/daily",
        "TIMEZONE": "Africa/Johannesburg", "TIMEOUT_SECONDS": 7, "RETRY_ATTEMPTS": 3, "RETRY_BASE_SECONDS": 0,
        "MAX_DAYS_PER_REQUEST": 128, "SYNC_BATCH_SIZE": 2,
    }
    return settings.INTERSTELLIO


def set_today(monkeypatch, day: dt.date) -> dt.date:
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
    return day



def make_service(**kwargs) -> CustomerService:
    defaults = {"status": CustomerService.Status.ACTIVE, "provider_subscriber_id": "sub-1", "data_cap_gb": None,
                "billing_day": 1, "service_type": CustomerService.ServiceType.LTE, "package_name": "LTE 100GB"}
    defaults.update(kwargs)
    return CustomerServiceFactory(**defaults)
