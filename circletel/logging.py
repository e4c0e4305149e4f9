"""Structured logging: a request id on every line of a request, the job-run id in jobs, no secrets.

`RequestIdMiddleware` takes `X-Request-ID` from the proxy (or makes one), stores it in a context
variable and echoes it in the response. `ContextFilter` adds `request_id` and `job_run_id` to every
record. `RedactFilter` masks secrets and long digit runs (bank accounts, card numbers) in messages.
"""

import contextvars
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
job_run_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("job_run_id", default="")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        request.request_id = rid
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class ContextFilter(logging.Filter):
    """Adds bare `request_id` and `job_run_id` (JSON fields) and `log_context` ("req=... job=...")."""

    def filter(self, record):
        record.request_id = request_id_var.get()
        record.job_run_id = job_run_id_var.get()
        parts = [f"req={record.request_id}"] if record.request_id else []
        if record.job_run_id:
            parts.append(f"job={record.job_run_id}")
        record.log_context = " ".join(parts) or "-"
        return True


# The key may carry a prefix or suffix (refresh_token, client_secret, NETCASH_SERVICE_KEY); the value may be
# quoted (JSON) or follow an auth scheme ("Authorization: Bearer <token>").
_SECRET_KV = re.compile(
    r"(?i)(\b[\w-]*?(?:password|passwd|secret|token|api[_-]?key|authorization|service[_-]?key|account[_-]?number"
    r"|cvv)\w*)"
    r"((?:[\"']?\s*[:=]\s*[\"']?|\s+)(?:(?:bearer|basic|token|zoho-oauthtoken)\s+)?)([^\s,;&'\"]+)"
)
_LONG_DIGITS = re.compile(r"(?<![\w-])\d{8,19}(?![\w-])")
# Provider callbacks authenticated by a secret last path segment (the Pay Now Notify URL, ADR 0010;
# the eMandate postback): the path itself is the secret, so it never reaches a log line.
_SECRET_PATH = re.compile(r"(/netcash/(?:notify|mandate)/)[^/\s?#\"']+")


# Secret values to mask wherever they appear (a token pasted into a slightly wrong URL, %2F instead of
# "/", a space or a quote before it, is no longer in the path shape above). The NetCash notify token
# is read from the settings; apps register their other URL secrets (payments: the mandate postback).
_SECRET_SOURCES: list = []
MIN_SECRET_LENGTH = 8


def register_log_secrets(source) -> None:
    """`source()` returns secret strings that must never reach a log line."""
    if source not in _SECRET_SOURCES:
        _SECRET_SOURCES.append(source)


def _secret_values() -> list[str]:
    values = []
    try:
        from django.conf import settings

        values.append(settings.NETCASH.get("NOTIFY_TOKEN") or "")
        for source in _SECRET_SOURCES:
            values.extend(source())
    except Exception:  # logging must work before settings are ready, and never fail on a secret source
        pass
    return [v for v in values if v and len(v) >= MIN_SECRET_LENGTH]


def redact_path(text: str) -> str:
    text = _SECRET_PATH.sub(r"\1***", text)
    for value in _secret_values():
        if value in text:
            text = text.replace(value, "***")
    return text


def redact(text: str) -> str:
    text = redact_path(text)
    text = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text)


# What every LogRecord carries; anything else on a record is an `extra` the JSON formatter prints.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_PLAIN = (str, int, float, bool, type(None))


class RedactFilter(logging.Filter):
    def filter(self, record):
        self._redact_extras(record)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            # Exception messages carry URLs and payloads too: log the redacted traceback text instead.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True

    @staticmethod
    def _redact_extras(record) -> None:
        """Extras reach the JSON log too: Django's `django.request` records carry `request`, whose
        repr holds the full path (a secret notify URL included). Objects become their redacted text."""
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS or key in ("request_id", "job_run_id", "log_context"):
                continue
            if isinstance(value, str):
                cleaned = redact(value)
            elif isinstance(value, _PLAIN):
                continue
            else:
                cleaned = redact(str(value))
            setattr(record, key, cleaned)
