"""Dashboard filters: `zar` (the one money format, circletel.money), `zar_abs` and `gb`."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

from circletel.money import format_zar

register = template.Library()


@register.filter
def zar(value) -> str:
    return format_zar(value)


@register.filter
def zar_abs(value) -> str:
    """The amount without its sign, for "R 20.00 credit" (never "-R 20.00 credit")."""
    from circletel.money import to_decimal

    amount = to_decimal(value)
    return format_zar(abs(amount) if amount is not None else value)


@register.filter
def gb(mb) -> str:
    """Megabytes -> "12.34 GB"."""
    if mb is None:
        return ""
    return f"{(Decimal(str(mb)) / Decimal(1024)).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f} GB"
