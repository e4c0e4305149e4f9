"""Clickatell One API (Platform) client (CONTRACTS.md section 8.1).

    POST https://platform.clickatell.com/v1/message
    Authorization: <API_KEY>   (the raw key, no "Bearer")
    {"messages": [{"channel": "sms", "to": "27821234567", "content": "..."}]}
    202 -> {"messages": [{"apiMessageId": "...", "accepted": true, "to": "...", "error": null}], "error": null}

`to` is international without the "+". Errors may be global (`error`) or per message
(`messages[].error {code, description}`); either is permanent. 5xx / 429 / timeouts are retryable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, send
from notifications.clients import SendResult

PROVIDER = "clickatell"
DEFAULT_URL = "https://platform.clickatell.com/v1/message"
TIMEOUT = (5, 15)


def _config() -> tuple[str, str]:
    conf = getattr(settings, "CLICKATELL", {}) or {}
    api_key = conf.get("API_KEY")
    if not api_key:
        raise ImproperlyConfigured("SMS_PROVIDER=clickatell needs CLICKATELL_API_KEY")
    return conf.get("URL") or DEFAULT_URL, api_key


def _describe(error) -> tuple[str, str]:
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("description") or error)
    return "", str(error)


def send_sms(*, to: str, body: str) -> SendResult:
    """Send one SMS; returns Clickatell's apiMessageId."""
    url, api_key = _config()
    payload = {"messages": [{"channel": "sms", "to": to.lstrip("+"), "content": body}]}
    response = send("POST", url, provider=PROVIDER, timeout=TIMEOUT, json=payload,
                    headers={"Authorization": api_key, "Content-Type": "application/json",
                             "Accept": "application/json"})
    try:
        data = response.json()
    except ValueError:
        raise PermanentProviderError("clickatell answered with a body that is not JSON", provider=PROVIDER,
                                     http_status=response.status_code, raw=response.text)
    if data.get("error"):
        code, description = _describe(data["error"])
        raise PermanentProviderError(f"clickatell refused the request: {description}", provider=PROVIDER,
                                     http_status=response.status_code, code=code, raw=response.text)
    messages = data.get("messages") or []
    message = messages[0] if messages else {}
    if message.get("error") or not message.get("accepted", False):
        code, description = _describe(message.get("error") or "message not accepted")
        raise PermanentProviderError(f"clickatell refused the message: {description}", provider=PROVIDER,
                                     http_status=response.status_code, code=code, raw=response.text)
    message_id = str(message.get("apiMessageId") or "")
    if not message_id:
        raise PermanentProviderError("clickatell answered without an apiMessageId", provider=PROVIDER,
                                     http_status=response.status_code, raw=response.text)
    return SendResult(message_id=message_id, provider=PROVIDER)
