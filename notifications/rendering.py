"""Turn an event + context into the words of one message, per channel.

Templates (under the project `templates/` directory):

- email: `emails/<event>.subject.txt`, `emails/<event>.txt` (plain) and `emails/<event>.html`
  (extends `emails/base.html`, which shows `settings.COMPANY`). An event without its own HTML
  gets the plain text inside the same layout (`emails/_plain.html`).
- sms: `sms/<event>.txt` (short, GSM characters, <= 160 where practical); without one, the plain
  email text cut to 160 characters.
- ops: `ops/<event>.txt`, else a generic text (`ops/_generic.txt`: title, message, fields). The
  title is the email subject when the event has one, else `context["title"]`, else the event name.
  Ops events also go to the ops mailbox: their email templates are used when present, else the
  ops text in the generic `emails/_ops.*` layout.

Text templates are rendered without HTML escaping; HTML with it. Every render gets `COMPANY` and
`SITE_URL` in its context.

Storage decision: the HTML is rendered once, at `notify()` time from the live context, and kept on
the log row (`NotificationLog.html_body`) next to the text `body`; the send task sends exactly what
was stored and never re-renders (the stored JSON context has lost types, and a resend must show
what the customer was first sent).

An event with no templates at all, or a context missing a key `EVENTS` requires, raises at once:
that is a developer mistake, found by tests, not a delivery problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.template import Context, TemplateDoesNotExist, engines

from circletel.errors import ApplicationError
from notifications.events import EVENTS

SMS_MAX = 160


class NotificationRenderError(ApplicationError):
    """Rendering a notification failed because of how it was called (a developer mistake)."""


class UnknownEventError(NotificationRenderError):
    pass


class MissingContextError(NotificationRenderError):
    pass


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    html: str = ""


def _engine():
    return engines["django"].engine


def _find(name: str):
    try:
        return _engine().get_template(name)
    except TemplateDoesNotExist:
        return None


def _render(template, context: dict, *, html: bool) -> str:
    return template.render(Context(context, autoescape=html))


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def truncate_sms(text: str, limit: int = SMS_MAX) -> str:
    text = _one_line(text)
    if len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def validate_context(event: str, context: dict) -> None:
    spec = EVENTS.get(event)
    if spec is None:
        return
    missing = [key for key in spec.required if key not in context]
    if missing:
        raise MissingContextError(
            f"notification {event!r} needs context keys {missing} (see notifications/events.py)",
            {"event": event, "missing": missing},
        )


def _base_context(event: str, context: dict) -> dict:
    return {**context, "COMPANY": settings.COMPANY, "SITE_URL": settings.SITE_URL, "event": event}


def _humanize(event: str) -> str:
    return event.replace("_", " ").capitalize()


def _email_parts(event: str, ctx: dict) -> RenderedMessage | None:
    subject_t = _find(f"emails/{event}.subject.txt")
    text_t = _find(f"emails/{event}.txt")
    if subject_t is None or text_t is None:
        return None
    subject = _one_line(_render(subject_t, ctx, html=False))
    text = _tidy_text(_render(text_t, ctx, html=False))
    html_t = _find(f"emails/{event}.html")
    if html_t is not None:
        html = _render(html_t, ctx, html=True)
    else:
        html = _render(_engine().get_template("emails/_plain.html"), {**ctx, "subject": subject, "text": text},
                       html=True)
    return RenderedMessage(subject=subject, body=text, html=html.strip())


def _ops_parts(event: str, ctx: dict) -> RenderedMessage:
    subject_t = _find(f"emails/{event}.subject.txt")
    if subject_t is not None:
        title = _one_line(_render(subject_t, ctx, html=False))
    else:
        title = _one_line(str(ctx.get("title") or _humanize(event)))
    body_t = _find(f"ops/{event}.txt") or _engine().get_template("ops/_generic.txt")
    body = _tidy_text(_render(body_t, {**ctx, "title": title}, html=False))
    return RenderedMessage(subject=title, body=body)


def render(*, event: str, channel: str, context: dict, audience: str | None = None) -> RenderedMessage:
    """Subject, text body and (email only) HTML for `event` on `channel`.

    `audience` is "customer" or "ops"; it defaults from EVENTS ("customer" for unlisted events).
    `notify_ops` passes "ops" so an unlisted ops event still reaches the ops mailbox generically.
    """
    spec = EVENTS.get(event)
    audience = audience or (spec.audience if spec else "customer")
    validate_context(event, context)
    ctx = _base_context(event, context)

    if channel == "email":
        message = _email_parts(event, ctx)
        if message is not None:
            return message
        if audience == "ops":
            ops = _ops_parts(event, ctx)
            octx = {**ctx, "title": ops.subject, "text": ops.body}
            subject = _one_line(_render(_engine().get_template("emails/_ops.subject.txt"), octx, html=False))
            html = _render(_engine().get_template("emails/_ops.html"), octx, html=True)
            return RenderedMessage(subject=subject, body=ops.body, html=html.strip())
        raise UnknownEventError(
            f"no email templates for notification event {event!r}: add templates/emails/{event}.subject.txt "
            f"and {event}.txt (and .html)" + ("" if spec else ", and list it in notifications/events.py"),
            {"event": event},
        )

    if channel == "sms":
        sms_t = _find(f"sms/{event}.txt")
        if sms_t is not None:
            return RenderedMessage(subject="", body=_one_line(_render(sms_t, ctx, html=False)))
        email = _email_parts(event, ctx)
        if email is None:
            raise UnknownEventError(f"no SMS or email templates for notification event {event!r}", {"event": event})
        return RenderedMessage(subject="", body=truncate_sms(email.body))

    if channel == "ops":
        return _ops_parts(event, ctx)

    raise NotificationRenderError(f"unknown notification channel {channel!r}", {"channel": channel})


def render_message(*, event: str, channel: str, context: dict) -> tuple[str, str]:
    """(subject, body) for `event` on `channel`; see `render` for the HTML of an email."""
    message = render(event=event, channel=channel, context=context)
    return message.subject, message.body
