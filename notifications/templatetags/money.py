"""Money and wording filters for templates: `{% load money %}` then `{{ amount|zar }}`.

    {{ Decimal("1234.5")|zar }}      -> R 1,234.50
    {% in_currency amount %}         -> USD 150.00 with currency "USD" in the context, else R 150.00
    {{ Decimal("-20")|zar }}         -> -R 20.00
    {{ balance|absolute|zar }}       -> R 20.00 (for "credit of ...")
    {{ "debit_order"|payment_method }} -> debit order
"""

from __future__ import annotations

from django import template

from circletel.money import format_money, format_zar, payment_method_words, to_decimal

register = template.Library()
__all__ = ["format_money", "format_zar", "payment_method_words", "to_decimal", "register"]


@register.filter(name="zar")
def zar(value) -> str:
    return format_zar(value)


@register.simple_tag(takes_context=True)
def in_currency(context, value) -> str:
    """`{% in_currency amount %}`: an amount in the context's `currency` (deposits on a listing priced in
    USD), rands when there is none: `format_money`."""
    return format_money(value, context.get("currency") or "ZAR")


@register.filter(name="absolute")
def absolute(value):
    amount = to_decimal(value)
    return abs(amount) if amount is not None else value


@register.filter(name="payment_method")
def payment_method(value) -> str:
    """A payment method code in words ("debit_order" -> "debit order")."""
    return payment_method_words(value)


@register.filter(name="sign")
def sign(value) -> int:
    """1, 0 or -1 for an amount (templates branch on owed / settled / in credit)."""
    amount = to_decimal(value)
    if amount is None or amount == 0:
        return 0
    return 1 if amount > 0 else -1
