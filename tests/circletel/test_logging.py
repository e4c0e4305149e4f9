"""Request ids on every line, job-run ids in jobs, and no secrets or bank details in logs."""

import logging
import re
import sys

import pytest

from circletel.logging import ContextFilter, RedactFilter, job_run_id_var, redact, request_id_var


def make_record(msg, *args, exc_info=None):
    return logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, exc_info)


@pytest.mark.django_db
def test_incoming_request_id_is_echoed(client):
    response = client.get("/health/", HTTP_X_REQUEST_ID="edge-7f3a.42_x")

    assert response["X-Request-ID"] == "edge-7f3a.42_x"


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", [None, "has spaces in it", "x" * 65, "<script>"])
def test_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, incoming):
    headers = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}

    response = client.get("/health/", **headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.django_db
def test_request_id_is_on_log_lines_during_the_request(client, monkeypatch):
    seen = []
    from circletel import health

    monkeypatch.setattr(health, "_database", lambda: seen.append(request_id_var.get()))

    client.get("/health/", HTTP_X_REQUEST_ID="req-123")

    assert seen == ["req-123"]
    assert request_id_var.get() == ""  # reset after the request


def test_context_filter_adds_request_and_job_ids():
    record = make_record("hello")
    token = request_id_var.set("req-1")
    try:
        assert ContextFilter().filter(record) is True
    finally:
        request_id_var.reset(token)
    assert (record.request_id, record.job_run_id, record.log_context) == ("req-1", "", "req=req-1")

    record = make_record("in a job")
    token = job_run_id_var.set("42")
    try:
        ContextFilter().filter(record)
    finally:
        job_run_id_var.reset(token)
    assert (record.request_id, record.job_run_id, record.log_context) == ("", "42", "job=42")

    record = make_record("outside")
    ContextFilter().filter(record)
    assert (record.request_id, record.job_run_id, record.log_context) == ("", "", "-")


@pytest.mark.parametrize(("text", "expected"), [
    ("login password=hunter2 ok", "login password=*** ok"),
    ("refresh_token=1000.abc&client_id=9", "refresh_token=***&client_id=9"),
    ("client_secret: s3cr3t", "client_secret: ***"),
    ("NETCASH_SERVICE_KEY=ab-cd-ef", "NETCASH_SERVICE_KEY=***"),
    ("Authorization: Bearer eyJhbGciOi.abc", "Authorization: Bearer ***"),
    ("{'Authorization': 'Zoho-oauthtoken 1000.abc'}", "{'Authorization': 'Zoho-oauthtoken ***'}"),
    ('{"api_key": "K-123", "amount": "899.00"}', '{"api_key": "***", "amount": "899.00"}'),
    ("debit order to account 62012345678 branch 250655", "debit order to account *******5678 branch 250655"),
    ("card 4111111111111111 declined", "card ************1111 declined"),
    ("invoice INV-2026-00042 for CT-2026-00001 R 1234.56", "invoice INV-2026-00042 for CT-2026-00001 R 1234.56"),
    ("Not Found: /api/payments/netcash/notify/Jx3mQ9vT2pLk8sWc", "Not Found: /api/payments/netcash/notify/***"),
    ("POST /api/payments/netcash/notify/Jx3mQ9vT/ HTTP/1.1", "POST /api/payments/netcash/notify/***/ HTTP/1.1"),
    ("POST /api/payments/netcash/mandate/abc123?x=1", "POST /api/payments/netcash/mandate/***?x=1"),
    ("GET /payments/netcash/return?Reference=INV-2026-00001-ABC123", "GET /payments/netcash/return?Reference=INV-2026-00001-ABC123"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_redact_filter_masks_the_formatted_message():
    record = make_record("paying from account %s with token=%s", "62012345678", "tok_live_123")

    assert RedactFilter().filter(record) is True

    assert record.getMessage() == "paying from account *******5678 with token=***"


def test_redact_filter_masks_traceback_text():
    try:
        raise ValueError("rejected: api_key=sk_live_999 account 62012345678")
    except ValueError:
        record = make_record("provider call failed", exc_info=sys.exc_info())

    RedactFilter().filter(record)
    line = logging.Formatter("%(message)s").format(record)

    assert "sk_live_999" not in line and "62012345678" not in line
    assert "ValueError: rejected: api_key=*** account *******5678" in line


def test_redact_filter_keeps_a_record_with_a_bad_format_string():
    record = make_record("%d items", "not a number")

    assert RedactFilter().filter(record) is True


def test_gunicorn_access_log_redacts_the_notify_token():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from circletel.gunicorn import RedactingLogger

    logger = RedactingLogger(Config())
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/api/payments/netcash/notify/Jx3mQ9vT2pLk8sWc",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/api/payments/netcash/notify/Jx3mQ9vT2pLk8sWc"}
    atoms = logger.atoms(SimpleNamespace(status="200 OK", sent=2, headers=[]), SimpleNamespace(headers=[]),
                         environ, timedelta(milliseconds=3))

    assert atoms["r"] == "POST /api/payments/netcash/notify/*** HTTP/1.1"
    assert atoms["U"] == "/api/payments/netcash/notify/***"
    # Positive control: other paths are logged as they are.
    environ |= {"RAW_URI": "/pay/", "PATH_INFO": "/pay/"}
    assert logger.atoms(SimpleNamespace(status="200 OK", sent=2, headers=[]), SimpleNamespace(headers=[]),
                        environ, timedelta(milliseconds=3))["U"] == "/pay/"


def test_gunicorn_conf_uses_the_redacting_logger():
    from pathlib import Path

    conf = (Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text()
    assert 'logger_class = "circletel.gunicorn.RedactingLogger"' in conf


@pytest.mark.django_db
def test_the_request_extra_of_django_request_records_is_redacted(client, settings):
    """The probe found the notify token in the JSON log: Django's `django.request` warning for a
    4xx on the secret path carries `request` (its repr holds the full path) as an extra."""
    import io
    import json as jsonlib

    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        token = settings.NETCASH["NOTIFY_TOKEN"]
        client.post(f"/api/payments/netcash/notify/{token}", data="a=b",
                    content_type="application/x-www-form-urlencoded")  # a 400 on the real path
        client.get("/pay/does-not-exist")  # positive control: an ordinary 404 keeps its path
    finally:
        logger.removeHandler(handler)
    lines = [jsonlib.loads(line) for line in stream.getvalue().splitlines()]
    assert token not in stream.getvalue()
    notify_line = next(line for line in lines if "netcash/notify" in line["message"])
    assert "/netcash/notify/***" in notify_line["request"] and notify_line["status_code"] == 400
    assert any("/pay/does-not-exist" in line.get("request", "") for line in lines)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/payments/netcash%2Fnotify/{t}", "/api/payments/netcash/notify/%20{t}",
                                  "/api/payments/netcash/notify/%22{t}", "/api/payments/netcash//notify/{t}",
                                  "/api/payments/netcash/mandate/%20{m}"])
def test_a_token_in_a_malformed_notify_url_never_reaches_the_log(client, settings, path):
    """Probe 2: URLs pasted a little wrong (an encoded slash, a space, a quote, a double slash) were not
    in the secret path's shape, so Django's 'Not Found' line carried the token."""
    import io

    from payments.services.mandates import mandate_postback_token

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(logging.Formatter("%(message)s %(request)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    token, mandate = settings.NETCASH["NOTIFY_TOKEN"], mandate_postback_token()
    try:
        client.post(path.format(t=token, m=mandate), data="a=b", content_type="application/x-www-form-urlencoded")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert logged  # positive control: the request was logged (a 4xx)
    assert token not in logged and mandate not in logged and "***" in logged
