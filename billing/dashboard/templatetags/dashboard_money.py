"""`zar`: Decimal -> "R 1,234.50" (negative: "-R 1,234.50"); half-up to cents, never float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


def format_zar(value) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}R {abs(amount):,.2f}"


@register.filter
def zar(value) -> str:
    return format_zar(value)


@register.filter
def gb(mb) -> str:
    """Megabytes -> "12.34 GB"."""
    if mb is None:
        return ""
    return f"{(Decimal(str(mb)) / Decimal(1024)).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f} GB"
