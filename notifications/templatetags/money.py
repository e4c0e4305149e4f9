"""Money and wording filters for templates: `{% load money %}` then `{{ amount|zar }}`.

    {{ Decimal("1234.5")|zar }}      -> R 1,234.50
    {{ Decimal("-20")|zar }}         -> -R 20.00
    {{ balance|absolute|zar }}       -> R 20.00 (for "credit of ...")
    {{ "debit_order"|payment_method }} -> debit order
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()

CENTS = Decimal("0.01")

PAYMENT_METHOD_WORDS = {
    "card": "card",
    "debit_order": "debit order",
    "eft": "EFT (bank transfer)",
    "instant_eft": "instant EFT",
    "stripe": "card (Stripe)",
    "paypal": "PayPal",
    "cash": "cash",
    "credit_note": "credit note",
}


def to_decimal(value) -> Decimal | None:
    """Decimal from a Decimal, int or numeric string (as stored in a JSON context); None if not a number."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))  # not money on our side; a caller's float is taken at face value
    try:
        return Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None


def format_zar(value) -> str:
    """"R 1,234.50": ZAR, two places, half-up, comma thousands; negative as "-R 20.00"."""
    amount = to_decimal(value)
    if amount is None or not amount.is_finite():
        return "" if value in (None, "") else str(value)
    amount = amount.quantize(CENTS, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}R {abs(amount):,.2f}"


@register.filter(name="zar")
def zar(value) -> str:
    return format_zar(value)


@register.filter(name="absolute")
def absolute(value):
    amount = to_decimal(value)
    return abs(amount) if amount is not None else value


@register.filter(name="payment_method")
def payment_method(value) -> str:
    """A payment method code in words ("debit_order" -> "debit order")."""
    if value in (None, ""):
        return ""
    key = str(value).strip().lower()
    return PAYMENT_METHOD_WORDS.get(key, key.replace("_", " "))


@register.filter(name="sign")
def sign(value) -> int:
    """1, 0 or -1 for an amount (templates branch on owed / settled / in credit)."""
    amount = to_decimal(value)
    if amount is None or amount == 0:
        return 0
    return 1 if amount > 0 else -1
