"""Formatting filters for notification templates: `{% load notify_format %}`.

Contexts are rendered live at `notify()` time (real `date`s) but may also hold ISO strings
(a caller passing JSON-ish values), so `longdate` accepts both.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.dateformat import format as date_format

register = template.Library()


def _as_date(value):
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, str) and value:
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return None


@register.filter(name="longdate")
def longdate(value) -> str:
    """5 December 2026 (a date, datetime or ISO string); anything else as given."""
    parsed = _as_date(value)
    if parsed is None:
        return "" if value is None else str(value)
    return date_format(parsed, "j F Y")


@register.filter(name="items_list")
def items_list(value):
    """(key, value) pairs of a dict for `{% for k, v in fields|items_list %}`; a list of pairs passes."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list | tuple):
        return [tuple(p) if isinstance(p, list | tuple) and len(p) == 2 else (str(p), "") for p in value]
    return []


@register.filter(name="sms_cut")
def sms_cut(value, limit) -> str:
    """Cut to `limit` characters with "..." (plain GSM characters, unlike `truncatechars`' ellipsis)."""
    text = " ".join(str(value or "").split())
    limit = int(limit)
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


@register.filter(name="day_before")
def day_before(value):
    """The day before a date (an exclusive period end shown as the last day included)."""
    parsed = _as_date(value)
    if parsed is None:
        return value
    return parsed - dt.timedelta(days=1)
