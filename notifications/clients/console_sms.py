"""The development SMS "provider": logs the message instead of sending it (SMS_PROVIDER=console)."""

from __future__ import annotations

import logging
import uuid

from notifications.clients import SendResult

logger = logging.getLogger("notifications.sms")


def send_sms(*, to: str, body: str) -> SendResult:
    message_id = f"console-{uuid.uuid4().hex[:12]}"
    logger.info("SMS to %s: %s", to, body, extra={"sms_message_id": message_id})
    return SendResult(message_id=message_id, provider="console")
