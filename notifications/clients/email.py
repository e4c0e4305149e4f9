"""Email through Django's email framework: the backend comes from `EMAIL_BACKEND`.

Console in development, locmem in tests, any django-anymail backend in production
(`notifications.clients.resend_backend.EmailBackend`, anymail's Resend backend plus the idempotency key, + `RESEND_API_KEY`) without a code change. The message
carries the text and HTML alternatives and any attachments; anymail's message id is returned when
the backend sets one.

Errors: anymail API errors with 429 / 5xx / no status (network) and SMTP / socket errors are
retryable; other 4xx, refused recipients and invalid messages are permanent.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from circletel.http import PermanentProviderError, RateLimitedError, RetryableProviderError
from notifications.clients import SendResult

PROVIDER = "email"


def _anymail_error(exc):
    from anymail.exceptions import AnymailRecipientsRefused, AnymailUnsupportedFeature

    status = getattr(exc, "status_code", None)
    raw = str(getattr(exc, "response", "") and getattr(exc.response, "text", "") or "")
    if isinstance(exc, AnymailRecipientsRefused | AnymailUnsupportedFeature):
        return PermanentProviderError(f"email refused: {exc}", provider=PROVIDER, http_status=status, raw=raw)
    if status == 409:  # Resend: a request with this idempotency key is still in flight: try again shortly
        return RetryableProviderError(f"email provider busy with the same message: {exc}", provider=PROVIDER,
                                      http_status=status, raw=raw)
    if status == 429:
        return RateLimitedError(f"email provider rate limited: {exc}", provider=PROVIDER, http_status=status, raw=raw)
    if status is None or status >= 500:
        return RetryableProviderError(f"email provider unavailable: {exc}", provider=PROVIDER, http_status=status,
                                      raw=raw)
    return PermanentProviderError(f"email provider rejected the message: {exc}", provider=PROVIDER,
                                  http_status=status, raw=raw)


def send_email(*, to: str, subject: str, text: str, html: str = "", from_email: str | None = None,
               reply_to: list[str] | None = None,
               attachments: Sequence[tuple[str, bytes, str]] = (), idempotency_key: str = "") -> SendResult:
    """Send one message; `attachments` are (filename, bytes, mimetype). Resend drops an attachment
    whose file name extension does not match its type, so callers name files accordingly.

    `idempotency_key` makes a repeat of the same send (a worker died after Resend accepted it and
    before we recorded it) a no-op at Resend for 24 hours. Resend documents it as the HTTP header
    `Idempotency-Key` on POST /emails, and the header `Resend-Idempotency-Key` over SMTP
    (https://resend.com/docs/dashboard/emails/idempotency-keys; CONTRACTS 5.1). The API header is
    sent by `notifications.clients.resend_backend.EmailBackend` (anymail's backend has no place for
    it); the SMTP header is added when EMAIL_HOST is Resend's. Other backends have no such key: see
    docs/adr/0017 for the window that leaves."""
    from anymail.exceptions import AnymailError

    message = EmailMultiAlternatives(subject=subject, body=text, from_email=from_email or settings.DEFAULT_FROM_EMAIL,
                                     to=[to], reply_to=reply_to)
    if html:
        message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    if idempotency_key:
        message.idempotency_key = idempotency_key[:256]  # read by resend_backend (the HTTP header)
        if getattr(settings, "EMAIL_HOST", "").endswith("resend.com"):
            message.extra_headers["Resend-Idempotency-Key"] = idempotency_key[:256]
    try:
        message.send(fail_silently=False)
    except AnymailError as exc:
        raise _anymail_error(exc)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentProviderError(f"email recipient refused: {exc}", provider=PROVIDER)
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryableProviderError(f"email could not be sent: {exc}", provider=PROVIDER)
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None) if status is not None else None
    if isinstance(message_id, set | frozenset | list | tuple):  # anymail: one id per recipient when they differ
        message_id = ",".join(sorted(str(m) for m in message_id if m is not None))
    return SendResult(message_id="" if message_id is None else str(message_id), provider=PROVIDER)
