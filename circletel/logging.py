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
    def filter(self, record):
        record.request_id = request_id_var.get()
        jid = job_run_id_var.get()
        record.job_run_id = f" job={jid}" if jid and not record.request_id else jid
        return True


_SECRET_KV = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key|authorization|service[_-]?key|account[_-]?number|cvv)"
    r"(\W{1,3})([^\s,;&'\"]+)"
)
_LONG_DIGITS = re.compile(r"(?<![\w-])\d{8,19}(?![\w-])")


def redact(text: str) -> str:
    text = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text)


class RedactFilter(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
