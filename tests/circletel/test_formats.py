"""South African display formats (circletel/formats/en_ZA): day-first dates, 24-hour times."""

from datetime import date, datetime

from django import forms
from django.template import Context, Template
from django.utils import formats


def test_dates_and_times_display_south_african_style():
    assert formats.date_format(date(2026, 11, 23)) == "23 Nov 2026"
    assert formats.date_format(datetime(2026, 11, 23, 16, 54), "DATETIME_FORMAT") == "23 Nov 2026, 16:54"
    rendered = Template("{{ d }} | {{ t }}").render(Context({"d": date(2026, 2, 1), "t": datetime(2026, 2, 1, 9, 5)}))
    assert rendered == "1 Feb 2026 | 1 Feb 2026, 09:05"


def test_typed_dates_are_iso_or_day_first_never_month_first():
    field = forms.DateField()
    assert field.clean("2026-11-23") == date(2026, 11, 23)
    assert field.clean("23/11/2026") == date(2026, 11, 23)
    assert field.clean("03/04/2026") == date(2026, 4, 3)  # 3 April, not 4 March
