"""The one money format and the one wording of payment methods.

The money format: `format_zar(Decimal("1234.5"))` -> "R 1,234.50" (ZAR, two places, half-up,
comma thousands; negative as "-R 20.00"). Emails, pages (the `zar` filter), PDFs and messages use it.
`payment_method_words("debit_order")` -> "debit order" (the `payment_method` filter)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENTS = Decimal("0.01")


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


def format_money(value, currency: str = "ZAR") -> str:
    """An amount in its own currency: "R 1,500.00" for rands (the house format), else "USD 80.00"."""
    code = (currency or "ZAR").upper()
    if code == "ZAR":
        return format_zar(value)
    amount = to_decimal(value)
    if amount is None or not amount.is_finite():
        return "" if value in (None, "") else str(value)
    return f"{code} {amount.quantize(CENTS, rounding=ROUND_HALF_UP):,.2f}"


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


def payment_method_words(code) -> str:
    """A payment method code in words, lower case ("debit_order" -> "debit order")."""
    if code in (None, ""):
        return ""
    key = str(code).strip().lower()
    return PAYMENT_METHOD_WORDS.get(key, key.replace("_", " "))
