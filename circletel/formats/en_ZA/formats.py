"""South African English display formats (Django has none for en_ZA, so it fell back to US English:
"Nov. 23, 2026, 4:54 p.m."). Dates read "23 Nov 2026" and times use the 24-hour clock, as on the
customer pages and in emails. Typed dates are ISO or day-first."""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
# Typed dates: ISO first (what date pickers send), then the South African day-first forms; never
# the US month-first ones Django's English defaults would accept.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d/%m/%y", "%d %b %Y", "%d %B %Y"]
