"""VAT per invoice (South Africa, 15%), rounded once, half-up.

Prices are entered the way the customer sees them:
- inclusive (personal accounts): VAT = total x 15/115, rounded once; subtotal = total - VAT;
- exclusive (business accounts): VAT = subtotal x 15%, rounded once; total = subtotal + VAT.
Always total = subtotal + VAT, so R 899.00 inclusive invoices exactly R 899.00 (781.74 + 117.26).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

VAT_RATE = Decimal("0.15")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class VatBreakdown:
    subtotal: Decimal
    vat: Decimal
    total: Decimal


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def vat_breakdown(amount: Decimal, *, prices_include_vat: bool, rate: Decimal = VAT_RATE) -> VatBreakdown:
    """Split the sum of an invoice's line amounts into subtotal, VAT and total."""
    if not isinstance(amount, Decimal):
        raise TypeError("amounts must be Decimal")
    if amount != amount.quantize(CENT):
        raise ValueError(f"line amounts are whole cents: {amount}")
    if prices_include_vat:
        vat = _round(amount * rate / (1 + rate))
        return VatBreakdown(subtotal=amount - vat, vat=vat, total=amount)
    vat = _round(amount * rate)
    return VatBreakdown(subtotal=amount, vat=vat, total=amount + vat)
