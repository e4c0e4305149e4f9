"""Email through Django's email framework: the backend comes from `EMAIL_BACKEND`.

Console in development, locmem in tests, any django-anymail backend in production
(`anymail.backends.resend.EmailBackend` + `RESEND_API_KEY`) without a code change. The message
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
    if status == 429:
        return RateLimitedError(f"email provider rate limited: {exc}", provider=PROVIDER, http_status=status, raw=raw)
    if status is None or status >= 500:
        return RetryableProviderError(f"email provider unavailable: {exc}", provider=PROVIDER, http_status=status,
                                      raw=raw)
    return PermanentProviderError(f"email provider rejected the message: {exc}", provider=PROVIDER,
                                  http_status=status, raw=raw)


def send_email(*, to: str, subject: str, text: str, html: str = "", from_email: str | None = None,
               reply_to: list[str] | None = None,
               attachments: Sequence[tuple[str, bytes, str]] = ()) -> SendResult:
    """Send one message; `attachments` are (filename, bytes, mimetype). Resend drops an attachment
    whose file name extension does not match its type, so callers name files accordingly."""
    from anymail.exceptions import AnymailError

    message = EmailMultiAlternatives(subject=subject, body=text, from_email=from_email or settings.DEFAULT_FROM_EMAIL,
                                     to=[to], reply_to=reply_to)
    if html:
        message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
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
