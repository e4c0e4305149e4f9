"""ZOHO's subscription starts at the first billing date after activation exactly as our billing counts
it (billing day 30 falls on 28/29 February), so ZOHO never bills the pro-rata period again."""

from datetime import date, timedelta

from billing.proration import billing_period
from zoho_sync.services.mappers import first_zoho_billing_date


def test_the_zoho_anchor_is_our_next_billing_date_for_every_day_and_billing_day():
    day = date(2027, 1, 1)
    while day < date(2029, 1, 1):  # two years, the leap day of 2028 included
        for billing_day in (1, 5, 25, 30):
            assert first_zoho_billing_date(day, billing_day) == billing_period(day, billing_day)[1], (day, billing_day)
        day += timedelta(days=1)
    assert first_zoho_billing_date(date(2028, 1, 31), 30) == date(2028, 2, 29)
    assert first_zoho_billing_date(date(2027, 3, 31), 30) == date(2027, 4, 30)
