"""Shared helpers for the usage tests (no tests here): provider settings, a fixed today, services."""

import datetime as dt
import sys
import types

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


SAMPLE_CONTEXT = {"customer_name": "Thandi", "package_name": "LTE 100GB", "used_gb": "8.00", "cap_gb": 10,
                  "percent": 80, "account_number": "CT-2026-00001", "reset_date": dt.date(2026, 12, 1)}


@pytest.fixture
def renderer(monkeypatch):
    """Use the real notification renderer and templates when they can render usage_80/usage_95;
    until the notifications work lands, a minimal stand-in so these tests exercise our side."""
    try:
        from notifications import rendering
        for event in ("usage_80", "usage_95"):
            for channel in ("email", "sms"):
                rendering.render_message(event=event, channel=channel, context=SAMPLE_CONTEXT)
        return
    except Exception:  # renderer or templates not there yet
        pass

    def render_message(*, event, channel, context):
        return event, f"{context['package_name']}: {context['percent']}% of {context['cap_gb']} GB used"

    stub = types.ModuleType("notifications.rendering")
    stub.render_message = render_message
    monkeypatch.setitem(sys.modules, "notifications.rendering", stub)


def make_service(**kwargs) -> CustomerService:
    defaults = {"status": CustomerService.Status.ACTIVE, "provider_subscriber_id": "sub-1", "data_cap_gb": None,
                "billing_day": 1, "service_type": CustomerService.ServiceType.LTE, "package_name": "LTE 100GB"}
    defaults.update(kwargs)
    return CustomerServiceFactory(**defaults)
