"""One mapping from provider errors (Stripe, PayPal, NetCash) to our error codes and the words a
customer sees.

    info = classify(exc)                    # a circletel.http.ProviderError
    info = classify_stripe_error(payment_intent.last_payment_error)   # a webhook's decline
    info = classify_netcash_reason(notify.reason)                     # a Pay Now decline
    info.code, info.message, info.retryable, info.raw

`message` is ours and fixed per code: it never contains provider text, ids or secrets. `raw` is
the provider's own text (code, decline code, message), kept for staff on the payment
(`failure_reason` / `raw_response`), never rendered to the customer. `retryable` tells callers (and
`circletel.http.with_retries`) whether trying the same request again can succeed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from circletel.http import ProviderError, RateLimitedError, RetryableProviderError, with_retries

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderErrorInfo:
    code: str
    message: str
    retryable: bool
    raw: str = ""

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


MESSAGES: dict[str, tuple[str, bool]] = {
    "card_declined": ("Your card was declined. Please use another card or payment method.", False),
    "insufficient_funds": ("Your card has insufficient funds. Please use another card or payment method.", False),
    "expired_card": ("Your card has expired. Please update your card details.", False),
    "incorrect_card_details": ("Some card details are incorrect. Please check them and try again.", False),
    "authentication_required": ("Your bank needs you to confirm this payment. Please complete the "
                                "verification step and try again.", False),
    "authentication_failed": ("Your bank could not verify this payment, so no money was taken. Please try again "
                              "or use another card.", False),
    "rate_limited": ("We are receiving too many requests right now. Please try again in a minute.", True),
    "provider_unavailable": ("The payment provider is not responding right now. Please try again shortly; "
                             "you have not been charged.", True),
    "payment_rejected": ("The payment could not be processed. Please try another payment method or contact us.",
                         False),
}

# Stripe `code` / `decline_code` values -> our code (docs.stripe.com/declines/codes; unknown ones
# fall back to card_declined).
_STRIPE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_card_details",
    "incorrect_number": "incorrect_card_details",
    "invalid_expiry_month": "incorrect_card_details",
    "invalid_expiry_year": "incorrect_card_details",
    "invalid_cvc": "incorrect_card_details",
    "authentication_required": "authentication_required",
    "authentication_not_handled": "authentication_required",
    "payment_intent_authentication_failure": "authentication_failed",  # the 3-D Secure step was failed
    "card_declined": "card_declined",
    "generic_decline": "card_declined",
    "do_not_honor": "card_declined",
    "lost_card": "card_declined",
    "stolen_card": "card_declined",
    "fraudulent": "card_declined",
    "rate_limit": "rate_limited",
}

# PayPal issue names (Orders v2 error `details[].issue`).
_PAYPAL_ISSUES = {
    "INSTRUMENT_DECLINED": "card_declined",
    "PAYER_ACTION_REQUIRED": "authentication_required",
    "CARD_EXPIRED": "expired_card",
    "TRANSACTION_REFUSED": "payment_rejected",
}


def info_for(code: str, *, raw: str = "") -> ProviderErrorInfo:
    message, retryable = MESSAGES.get(code, MESSAGES["payment_rejected"])
    return ProviderErrorInfo(code=code if code in MESSAGES else "payment_rejected", message=message,
                             retryable=retryable, raw=raw[:2000])


def classify_stripe_error(error: dict | None) -> ProviderErrorInfo:
    """A Stripe error object (`last_payment_error` or the `error` of an API error body)."""
    error = error or {}
    raw = " ".join(f"{k}={error.get(k)}" for k in ("type", "code", "decline_code", "message") if error.get(k))
    for key in ("decline_code", "code"):
        mapped = _STRIPE_CODES.get(error.get(key) or "")
        if mapped:
            return info_for(mapped, raw=raw)
    if error.get("type") == "card_error":
        return info_for("card_declined", raw=raw)
    return info_for("payment_rejected", raw=raw)


# NetCash Pay Now declines carry free text in `Reason` (CONTRACTS 2.1 gives no code list), so the
# mapping reads keywords; anything else is a plain decline.
_NETCASH_KEYWORDS = (
    ("insufficient", "insufficient_funds"),
    ("expired", "expired_card"),
    ("3d", "authentication_required"),
    ("authenticat", "authentication_required"),
    ("cvv", "incorrect_card_details"),
    ("cvc", "incorrect_card_details"),
    ("invalid card", "incorrect_card_details"),
)


def classify_netcash_reason(reason: str | None) -> ProviderErrorInfo:
    """A NetCash Pay Now decline (`Reason`): our code and message; the text itself stays in `raw`."""
    text = (reason or "").strip()
    lowered = text.lower()
    for keyword, code in _NETCASH_KEYWORDS:
        if keyword in lowered:
            return info_for(code, raw=text)
    return info_for("card_declined", raw=text or "Declined")


def _paypal_issue(body: dict) -> str:
    for detail in body.get("details") or []:
        mapped = _PAYPAL_ISSUES.get(detail.get("issue") or "")
        if mapped:
            return mapped
    return ""


def classify(exc: Exception) -> ProviderErrorInfo:
    """Our error for any provider exception (typed `circletel.http` errors; anything else is a
    provider outage from the customer's point of view)."""
    if isinstance(exc, RateLimitedError):
        return info_for("rate_limited", raw=getattr(exc, "raw", ""))
    if isinstance(exc, RetryableProviderError):
        return info_for("provider_unavailable", raw=f"{exc.message} {exc.raw}".strip())
    if isinstance(exc, ProviderError):
        try:
            body = json.loads(exc.raw) if exc.raw else {}
        except ValueError:
            body = {}
        if exc.provider == "stripe" and isinstance(body.get("error"), dict):
            return classify_stripe_error(body["error"])
        if exc.provider == "stripe" and exc.code:
            return classify_stripe_error({"code": exc.code, "message": exc.message})
        if exc.provider == "paypal" and isinstance(body, dict):
            issue = _paypal_issue(body)
            if issue:
                return info_for(issue, raw=exc.raw)
        return info_for("payment_rejected", raw=f"{exc.message} {exc.raw}".strip())
    return info_for("provider_unavailable", raw=f"{type(exc).__name__}: {exc}")


# --- retries: the mapping's `retryable` flag decides ---------------------------------------------------
def retry_policy() -> dict:
    """`with_retries` arguments from `settings.PROVIDER_RETRY` (`ATTEMPTS`, `BASE_SECONDS`,
    `CAP_SECONDS`, `BUDGET_SECONDS`). Payment calls run inside a customer's request, so no retry
    starts once the budget has passed: a provider that timed out (20 s) is not asked again, and a
    web worker is not held past gunicorn's 30 s timeout."""
    cfg = getattr(settings, "PROVIDER_RETRY", None) or {}
    seconds = {"base": ("BASE_SECONDS", 0.5), "cap": ("CAP_SECONDS", 5), "max_seconds": ("BUDGET_SECONDS", 8)}
    policy = {name: float(cfg.get(key, default)) for name, (key, default) in seconds.items()}  # not money
    return {"attempts": max(1, int(cfg.get("ATTEMPTS", 3))), **policy}


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and classify(exc).retryable


def with_provider_retries(call: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
    """Run a payment-provider call that is safe to repeat (a read, or a write carrying an
    idempotency key), again while the mapping says another try can succeed."""
    return with_retries(call, retry_if=is_retryable, sleep=sleep, **retry_policy())
