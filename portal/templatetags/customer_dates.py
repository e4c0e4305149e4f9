"""How customer pages write periods and invoice states, one way everywhere (`{% load customer_dates %}`).

Periods are stored half-open, [start, end): an invoice's `period_end` (and a billing cycle's end)
is the next billing date, the first day *not* covered. Customers read the last day covered, so
`{% period start end %}` prints "1-31 Dec 2026" for [1 Dec, 1 Jan). `inclusive=True` is for
ends that are already the last day (`usage.selectors.UsageSummary.cycle_end`).

An invoice past its due date with money still due reads "Overdue" as soon as the date passes,
whether or not the nightly dunning run has moved its stored status yet (`invoice_state`).
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from billing.services.invoices import date_span

register = template.Library()


def period_text(start: dt.date | None, end: dt.date | None, *, inclusive: bool = False, year: bool = True) -> str:
    """"1-31 Dec 2026", "25 Nov - 24 Dec 2026", "15 Dec 2026 - 14 Jan 2027"; one day: "1 Dec 2026".
    `end` is exclusive unless `inclusive`. The same words as the invoice lines
    (`billing.services.invoices.date_span`), so a period reads alike on the line and around it;
    `year=False` drops the year when both ends are in the same year (a cycle heading)."""
    if start is None or end is None:
        return ""
    last = end if inclusive else end - dt.timedelta(days=1)
    last = max(last, start)  # an empty period: show the day it starts
    text = date_span(start, last)
    if not year and start.year == last.year:
        text = text.replace(f" {last.year}", "")
    return text


@register.simple_tag
def period(start, end, inclusive=False, year=True):
    """`{% period invoice.period_start invoice.period_end %}` (stored exclusive end) -> "1-31 Dec 2026"."""
    return period_text(start, end, inclusive=inclusive, year=year)


@register.filter
def last_day(end):
    """The last day of a period from its stored (exclusive) end."""
    return end - dt.timedelta(days=1) if end else end


def invoice_is_overdue(invoice, today: dt.date | None = None) -> bool:
    """Open, money still due and the due date has passed (in Johannesburg)."""
    today = today or timezone.localdate()
    return (invoice.status in invoice.OPEN_STATUSES and invoice.amount_due > 0 and invoice.due_date is not None
            and invoice.due_date < today)


@register.filter
def invoice_state(invoice) -> str:
    """The status value a customer page shows: "overdue" once past due and unpaid, else the stored one."""
    return "overdue" if invoice_is_overdue(invoice) else invoice.status


@register.filter
def invoice_state_label(invoice) -> str:
    return "Overdue" if invoice_is_overdue(invoice) else invoice.get_status_display()
