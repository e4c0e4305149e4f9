"""What PayPal is asked to charge for an amount of ours: the one place that decides currency and amount.

PayPal takes no ZAR (CONTRACTS 4 "Currency (2026-12)"; developer.paypal.com/reference/currency-codes,
listed in `payments.clients.paypal.CURRENCIES`). So:

- an amount already in a PayPal currency (a listing priced in USD) is sent as it is;
- a ZAR amount (every invoice) is converted into `PAYPAL_CURRENCY` at `PAYPAL_ZAR_RATE` (rands per one
  unit of that currency, a decimal string such as "18.50"), rounded half-up to the currency's places;
  the quote (currency, rate, converted amount, our ZAR amount) is recorded on the payment BEFORE the
  order is created and shown to the payer before approval;
- anything else (no valid rate, `PAYPAL_CURRENCY` itself not a PayPal currency) is `PayPalUnavailable`:
  PayPal is not offered. Nothing here ever hands ZAR to the client, and the client refuses it anyway.

Our ledger stays in ZAR: the invoice is credited with `source_amount`, never the converted figure. A
capture is accepted only in the quote's currency and for the quote's amount (`quote_matches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

from payments.clients import paypal as paypal_client
from payments.errors import PaymentError

LEDGER_CURRENCY = "ZAR"
CENT = Decimal("0.01")


class PayPalUnavailable(PaymentError):
    """PayPal cannot be offered for this amount (its currency is not PayPal's and no valid conversion
    is configured). A 400 with the reason; nothing was sent to PayPal."""

    status_code = 400


@dataclass(frozen=True)
class PayPalQuote:
    """What PayPal is asked for (`currency`, `amount`) against our amount (`source_currency`,
    `source_amount`). `rate` is rands per one unit of `currency` when converted, else None."""

    currency: str
    amount: Decimal
    source_currency: str
    source_amount: Decimal
    rate: Decimal | None = None

    @property
    def converted(self) -> bool:
        return self.rate is not None

    def as_record(self) -> dict:
        """The JSON kept on the payment's `raw_response["paypal_quote"]` (strings: exact decimals)."""
        return {"currency": self.currency, "amount": str(self.amount), "source_currency": self.source_currency,
                "source_amount": str(self.source_amount), "rate": str(self.rate) if self.rate is not None else None}

    def describe(self) -> str:
        """The words the payer reads before approving, e.g. "R 499.00 is charged as USD 26.97 through
        PayPal (R 18.50 = USD 1)"."""
        if not self.converted:
            return f"{self.currency} {self.amount} through PayPal"
        return (f"R {self.source_amount} is charged as {self.currency} {self.amount} through PayPal "
                f"(R {self.rate} = {self.currency} 1)")

    def for_payer(self) -> dict:
        return {"currency": self.currency, "amount": str(self.amount), "amount_zar": str(self.source_amount)
                if self.source_currency == LEDGER_CURRENCY else None,
                "rate": str(self.rate) if self.rate is not None else None, "text": self.describe()}


def _places(currency: str) -> Decimal:
    return Decimal("1") if currency in paypal_client.ZERO_DECIMAL_CURRENCIES else CENT


def configured_currency() -> str:
    return (settings.PAYPAL.get("CURRENCY") or "").strip().upper()


def configured_rate() -> Decimal | None:
    """`PAYPAL_ZAR_RATE` as a Decimal, or None when missing or not a positive finite number."""
    raw = str(settings.PAYPAL.get("ZAR_RATE") or "").strip()
    try:
        rate = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None
    return rate if rate.is_finite() and rate > 0 else None


def configuration_problems() -> list[str]:
    """What is wrong with the PayPal currency settings (the deploy check `payments.E001` reports these
    when PayPal is enabled)."""
    problems = []
    currency = configured_currency()
    if currency == LEDGER_CURRENCY:
        problems.append("PAYPAL_CURRENCY=ZAR: PayPal takes no ZAR, every order would be refused.")
    elif not paypal_client.supports_currency(currency):
        problems.append(f"PAYPAL_CURRENCY={currency or '(empty)'} is not a currency PayPal takes "
                        f"({', '.join(sorted(paypal_client.CURRENCIES))}).")
    if configured_rate() is None:
        problems.append(f"PAYPAL_ZAR_RATE={settings.PAYPAL.get('ZAR_RATE') or '(empty)'!s} is not a positive "
                        "decimal (rands per one unit of PAYPAL_CURRENCY, e.g. 18.50): ZAR amounts cannot be "
                        "converted.")
    return problems


def paypal_quote(*, amount: Decimal, currency: str = LEDGER_CURRENCY) -> PayPalQuote:
    """The PayPal currency and amount for `amount` in `currency` (the module docstring's rules)."""
    if not isinstance(amount, Decimal):
        raise TypeError("amounts must be Decimal")
    code = (currency or "").strip().upper()
    if paypal_client.supports_currency(code):
        return PayPalQuote(currency=code, amount=amount.quantize(_places(code), rounding=ROUND_HALF_UP),
                           source_currency=code, source_amount=amount)
    if code != LEDGER_CURRENCY:
        raise PayPalUnavailable(f"PayPal is not available for amounts in {code}.", {"currency": code})
    target, rate = configured_currency(), configured_rate()
    if not paypal_client.supports_currency(target) or rate is None:
        raise PayPalUnavailable("PayPal is not available for payments in rand right now.", {"currency": code})
    value = (amount / rate).quantize(_places(target), rounding=ROUND_HALF_UP)
    if value <= 0:
        raise PayPalUnavailable("The amount is too small to pay through PayPal.", {"amount": str(amount)})
    return PayPalQuote(currency=target, amount=value, source_currency=code, source_amount=amount, rate=rate)


def paypal_direct_quote(*, amount: Decimal, currency: str) -> PayPalQuote:
    """For a payment that has nowhere to record a conversion (a reservation deposit): PayPal only for
    an amount already in a PayPal currency (a listing priced in USD). Anything else, ZAR included, is
    `CurrencyNotSupported` (a permanent provider refusal) and nothing is sent."""
    quote = paypal_quote(amount=amount, currency=currency) if paypal_client.supports_currency(currency) else None
    if quote is None or quote.converted:
        raise paypal_client.CurrencyNotSupported((currency or "").upper())
    return quote


def paypal_available_for(*, amount: Decimal, currency: str = LEDGER_CURRENCY) -> bool:
    """Whether PayPal may be offered for this amount (configured, and a quote can be made)."""
    if not paypal_client.is_configured():
        return False
    try:
        paypal_quote(amount=amount, currency=currency)
    except PayPalUnavailable:
        return False
    return True


def quote_from_record(record: dict | None) -> PayPalQuote | None:
    """The quote recorded on a payment (`as_record`), or None for a payment recorded without one."""
    if not isinstance(record, dict) or not record.get("currency"):
        return None
    try:
        return PayPalQuote(currency=record["currency"], amount=Decimal(record["amount"]),
                           source_currency=record["source_currency"], source_amount=Decimal(record["source_amount"]),
                           rate=Decimal(record["rate"]) if record.get("rate") else None)
    except (KeyError, InvalidOperation, TypeError, ValueError):
        return None


def quote_matches(quote: PayPalQuote, *, amount: Decimal | None, currency: str) -> bool:
    """A capture is ours only in the quote's currency and for exactly the quote's amount."""
    return amount is not None and (currency or "").upper() == quote.currency and amount == quote.amount


def zar_conversion_configured() -> bool:
    """`PAYPAL_CURRENCY` is a PayPal currency and `PAYPAL_ZAR_RATE` a valid rate: ZAR can be offered."""
    return paypal_client.supports_currency(configured_currency()) and configured_rate() is not None


def paypal_refund_money(*, raw_response: dict | None, amount: Decimal, currency: str) -> tuple[Decimal, str]:
    """A partial refund of a PayPal payment, `amount` in the payment's `currency` (ZAR), as PayPal must
    be asked for it: converted with the quote recorded on the payment. A payment without a quote is
    passed through unchanged (the client then refuses ZAR, and the refund takes the "refused" path)."""
    quote = quote_from_record((raw_response or {}).get("paypal_quote"))
    if quote is None:
        return amount, currency
    return refund_in_paypal_currency(quote, amount=amount)


def refund_in_paypal_currency(quote: PayPalQuote, *, amount: Decimal) -> tuple[Decimal, str]:
    """A partial refund of `amount` (in our `source_currency`) as PayPal must be asked for it: in the
    capture's currency at the recorded rate, never more than was captured."""
    if not quote.converted:
        return amount, quote.currency
    value = (amount / quote.rate).quantize(_places(quote.currency), rounding=ROUND_HALF_UP)
    return min(value, quote.amount), quote.currency


def ledger_amount(quote: PayPalQuote, *, amount: Decimal, currency: str) -> Decimal | None:
    """An amount PayPal reports against the payment (a refund made in the PayPal dashboard) in our
    ledger currency, at the recorded rate; the whole capture is exactly our `source_amount`. None when
    it is not in the quote's currency."""
    if (currency or "").upper() != quote.currency:
        return None
    if not quote.converted:
        return amount
    if amount >= quote.amount:
        return quote.source_amount
    return min((amount * quote.rate).quantize(CENT, rounding=ROUND_HALF_UP), quote.source_amount)
