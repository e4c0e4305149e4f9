from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.proration import (
    billing_period,
    explain_prorata,
    next_billing_date,
    overlap_days,
    prorata,
    prorata_days,
)

D = Decimal


@pytest.mark.parametrize(
    ("on", "day", "start", "end"),
    [
        # 31-day month, each billing day
        (date(2026, 1, 15), 1, date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 1, 15), 5, date(2026, 1, 5), date(2026, 2, 5)),
        (date(2026, 1, 15), 25, date(2025, 12, 25), date(2026, 1, 25)),
        (date(2026, 1, 15), 30, date(2025, 12, 30), date(2026, 1, 30)),
        (date(2026, 1, 31), 30, date(2026, 1, 30), date(2026, 2, 28)),
        # 28-day February (2026) and 29-day February (2028 leap year): the 30th is the month's last day
        (date(2026, 2, 28), 30, date(2026, 2, 28), date(2026, 3, 30)),
        (date(2026, 2, 27), 30, date(2026, 1, 30), date(2026, 2, 28)),
        (date(2028, 2, 29), 30, date(2028, 2, 29), date(2028, 3, 30)),
        (date(2028, 2, 28), 30, date(2028, 1, 30), date(2028, 2, 29)),
        (date(2028, 2, 10), 1, date(2028, 2, 1), date(2028, 3, 1)),
        (date(2028, 2, 25), 25, date(2028, 2, 25), date(2028, 3, 25)),
        (date(2100, 2, 28), 30, date(2100, 2, 28), date(2100, 3, 30)),  # 2100 is not a leap year
        # 30-day month
        (date(2026, 4, 30), 30, date(2026, 4, 30), date(2026, 5, 30)),
        (date(2026, 4, 4), 5, date(2026, 3, 5), date(2026, 4, 5)),
        # year boundary
        (date(2026, 12, 31), 1, date(2026, 12, 1), date(2027, 1, 1)),
        (date(2027, 1, 2), 5, date(2026, 12, 5), date(2027, 1, 5)),
    ],
)
def test_billing_period_month_ends(on, day, start, end):
    assert billing_period(on, day) == (start, end)
    assert next_billing_date(on, day) == end


@pytest.mark.parametrize(
    ("price", "activation", "day", "expected", "days"),
    [
        (D("499.00"), date(2026, 1, 15), 1, D("273.65"), (17, 31)),  # 499 * 17/31 = 273.645.. (half-up)
        (D("899.00"), date(2026, 2, 15), 1, D("449.50"), (14, 28)),
        (D("899.00"), date(2028, 2, 15), 1, D("465.00"), (15, 29)),  # leap February: 899 * 15/29 = 465 exactly
        (D("699.00"), date(2026, 4, 20), 25, D("112.74"), (5, 31)),  # [25 Mar, 25 Apr)
        (D("699.00"), date(2026, 2, 1), 30, D("650.79"), (27, 29)),  # [30 Jan, 28 Feb): 699 * 27/29 = 650.793
        (D("499.00"), date(2026, 3, 5), 5, D("499.00"), (31, 31)),  # on a billing date: a full month
        (D("499.00"), date(2026, 2, 28), 30, D("499.00"), (30, 30)),  # 28 Feb is the 30th's billing date
        (D("0.00"), date(2026, 6, 3), 1, D("0.00"), (28, 30)),
    ],
)
def test_prorata_table(price, activation, day, expected, days):
    explanation = explain_prorata(price, activation, day)
    assert prorata(price, activation, day) == expected
    assert explanation.amount == expected
    assert (explanation.days_charged, explanation.days_in_period) == days
    assert explanation.period_start == activation


def test_explanation_describes_the_line_and_keeps_the_unrounded_amount():
    e = explain_prorata(D("499.00"), date(2026, 1, 15), 1)
    assert e.describe() == "17 of 31 days"
    assert e.unrounded == D("499.00") * 17 / 31
    assert e.period_end == date(2026, 2, 1)


@pytest.mark.parametrize("day", [0, 2, 15, 29, 31, -1])
def test_rejects_billing_days_outside_the_allowed_set(day):
    with pytest.raises(ValueError, match="billing day"):
        prorata(D("100.00"), date(2026, 1, 1), day)
    with pytest.raises(ValueError):
        billing_period(date(2026, 1, 1), day)


def test_rejects_negative_price():
    with pytest.raises(ValueError, match="negative"):
        prorata(D("-0.01"), date(2026, 1, 1), 1)


def test_overlap_days():
    assert overlap_days(date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 10), date(2026, 1, 20)) == 10
    assert overlap_days(date(2026, 1, 1), date(2026, 2, 1), date(2025, 12, 1), None) == 31
    assert overlap_days(date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), None) == 0


prices = st.decimals(min_value=D("0.00"), max_value=D("100000.00"), places=2)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
days = st.sampled_from([1, 5, 25, 30])


@given(prices, dates, days)
def test_prorata_is_between_zero_and_the_price(price, on, day):
    assert D("0") <= prorata(price, on, day) <= price


@given(prices, dates, days, st.integers(min_value=0, max_value=31))
def test_splitting_a_period_gives_pieces_summing_to_the_price_within_a_cent(price, on, day, offset):
    start, end = billing_period(on, day)
    n = (end - start).days
    split = start + timedelta(days=offset % (n + 1))
    _, first = prorata_days(price, (split - start).days, n)
    _, second = prorata_days(price, (end - split).days, n)
    assert abs(first + second - price) <= D("0.01")
    if split < end:
        assert second == prorata(price, split, day)


@given(dates, days)
def test_period_contains_its_date_and_is_28_to_31_days(on, day):
    start, end = billing_period(on, day)
    assert start <= on < end
    assert 28 <= (end - start).days <= 31
    assert billing_period(end, day)[0] == end
