"""Billing periods and pro-rata charges. Pure functions: no ORM, no clock, easy to property-test.

A billing period is the half-open interval [start, end) between two consecutive billing dates.
Billing day 30 (or any day past a month's end) falls on that month's last day, so a service billed
on the 30th is billed on 28/29 February. For activation on date A in [P, N):

    charge = monthly_price * (N - A).days / (N - P).days, rounded half-up to cents once.

Activation on a billing date charges a full month. The invoice run and the dashboard's "next
invoice" preview call these same functions.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

BILLING_DAYS = (1, 5, 25, 30)
CENT = Decimal("0.01")


def _check_day(billing_day: int) -> None:
    if billing_day not in BILLING_DAYS:
        raise ValueError(f"billing day must be one of {BILLING_DAYS}, not {billing_day!r}")


def _check_price(price: Decimal) -> None:
    if not isinstance(price, Decimal):
        raise TypeError("prices must be Decimal")
    if price < 0:
        raise ValueError(f"price cannot be negative: {price}")


def money(value: Decimal) -> Decimal:
    """Round once, half-up, to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def billing_date_in(year: int, month: int, billing_day: int) -> date:
    """The billing date in a given month (clamped to the month's last day)."""
    _check_day(billing_day)
    return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def billing_period(on: date, billing_day: int) -> tuple[date, date]:
    """The period [start, end) containing `on`; `start` is the latest billing date <= `on`."""
    _check_day(billing_day)
    this_month = billing_date_in(on.year, on.month, billing_day)
    if this_month <= on:
        y, m = _shift_month(on.year, on.month, 1)
        return this_month, billing_date_in(y, m, billing_day)
    y, m = _shift_month(on.year, on.month, -1)
    return billing_date_in(y, m, billing_day), this_month


def next_billing_date(after: date, billing_day: int) -> date:
    """The first billing date strictly after `after`."""
    return billing_period(after, billing_day)[1]


def period_after(start: date, billing_day: int) -> tuple[date, date]:
    """The period that begins at billing date `start` (the one the invoice run bills next)."""
    return billing_period(start, billing_day)


@dataclass(frozen=True)
class ProrataExplanation:
    """Everything an invoice line needs to explain a pro-rated amount."""

    monthly_price: Decimal
    period_start: date
    period_end: date
    days_charged: int
    days_in_period: int
    unrounded: Decimal
    amount: Decimal

    @property
    def is_full_period(self) -> bool:
        return self.days_charged == self.days_in_period

    def describe(self) -> str:
        """`17 of 31 days`: the customer's wording. Money stays in the line's amount columns, and the
        unrounded amount on the line row (staff see it in the admin), not in the text."""
        return f"{self.days_charged} of {self.days_in_period} days"


def prorata_days(monthly_price: Decimal, days_charged: int, days_in_period: int) -> tuple[Decimal, Decimal]:
    """(unrounded, rounded) charge for `days_charged` of a `days_in_period`-day period."""
    _check_price(monthly_price)
    if days_in_period <= 0 or not 0 <= days_charged <= days_in_period:
        raise ValueError(f"days charged {days_charged} must be within 0..{days_in_period}")
    if days_charged == days_in_period:
        return monthly_price, money(monthly_price)
    unrounded = monthly_price * days_charged / days_in_period
    return unrounded, money(unrounded)


def explain_prorata(monthly_price: Decimal, activation: date, billing_day: int,
                    skipped_days: int = 0) -> ProrataExplanation:
    """The charge from `activation` to the end of its period, less `skipped_days` not billed."""
    _check_price(monthly_price)
    start, end = billing_period(activation, billing_day)
    days_in_period = (end - start).days
    days_charged = (end - activation).days - skipped_days
    unrounded, amount = prorata_days(monthly_price, days_charged, days_in_period)
    return ProrataExplanation(monthly_price=monthly_price, period_start=activation, period_end=end,
                              days_charged=days_charged, days_in_period=days_in_period,
                              unrounded=unrounded, amount=amount)


def prorata(monthly_price: Decimal, activation: date, billing_day: int) -> Decimal:
    """`monthly_price * (end - activation).days / (end - start).days`, rounded half-up to cents."""
    return explain_prorata(monthly_price, activation, billing_day).amount


def overlap_days(a_start: date, a_end: date, b_start: date, b_end: date | None) -> int:
    """Days shared by [a_start, a_end) and [b_start, b_end) (b_end None = still open)."""
    lo = max(a_start, b_start)
    hi = a_end if b_end is None else min(a_end, b_end)
    return max(0, (hi - lo).days)
