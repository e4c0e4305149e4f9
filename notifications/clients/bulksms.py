"""BulkSMS JSON REST API client (CONTRACTS.md section 8.2).

    POST https://api.bulksms.com/v1/messages?deduplication-id=<int>&auto-unicode=true
    Basic auth (token id / token secret), body {"to": "+27...", "body": "..."}
    201 -> [{"id": "...", "status": {"type": "ACCEPTED" | "SCHEDULED" | "SENT" | "DELIVERED" | "FAILED", ...}}]

`deduplication_id` (our NotificationLog pk) makes a retried send of the same row a no-op at
BulkSMS for about 12 hours. 5xx / 429 / timeouts are retryable; other 4xx (403 = no credits) and
a FAILED status are permanent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, send
from notifications.clients import SendResult

PROVIDER = "bulksms"
DEFAULT_BASE_URL = "https://api.bulksms.com/v1"
TIMEOUT = (5, 15)


def _config() -> tuple[str, tuple[str, str]]:
    conf = getattr(settings, "BULKSMS", {}) or {}
    token_id, secret = conf.get("TOKEN_ID"), conf.get("TOKEN_SECRET")
    if not token_id or not secret:
        raise ImproperlyConfigured("SMS_PROVIDER=bulksms needs BULKSMS_TOKEN_ID and BULKSMS_TOKEN_SECRET")
    return (conf.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/"), (token_id, secret)


def send_sms(*, to: str, body: str, deduplication_id: int | None = None) -> SendResult:
    """Send one SMS to an E.164 number; returns BulkSMS's message id."""
    base_url, auth = _config()
    params = {"auto-unicode": "true"}
    if deduplication_id is not None:
        params["deduplication-id"] = str(int(deduplication_id))
    response = send("POST", f"{base_url}/messages", provider=PROVIDER, timeout=TIMEOUT, auth=auth, params=params,
                    json={"to": to if to.startswith("+") else f"+{to}", "body": body})
    try:
        data = response.json()
    except ValueError:
        raise PermanentProviderError("bulksms answered with a body that is not JSON", provider=PROVIDER,
                                     http_status=response.status_code, raw=response.text)
    message = data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else {}
    status = (message.get("status") or {}) if isinstance(message, dict) else {}
    if status.get("type") == "FAILED":
        raise PermanentProviderError(f"bulksms refused the message ({status.get('id') or 'FAILED'})",
                                     provider=PROVIDER, http_status=response.status_code,
                                     code=str(status.get("id") or ""), raw=response.text)
    message_id = str(message.get("id") or "") if isinstance(message, dict) else ""
    if not message_id:
        raise PermanentProviderError("bulksms answered without a message id", provider=PROVIDER,
                                     http_status=response.status_code, raw=response.text)
    return SendResult(message_id=message_id, provider=PROVIDER)
