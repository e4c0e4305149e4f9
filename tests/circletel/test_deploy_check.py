"""With DEBUG=False and real-looking secrets, `manage.py check --deploy` reports nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "circletel.settings",
    "DEBUG": "false",
    "SECRET_KEY": "q8#Zr2!vLw9@Kp4$Tn7^Xb1&Hm6*Yc3(Fd5)Gs0-Jt8+Ue2=Wa_k7",
    "ALLOWED_HOSTS": "billing.circletel.co.za",
    "CSRF_TRUSTED_ORIGINS": "https://billing.circletel.co.za",
    "FIELD_ENCRYPTION_KEYS": "Wm9vZy1UZXN0LUtleS1Pbmx5LUZvci1UZXN0cy0xMjM=",
    "NETCASH_PAYNOW_SERVICE_KEY": "1a2b3c4d-5e6f-7a8b-9c0d-ef1234567890",
    "NETCASH_PAYNOW_HMAC_SECRET": "7c1f0e9a5b3d4c2e8f6a1b0d9c7e5f3a",
    "NETCASH_NOTIFY_TOKEN": "Jx3mQ9vT2pLk8sWc4nRy7bFh1dGz6aEu5oKi0tVw",
}


def run_check(tmp_path, **overrides):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}", **PRODUCTION_ENV, **overrides}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_the_sandbox_gateway_explicitly_enabled_in_production(tmp_path):
    result = run_check(tmp_path, SANDBOX_GATEWAY_ENABLED="true")

    assert result.returncode != 0
    assert "circletel.W001" in result.stderr + result.stdout


def test_production_without_a_paynow_key_has_no_sandbox(tmp_path):
    # No key and no explicit switch: the sandbox is simply off (nothing stands in for NetCash).
    result = run_check(tmp_path, NETCASH_PAYNOW_SERVICE_KEY=None, NETCASH_NOTIFY_TOKEN=None)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "circletel.W001" not in result.stderr + result.stdout


def test_a_paynow_key_without_a_notify_token_is_an_error_even_without_deploy(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'e002.sqlite3'}", **PRODUCTION_ENV}
    for token in (None, "short-token"):
        env_now = {k: v for k, v in {**env, "NETCASH_NOTIFY_TOKEN": token}.items() if v is not None}
        result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env_now,
                                capture_output=True, text=True, timeout=120)

        assert result.returncode != 0
        assert "circletel.E002" in result.stderr + result.stdout


def test_check_deploy_flags_a_paynow_key_without_its_hmac_secret(tmp_path):
    result = run_check(tmp_path, NETCASH_PAYNOW_HMAC_SECRET=None)

    assert result.returncode != 0
    assert "circletel.W003" in result.stderr + result.stdout


def _paynow_secret_set(tmp_path, **overrides) -> bool:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}", "DJANGO_SETTINGS_MODULE": "circletel.settings",
           **overrides}
    code = "import django; django.setup(); from django.conf import settings; print(bool(settings.NETCASH['PAYNOW_HMAC_SECRET']))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={k: v for k, v in env.items() if v is not None},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


def test_make_run_can_take_sandbox_payments_without_a_paynow_secret(tmp_path):
    # DEBUG (make run): a secret derived from the dev SECRET_KEY; production gets none unless set.
    assert _paynow_secret_set(tmp_path, DEBUG="true") is True
    assert _paynow_secret_set(tmp_path, DEBUG="false", SECRET_KEY=PRODUCTION_ENV["SECRET_KEY"],
                              ALLOWED_HOSTS="x") is False


@pytest.mark.parametrize("provider_env, check", [
    ({"STRIPE_SECRET_KEY": "sk_live_x1"}, "circletel.E003"),
    # PAYPAL_ZAR_RATE: PayPal takes no ZAR, so PayPal on needs a rate (payments.E001, issue 15).
    ({"PAYPAL_CLIENT_ID": "cid", "PAYPAL_CLIENT_SECRET": "cs", "PAYPAL_ZAR_RATE": "18.50"}, "circletel.E004"),
])
def test_a_provider_key_without_its_webhook_secret_is_an_error(tmp_path, provider_env, check):
    # Issue 19 (4): money would be taken and never booked.
    result = run_check(tmp_path, **provider_env)
    assert result.returncode != 0 and check in result.stderr + result.stdout
    # Positive control: with the webhook secret / id the check is clean.
    secret = {"STRIPE_WEBHOOK_SECRET": "whsec_live_x"} if check.endswith("3") else {"PAYPAL_WEBHOOK_ID": "WH-1"}
    ok = run_check(tmp_path, **provider_env, **secret)
    assert ok.returncode == 0, ok.stdout + ok.stderr
