"""System check circletel.W004: with DEBUG off, SANDBOX_GATEWAY_ENABLED=true takes no invoice payment
unless NETCASH_PAYNOW_HMAC_SECRET and NETCASH_NOTIFY_TOKEN are set (settings.py derives them only under
DEBUG); the check names what is missing. Positive controls: both set, DEBUG on, or NetCash configured."""

import pytest

from circletel.checks import product_settings_check


def _w004(settings, **netcash):
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": "", **netcash}
    return [p for p in product_settings_check(None) if p.id == "circletel.W004"]


@pytest.fixture
def sandbox_in_production(settings):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = True
    return settings


@pytest.mark.parametrize("hmac,token,named,not_named", [
    ("", "", ["NETCASH_PAYNOW_HMAC_SECRET and NETCASH_NOTIFY_TOKEN are not set"], []),
    ("", "t" * 40, ["NETCASH_PAYNOW_HMAC_SECRET is not set"], ["NETCASH_NOTIFY_TOKEN"]),
    ("h" * 32, "", ["NETCASH_NOTIFY_TOKEN is not set"], ["NETCASH_PAYNOW_HMAC_SECRET"]),
])
def test_the_sandbox_without_its_secrets_is_flagged_naming_them(sandbox_in_production, hmac, token, named, not_named):
    found = _w004(sandbox_in_production, PAYNOW_HMAC_SECRET=hmac, NOTIFY_TOKEN=token)
    assert len(found) == 1 and found[0].level == 30  # WARNING
    for words in named:
        assert words in found[0].msg
    for words in not_named:
        assert words not in found[0].msg


def test_positive_control_both_secrets_set_is_not_flagged(sandbox_in_production):
    assert _w004(sandbox_in_production, PAYNOW_HMAC_SECRET="h" * 32, NOTIFY_TOKEN="t" * 40) == []


def test_positive_control_not_flagged_with_debug_on_or_the_sandbox_off_or_netcash_configured(settings):
    settings.DEBUG, settings.SANDBOX_GATEWAY_ENABLED = True, True
    assert _w004(settings, PAYNOW_HMAC_SECRET="", NOTIFY_TOKEN="") == []
    settings.DEBUG, settings.SANDBOX_GATEWAY_ENABLED = False, False
    assert _w004(settings, PAYNOW_HMAC_SECRET="", NOTIFY_TOKEN="") == []
    settings.SANDBOX_GATEWAY_ENABLED = True  # invoices go to NetCash: W003 / E002 speak for its secrets
    assert _w004(settings, PAYNOW_SERVICE_KEY="key", PAYNOW_HMAC_SECRET="", NOTIFY_TOKEN="") == []
