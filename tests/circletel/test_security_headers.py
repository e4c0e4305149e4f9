"""Every response carries the Content-Security-Policy (django-csp) and Permissions-Policy headers, and
Django's own security headers are still there. (tests/circletel/test_csp_browser.py checks that the
pages really work under them.)"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from circletel.security import permissions_policy_header
from tests.factories import UserFactory
from tests.payments.factories import make_invoice
from tests.portal.factories import customer_with_login

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

KEY_DIRECTIVES = [
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "img-src 'self' data:",
    "form-action 'self' https://paynow.netcash.co.za",
    "style-src-attr 'unsafe-inline'",
]


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {name: value for name, _, value in (part.strip().partition(" ") for part in header.split(";"))}


def assert_security_headers(response):
    policy = directives(response)
    for directive in KEY_DIRECTIVES:
        name, _, value = directive.partition(" ")
        assert policy[name] == value, (name, policy.get(name))
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src-elem"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "usb=()", "payment=(self)"):
        assert feature in permissions.split(", "), permissions
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_html_page_has_the_policy(client):
    response = client.get("/")

    assert response.status_code == 200
    assert_security_headers(response)
    assert directives(response)["script-src"] == "'self'"  # no inline script on the page, so no nonce either


def test_api_response_has_the_policy(client):
    client.force_login(customer_with_login().user)

    response = client.get("/api/dashboard/summary")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert_security_headers(response)


def test_admin_page_has_the_policy_and_its_style_block_carries_the_nonce(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/")

    assert response.status_code == 200
    assert_security_headers(response)
    nonce = re.search(r"'nonce-([^']+)'", directives(response)["style-src-elem"]).group(1)
    assert f'<style nonce="{nonce}">' in response.content.decode()


def test_pay_redirect_page_script_runs_by_its_nonce(client):
    customer = customer_with_login()
    invoice = make_invoice(customer, "499.00")
    client.force_login(customer.user)

    response = client.get(f"/billing/invoices/{invoice.number}/pay")

    assert response.status_code == 200
    policy = directives(response)
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9+/=]+)'", policy["script-src"]).group(1)
    assert f'<script nonce="{nonce}">document.getElementById("paynow-form").submit();</script>' in (
        response.content.decode())
    assert client.get(f"/billing/invoices/{invoice.number}/pay")["Content-Security-Policy"] != (
        response["Content-Security-Policy"])  # a fresh nonce per response


def test_api_docs_keep_the_strict_policy_and_only_redoc_has_its_exceptions(client):
    client.force_login(customer_with_login().user)

    swagger = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert swagger.status_code == redoc.status_code == 200
    assert_security_headers(swagger)
    assert "worker-src" not in directives(swagger)
    swagger_nonce = re.search(r"'nonce-([^']+)'", directives(swagger)["script-src"]).group(1)
    assert f'<script nonce="{swagger_nonce}">' in swagger.content.decode()
    assert '"validatorUrl": null' in swagger.content.decode()  # no badge image from validator.swagger.io
    assert "fonts.googleapis.com" not in redoc.content.decode()
    redoc_policy = directives(redoc)
    assert redoc_policy["style-src-elem"] == "'self' 'unsafe-inline'"
    assert redoc_policy["worker-src"] == "'self' blob:"
    assert redoc_policy["img-src"] == "'self' data: https://cdn.redoc.ly"
    assert "'unsafe-inline'" not in redoc_policy["script-src"]
    assert redoc_policy["frame-ancestors"] == "'none'" and redoc_policy["object-src"] == "'none'"


def test_permissions_policy_header_format():
    header = permissions_policy_header({"camera": [], "payment": ["self", "https://pay.example"], "fullscreen": ["*"]})

    assert header == 'camera=(), payment=(self "https://pay.example"), fullscreen=(*)'


def _policy_from_env(**env_overrides) -> str:
    """The settings module's policy as built with these environment variables (a fresh process)."""
    code = ("import django; django.setup(); from django.conf import settings; from csp.utils import build_policy; "
            "report_only = hasattr(settings, 'CONTENT_SECURITY_POLICY_REPORT_ONLY'); "
            "print('report-only' if report_only else 'enforced'); print(build_policy(report_only=report_only))")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "circletel.settings_test",
           **env_overrides}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_report_uri_and_report_only_come_from_the_environment():
    assert _policy_from_env().splitlines()[0] == "enforced"
    assert "report-uri" not in _policy_from_env()

    mode, policy = _policy_from_env(CSP_REPORT_URI="https://reports.example/csp", CSP_REPORT_ONLY="true").splitlines()

    assert mode == "report-only"
    assert policy.endswith("; report-uri https://reports.example/csp")
    assert "default-src 'self'" in policy


def test_form_action_names_stripe_and_paypal_only_when_they_are_configured():
    assert "checkout.stripe.com" not in _policy_from_env() and "paypal.com" not in _policy_from_env()

    policy = _policy_from_env(STRIPE_SECRET_KEY="sk_live_x", PAYPAL_CLIENT_ID="id",
                              PAYPAL_API_BASE="https://api-m.paypal.com")

    assert "form-action 'self' https://paynow.netcash.co.za https://checkout.stripe.com https://www.paypal.com" in policy
