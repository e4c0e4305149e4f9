"""Stripe client: a few typed functions over the official `stripe` SDK (no hand-written HTTP).

Settings (`settings.STRIPE`) are read lazily; `API_BASE` may point the SDK at a local fake in tests.
The SDK is given `stripe.RequestsClient`, so tests can also mock it at the HTTP boundary with
`responses`. SDK errors become the shared typed errors from `circletel.http`:
connection errors, 429 and 5xx are retryable, the rest permanent.

Retries: one policy, ours (the SDK's `max_network_retries` stays 0). Calls that are safe to repeat,
reads and the creates that carry an idempotency key derived from our row (a replay returns the
first result, never a second remote object), go through `circletel.http.with_retries` while
`payments.provider_errors.classify(exc).retryable` says another try can succeed (timeouts, 429,
5xx). A POST without our key (attach, detach) runs once: the SDK would give a repeat a fresh
random key, so a call that timed out but happened would happen twice. Attempts and backoff come
from `settings.PROVIDER_RETRY` (`ATTEMPTS`, `BASE_SECONDS`, `CAP_SECONDS`; defaults 3, 0.5, 5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import stripe as stripe_sdk
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import (
    PermanentProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RetryableProviderError,
)
from payments.provider_errors import with_provider_retries

PROVIDER = "stripe"
TIMEOUT_SECONDS = 20  # not money
sleep = time.sleep  # looked up at each wait, so tests can replace it


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str
    payment_status: str
    payment_intent: str | None
    client_reference_id: str | None
    amount_total: int | None
    currency: str | None
    metadata: dict


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int
    payment_intent: str | None


def is_configured() -> bool:
    return bool(settings.STRIPE.get("SECRET_KEY"))


def to_cents(amount: Decimal) -> int:
    """ZAR Decimal -> integer cents (the only place money becomes minor units)."""
    return int((Decimal(amount) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def _client() -> stripe_sdk.StripeClient:
    key = settings.STRIPE.get("SECRET_KEY")
    if not key:
        raise ImproperlyConfigured("STRIPE_SECRET_KEY is not set")
    kwargs = {}
    if settings.STRIPE.get("API_BASE"):
        kwargs["base_addresses"] = {"api": settings.STRIPE["API_BASE"].rstrip("/")}
    return stripe_sdk.StripeClient(key, http_client=stripe_sdk.RequestsClient(timeout=TIMEOUT_SECONDS),
                                   max_network_retries=0, **kwargs)


def _translate(exc: stripe_sdk.StripeError) -> Exception:
    status = getattr(exc, "http_status", None)
    raw = str(getattr(exc, "http_body", "") or "")
    code = getattr(exc, "code", "") or ""
    message = getattr(exc, "user_message", None) or str(exc)
    if isinstance(exc, stripe_sdk.APIConnectionError):
        if "timed out" in str(exc).lower():
            return ProviderTimeoutError("stripe timed out", provider=PROVIDER)
        return RetryableProviderError("stripe could not be reached", provider=PROVIDER)
    if isinstance(exc, stripe_sdk.RateLimitError) or status == 429:
        return RateLimitedError("stripe rate limited the request", provider=PROVIDER, http_status=status, raw=raw)
    if status is None or status >= 500:
        return RetryableProviderError(f"stripe is unavailable ({status})", provider=PROVIDER, http_status=status,
                                      raw=raw, code=code)
    # Stripe's own words (they can quote a masked key or an id) stay in `raw`, for staff.
    return PermanentProviderError(f"stripe rejected the request ({status}{', ' + code if code else ''})",
                                  provider=PROVIDER, http_status=status, raw=raw or message, code=code)


def _once(fn):
    try:
        return fn()
    except stripe_sdk.StripeError as exc:
        raise _translate(exc) from exc


def _call(fn, *, repeatable: bool):
    """Run an SDK call. `repeatable` (a read, or a create with our idempotency key) is retried while
    the error mapping allows; anything else runs exactly once."""
    if not repeatable:
        return _once(fn)
    return with_provider_retries(lambda: _once(fn), sleep=lambda seconds: sleep(seconds))


def _session(obj) -> CheckoutSession:
    obj = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return CheckoutSession(
        id=obj["id"], url=obj.get("url") or "", status=obj.get("status") or "",
        payment_status=obj.get("payment_status") or "", payment_intent=obj.get("payment_intent"),
        client_reference_id=obj.get("client_reference_id"), amount_total=obj.get("amount_total"),
        currency=obj.get("currency"), metadata=dict(obj.get("metadata") or {}),
    )


def checkout_session_create(*, amount: Decimal, currency: str = "ZAR", description: str, reference: str,
                            kind: str, success_url: str, cancel_url: str, customer_email: str | None = None,
                            expires_at: int | None = None, idempotency_key: str) -> CheckoutSession:
    """Create a one-off payment Checkout Session for `amount` (Decimal in rands).

    `reference` is our own id: sent as client_reference_id and in the session's and payment
    intent's metadata (`{"kind": kind, "reference": reference}`) so the webhook finds the row.
    """
    params = {
        "mode": "payment",
        "client_reference_id": reference,
        "line_items": [{
            "quantity": 1,
            "price_data": {"currency": currency.lower(), "unit_amount": to_cents(amount),
                           "product_data": {"name": description[:250]}},
        }],
        "metadata": {"kind": kind, "reference": reference},
        "payment_intent_data": {"metadata": {"kind": kind, "reference": reference}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_email:
        params["customer_email"] = customer_email
    if expires_at:
        params["expires_at"] = expires_at
    obj = _call(lambda: _client().v1.checkout.sessions.create(params=params,
                                                              options={"idempotency_key": idempotency_key}),
                repeatable=True)
    return _session(obj)


def checkout_session_retrieve(session_id: str) -> CheckoutSession:
    return _session(_call(lambda: _client().v1.checkout.sessions.retrieve(session_id), repeatable=True))


def refund_create(*, payment_intent: str, amount: Decimal | None = None, reason: str = "requested_by_customer",
                  metadata: dict | None = None, idempotency_key: str) -> Refund:
    """Refund a payment intent (fully, or `amount` rands)."""
    params: dict = {"payment_intent": payment_intent, "reason": reason, "metadata": metadata or {}}
    if amount is not None:
        params["amount"] = to_cents(amount)
    obj = _call(lambda: _client().v1.refunds.create(params=params, options={"idempotency_key": idempotency_key}),
                repeatable=True)
    obj = obj.to_dict()
    return Refund(id=obj["id"], status=obj.get("status") or "", amount=obj.get("amount") or 0,
                  payment_intent=obj.get("payment_intent"))


# --- payment intents, customers and saved cards ---------------------------------------------------------
@dataclass(frozen=True)
class PaymentIntent:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str
    latest_charge: str | None
    metadata: dict
    last_payment_error: dict | None
    payment_method: str | None


@dataclass(frozen=True)
class CardMethod:
    """A Stripe PaymentMethod reduced to what we keep: brand, last four, expiry (never the PAN)."""

    id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    customer: str | None


def _dict(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _intent(obj) -> PaymentIntent:
    obj = _dict(obj)
    pm = obj.get("payment_method")
    return PaymentIntent(
        id=obj["id"], status=obj.get("status") or "", amount=int(obj.get("amount") or 0),
        currency=(obj.get("currency") or "").upper(), client_secret=obj.get("client_secret") or "",
        latest_charge=obj.get("latest_charge") if isinstance(obj.get("latest_charge"), str | None) else
        (obj.get("latest_charge") or {}).get("id"),
        metadata=dict(obj.get("metadata") or {}), last_payment_error=obj.get("last_payment_error"),
        payment_method=pm if isinstance(pm, str | None) else pm.get("id"),
    )


def _card(obj) -> CardMethod:
    obj = _dict(obj)
    card = obj.get("card") or {}
    customer = obj.get("customer")
    return CardMethod(id=obj["id"], brand=(card.get("brand") or "card"), last4=card.get("last4") or "",
                      exp_month=card.get("exp_month"), exp_year=card.get("exp_year"),
                      customer=customer if isinstance(customer, str | None) else customer.get("id"))


def payment_intent_create(*, amount: Decimal, currency: str = "ZAR", reference: str, invoice_number: str = "",
                          description: str = "", customer: str | None = None, payment_method: str | None = None,
                          confirm: bool = False, return_url: str | None = None, save_card: bool = False,
                          receipt_email: str | None = None, idempotency_key: str) -> PaymentIntent:
    """Create a payment intent for `amount` rands. Metadata carries our reference (the webhook's key).

    With `payment_method` + `confirm` a saved card is charged now, on-session (the customer is on our
    page, so a bank that wants 3-D Secure answers `requires_action` and Stripe.js finishes it with
    `handleNextAction`); `return_url` is where a redirect-based authentication comes back to (Stripe
    requires one when it confirms an intent with automatic payment methods). A decline raises a
    PermanentProviderError whose `raw` holds Stripe's error body.

    `save_card` asks Stripe to keep the card for later (`setup_future_usage=off_session`, the
    PaymentIntent create parameter; docs.stripe.com/payments/save-during-payment) on `customer`, and
    marks our metadata `save_card=1` so the success webhook knows to record it.
    """
    metadata = {"kind": "invoice_payment", "reference": reference, "invoice_number": invoice_number}
    params: dict = {
        "amount": to_cents(amount), "currency": currency.lower(), "metadata": metadata,
        "description": (description or f"CircleTel {invoice_number or reference}")[:250],
        "automatic_payment_methods": {"enabled": True},
    }
    if customer:
        params["customer"] = customer
    if payment_method:
        params["payment_method"] = payment_method
    if confirm:
        params["confirm"] = True
    if return_url:
        params["return_url"] = return_url
    if save_card:
        params["setup_future_usage"] = "off_session"
        metadata["save_card"] = "1"
    if receipt_email:
        params["receipt_email"] = receipt_email
    obj = _call(lambda: _client().v1.payment_intents.create(params=params,
                                                            options={"idempotency_key": idempotency_key}),
                repeatable=True)
    return _intent(obj)


def payment_intent_cancel(payment_intent_id: str, *, reason: str = "abandoned", idempotency_key: str) -> PaymentIntent:
    """`POST /v1/payment_intents/{id}/cancel`: no charge can be made with it afterwards. Stripe allows it
    in requires_payment_method, requires_confirmation, requires_action (and rarely processing) and refuses
    it (400) once the intent succeeded; `reason` is one of abandoned, duplicate, fraudulent,
    requested_by_customer (stripe-python 16.1.0 `_payment_intent_service.py` `cancel`,
    `params/_payment_intent_cancel_params.py`)."""
    params = {"cancellation_reason": reason}
    return _intent(_call(lambda: _client().v1.payment_intents.cancel(
        payment_intent_id, params=params, options={"idempotency_key": idempotency_key}), repeatable=True))


def payment_intent_retrieve(payment_intent_id: str) -> PaymentIntent:
    return _intent(_call(lambda: _client().v1.payment_intents.retrieve(payment_intent_id), repeatable=True))


def customer_create(*, email: str, name: str, reference: str, idempotency_key: str) -> str:
    """Create a Stripe Customer for our customer `reference`; returns its id (cus_...)."""
    params = {"email": email, "name": name[:200], "metadata": {"account_number": reference}}
    obj = _call(lambda: _client().v1.customers.create(params=params, options={"idempotency_key": idempotency_key}),
                repeatable=True)
    return _dict(obj)["id"]


def payment_method_attach(*, payment_method_id: str, customer: str) -> CardMethod:
    return _card(_call(lambda: _client().v1.payment_methods.attach(payment_method_id, params={"customer": customer}),
                       repeatable=False))


def payment_method_retrieve(payment_method_id: str) -> CardMethod:
    """`GET /v1/payment_methods/{id}`: the card's brand, last four and expiry, and its customer."""
    return _card(_call(lambda: _client().v1.payment_methods.retrieve(payment_method_id), repeatable=True))


def payment_method_detach(*, payment_method_id: str) -> CardMethod:
    return _card(_call(lambda: _client().v1.payment_methods.detach(payment_method_id), repeatable=False))
