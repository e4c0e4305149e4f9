"""The operations webhook: Slack, Discord or a generic JSON receiver (`OPS_WEBHOOK_URL`, `_KIND`).

    slack:   {"text": "<title and message>"}
    discord: {"content": "<title and message, at most 2000 characters>"}
    json:    {"event": "...", "title": "...", "message": "...", "fields": {...}}
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import send
from notifications.clients import SendResult

PROVIDER = "ops_webhook"
KINDS = ("slack", "discord", "json")
TIMEOUT = (5, 10)
DISCORD_MAX = 2000
SLACK_MAX = 3500


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_payload(*, kind: str, event: str, title: str, message: str, fields: dict | None = None) -> dict:
    """The JSON body for `kind`; `message` is the full rendered ops text (it starts with the title)."""
    if kind == "slack":
        return {"text": _cut(message, SLACK_MAX)}
    if kind == "discord":
        return {"content": _cut(message, DISCORD_MAX)}
    if kind == "json":
        lines = message.splitlines()
        if lines and lines[0].strip() == title.strip():
            message = "\n".join(lines[1:]).strip()
        return {"event": event, "title": title, "message": message, "fields": dict(fields or {})}
    raise ImproperlyConfigured(f"OPS_WEBHOOK_KIND must be one of {KINDS}, not {kind!r}")


def post_alert(*, event: str, title: str, message: str, fields: dict | None = None,
               kind: str | None = None) -> SendResult:
    url = settings.OPS_WEBHOOK_URL
    if not url:
        raise ImproperlyConfigured("OPS_WEBHOOK_URL is not set")
    kind = kind or settings.OPS_WEBHOOK_KIND
    payload = build_payload(kind=kind, event=event, title=title, message=message, fields=fields)
    response = send("POST", url, provider=PROVIDER, timeout=TIMEOUT, json=payload)
    return SendResult(message_id=response.headers.get("X-Request-Id", "") or "", provider=kind)
