"""The one entry point for telling someone something: `notify` (customers) and `notify_ops`.

    notify(event="invoice_issued", customer=invoice.customer, idempotency_key=f"invoice_issued:{invoice.pk}",
           context={"invoice_number": invoice.number, "amount_due": invoice.amount_due, "due_date": invoice.due_date})

Call it inside your write transaction: it renders the message, writes a queued NotificationLog
row per channel (skipping a channel the customer switched off), and sends from a django-q2 task
after commit. A repeated idempotency key writes and sends nothing. It never raises for delivery
problems; those are logged on the row and retried (see `notifications/delivery.py`).

It does raise, at once, for a developer mistake: an event with no templates or a context missing
a key the event needs (`notifications/events.py` lists every event and its keys). With
`customer=`, `customer_name` and `account_number` are filled in when not given.

Email attachments: `attachments=[Attachment(filename="RCT-2026-00001.pdf", path=receipt.pdf.name,
mimetype="application/pdf")]` (or plain `(filename, path_or_bytes, mimetype)` tuples). The log row
keeps only the reference; the email channel reads the file from the default storage at each send
attempt, so a retry or a resend carries the same file. Bytes are written to the default storage
(`notifications/attachments/<log id>/<filename>`) once the row is written, never for a duplicate
key. SMS and ops rows carry no attachments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from django.db import IntegrityError, transaction

from notifications.models import NotificationLog

Channel = NotificationLog.Channel
DEFAULT_CHANNELS = (Channel.EMAIL,)
ATTACHMENT_DIR = "notifications/attachments"


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email: `path` names a file in the default storage, read at send time."""

    filename: str
    path: str
    mimetype: str = "application/octet-stream"


def _attachments(items) -> tuple[list[Attachment], list[tuple[str, bytes, str]]]:
    """Split the caller's attachments into storage references and bytes still to be stored."""
    refs: list[Attachment] = []
    pending: list[tuple[str, bytes, str]] = []
    for item in items or ():
        if isinstance(item, Attachment):
            filename, source, mimetype = item.filename, item.path, item.mimetype
        else:
            filename, source, mimetype = item
        if not filename or "/" in filename or "\\" in filename:
            raise ValueError(f"an attachment needs a plain file name, not {filename!r}")
        if not mimetype or "/" not in mimetype:
            raise ValueError(f"attachment {filename!r} needs a mimetype such as application/pdf")
        if isinstance(source, bytes | bytearray):
            pending.append((filename, bytes(source), mimetype))
        elif isinstance(source, str) and source:
            refs.append(Attachment(filename=filename, path=source, mimetype=mimetype))
        else:
            raise ValueError(f"attachment {filename!r} needs a storage path or bytes")
    return refs, pending


def _store_attachments(log: NotificationLog, refs: list[Attachment], pending: list[tuple[str, bytes, str]]) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    stored = list(refs)
    for filename, data, mimetype in pending:
        name = default_storage.save(f"{ATTACHMENT_DIR}/{log.pk}/{filename}", ContentFile(data))
        stored.append(Attachment(filename=filename, path=name, mimetype=mimetype))
    log.attachments = [asdict(a) for a in stored]
    NotificationLog.objects.filter(pk=log.pk).update(attachments=log.attachments)


def _customer_context(customer, context: dict) -> dict:
    if customer is None:
        return dict(context)
    filled = {
        "customer_name": getattr(customer, "display_name", "") or getattr(customer, "full_name", ""),
        "account_number": getattr(customer, "account_number", ""),
    }
    return {**filled, **context}


def notify(*, event: str, context: dict, customer=None, email: str | None = None, phone: str | None = None,
           channels: Sequence[str] | None = None, idempotency_key: str | None = None,
           attachments: Sequence[Attachment | tuple] | None = None) -> list[NotificationLog]:
    """Queue `event` for a customer (honouring their preferences) or for a bare email/phone.

    `attachments` go with the email only (see the module docstring)."""
    from notifications.rendering import render

    channels = tuple(channels or DEFAULT_CHANNELS)
    files = _attachments(attachments)
    prefs = getattr(customer, "billing_account", None) if customer is not None else None
    context = _customer_context(customer, context)
    logs = []
    for channel in channels:
        if channel == Channel.EMAIL:
            recipient = email or (customer.email if customer else None)
            allowed = prefs is None or prefs.notify_email
        elif channel == Channel.SMS:
            recipient = phone or (customer.phone if customer else None)
            allowed = prefs is None or prefs.notify_sms
        else:
            raise ValueError(f"unknown channel {channel!r}; use notify_ops for ops alerts")
        if not recipient or not allowed:
            continue
        message = render(event=event, channel=channel, context=context)
        log = _queue(customer=customer, recipient=recipient, channel=channel, event=event, subject=message.subject,
                     body=message.body, context=context, idempotency_key=idempotency_key, html=message.html,
                     files=files if channel == Channel.EMAIL else None)
        if log is not None:
            logs.append(log)
    return logs


def notify_ops(*, event: str, context: dict, idempotency_key: str | None = None,
               email: bool = True) -> list[NotificationLog]:
    """Alert operations on the ops webhook (Slack/Discord/JSON) and, by default, the ops email."""
    from django.conf import settings

    from notifications.rendering import render

    logs = []
    targets = [(Channel.OPS, settings.OPS_WEBHOOK_URL and settings.OPS_WEBHOOK_KIND)]
    if email:
        targets.append((Channel.EMAIL, settings.OPS_EMAIL))
    for channel, recipient in targets:
        if not recipient:
            continue
        message = render(event=event, channel=channel, context=context, audience="ops")
        log = _queue(customer=None, recipient=recipient, channel=channel, event=event, subject=message.subject,
                     body=message.body, context=context, idempotency_key=idempotency_key, html=message.html)
        if log is not None:
            logs.append(log)
    return logs


def _queue(*, customer, recipient, channel, event, subject, body, context, idempotency_key,
           html: str = "", files=None) -> NotificationLog | None:
    refs, pending = files or ([], [])
    try:
        with transaction.atomic():
            log = NotificationLog.objects.create(
                customer=customer, recipient=recipient, channel=channel, event=event, subject=subject[:200],
                body=body, html_body=html, context=_jsonable(context), idempotency_key=idempotency_key,
                attachments=[asdict(a) for a in refs],
            )
    except IntegrityError:
        return None  # already queued or sent under this key
    if pending:
        _store_attachments(log, refs, pending)
    pk = log.pk
    transaction.on_commit(lambda: _enqueue_send(pk))
    return log


def _enqueue_send(pk: int) -> None:
    from notifications.delivery import enqueue_send

    enqueue_send(pk)  # never raises: a lost enqueue is picked up by the retry sweep


def _jsonable(value):
    """Keep a JSON-safe copy of the context (models become their str, Decimals strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
