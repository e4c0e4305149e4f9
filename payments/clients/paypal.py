"""PayPal client: Orders v2, refunds and webhook verification over HTTP (CONTRACTS section 4).

OAuth client credentials; the access token is cached in the Django cache until shortly before
`expires_in`. Every call goes through `circletel.http.send` (explicit timeout, typed errors:
retryable for timeouts/429/5xx, permanent for other 4xx). Creates, captures and refunds carry a
`PayPal-Request-Id` derived from our row so a retry is an idempotent replay.

Retries: `_request` repeats a GET or a call with a `PayPal-Request-Id` (token fetch included)
through `circletel.http.with_retries` while `payments.provider_errors.classify(exc).retryable`
says another try can succeed. A POST without a request id (webhook verification, the bare token
fetch) runs once. Attempts and backoff come from `settings.PROVIDER_RETRY` (`ATTEMPTS`,
`BASE_SECONDS`, `CAP_SECONDS`; defaults 3, 0.5, 5), as for Stripe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, send
from payments.provider_errors import with_provider_retries

PROVIDER = "paypal"
TIMEOUT = (5, 20)

# The currencies PayPal's REST API takes (developer.paypal.com/reference/currency-codes, the "Currency
# codes" reference page; CONTRACTS 4 "Currency (2026-12)"): there is no ZAR, so an order in ZAR is
# refused. Left out on purpose: BRL, MYR, CNY and INR, which that page marks "supported as a payment
# currency and a currency balance for in-country PayPal accounts only" (our account is South African).
# HUF, JPY and TWD "do not support decimals. Decimal amounts cause an error": they are sent whole.
CURRENCIES = frozenset({"AUD", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY", "MXN", "NOK",
                        "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TWD", "USD"})
ZERO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})


class CurrencyNotSupported(PermanentProviderError):
    """A currency PayPal does not take (ZAR above all): raised before any request is sent, as a
    permanent refusal (retrying cannot help; refund flows take their "refused" path). A 400, not a 502:
    PayPal was never asked."""

    status_code = 400

    def __init__(self, currency: str):
        super().__init__(f"PayPal does not take {currency or 'an empty currency'}; nothing was sent.",
                         provider=PROVIDER, code="currency_not_supported", raw=f"currency={currency}")


def supports_currency(currency: str) -> bool:
    return (currency or "").upper() in CURRENCIES


def _paypal_money(amount: Decimal, currency: str) -> dict:
    """`{"currency_code", "value"}` for a PayPal request; refuses a currency PayPal does not take, so
    ZAR can never be sent whatever a caller passes."""
    code = (currency or "").upper()
    if code not in CURRENCIES:
        raise CurrencyNotSupported(code)
    places = Decimal("1") if code in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return {"currency_code": code, "value": str(Decimal(amount).quantize(places))}
_TOKEN_CACHE_KEY = "paypal:access_token"
sleep = time.sleep  # looked up at each wait, so tests can replace it


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    approve_url: str = ""
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Capture:
    order_id: str
    order_status: str
    capture_id: str
    capture_status: str
    amount: Decimal | None
    currency: str
    custom_id: str
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    raw: dict = field(default_factory=dict, repr=False)


def is_configured() -> bool:
    return bool(settings.PAYPAL.get("CLIENT_ID") and settings.PAYPAL.get("CLIENT_SECRET"))


def _base() -> str:
    return settings.PAYPAL.get("API_BASE", "https://api-m.sandbox.paypal.com").rstrip("/")


def money(amount: Decimal) -> str:
    return f"{Decimal(amount).quantize(Decimal('0.01'))}"


def access_token(*, force_refresh: bool = False) -> str:
    """A bearer token from client credentials, cached until 60 s before it expires."""
    if not is_configured():
        raise ImproperlyConfigured("PAYPAL_CLIENT_ID / PAYPAL_CLIENT_SECRET are not set")
    if not force_refresh:
        token = cache.get(_TOKEN_CACHE_KEY)
        if token:
            return token
    response = send("POST", f"{_base()}/v1/oauth2/token", provider=PROVIDER, timeout=TIMEOUT,
                    auth=(settings.PAYPAL["CLIENT_ID"], settings.PAYPAL["CLIENT_SECRET"]),
                    data={"grant_type": "client_credentials"}, headers={"Accept": "application/json"})
    data = response.json()
    token = data["access_token"]
    cache.set(_TOKEN_CACHE_KEY, token, timeout=max(int(data.get("expires_in", 3600)) - 60, 30))
    return token


def _request(method: str, path: str, *, json=None, request_id: str | None = None, prefer: str | None = None):
    def once():
        headers = {"Authorization": f"Bearer {access_token()}", "Content-Type": "application/json"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id[:108]  # the same on every attempt: a replay, not a new call
        if prefer:
            headers["Prefer"] = prefer
        try:
            return send(method, f"{_base()}{path}", provider=PROVIDER, timeout=TIMEOUT, json=json, headers=headers)
        except PermanentProviderError as exc:
            if exc.http_status == 401:  # token revoked or expired early: drop it so the next call refreshes
                cache.delete(_TOKEN_CACHE_KEY)
            raise

    if method.upper() != "GET" and not request_id:
        return once()  # a POST without a request id may have happened: never repeat it
    return with_provider_retries(once, sleep=lambda seconds: sleep(seconds))


def order_create(*, amount: Decimal, currency: str, reference: str, description: str,
                 return_url: str, cancel_url: str, request_id: str) -> Order:
    """Create a CAPTURE order; `reference` goes into custom_id (and reference_id) for the webhook.
    `currency` must be a PayPal currency (`CurrencyNotSupported` otherwise, before any call): callers
    convert ZAR first (`payments.services.paypal_currency.paypal_quote`)."""
    amount_field = _paypal_money(amount, currency)
    body = {
        "intent": "CAPTURE",
        "purchase_units": [{
            "reference_id": reference, "custom_id": reference, "description": description[:127],
            "amount": amount_field,
        }],
        "payment_source": {"paypal": {"experience_context": {
            "user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING",
            "return_url": return_url, "cancel_url": cancel_url,
        }}},
    }
    data = _request("POST", "/v2/checkout/orders", json=body, request_id=request_id,
                    prefer="return=representation").json()
    approve = next((link["href"] for link in data.get("links", []) if link.get("rel") in ("approve", "payer-action")),
                   "")
    return Order(id=data["id"], status=data.get("status", ""), approve_url=approve, raw=data)


def order_capture(*, order_id: str, request_id: str) -> Capture:
    data = _request("POST", f"/v2/checkout/orders/{order_id}/capture", json={}, request_id=request_id,
                    prefer="return=representation").json()
    unit = (data.get("purchase_units") or [{}])[0]
    capture = ((unit.get("payments") or {}).get("captures") or [{}])[0]
    amount = capture.get("amount") or {}
    return Capture(
        order_id=data.get("id", order_id), order_status=data.get("status", ""), capture_id=capture.get("id", ""),
        capture_status=capture.get("status", ""),
        amount=Decimal(amount["value"]) if amount.get("value") else None,
        currency=amount.get("currency_code", ""), custom_id=capture.get("custom_id") or unit.get("custom_id") or "",
        raw=data,
    )


def capture_refund(*, capture_id: str, amount: Decimal | None = None, currency: str = "", note: str = "",
                   request_id: str) -> Refund:
    """Refund a capture, fully (no amount) or partly (`amount` in the capture's own PayPal currency;
    `CurrencyNotSupported` for ZAR or any other currency PayPal does not take, before any call)."""
    body: dict = {}
    if amount is not None:
        body["amount"] = _paypal_money(amount, currency)
    if note:
        body["note_to_payer"] = note[:255]
    data = _request("POST", f"/v2/payments/captures/{capture_id}/refund", json=body, request_id=request_id,
                    prefer="return=representation").json()
    return Refund(id=data["id"], status=data.get("status", ""), raw=data)


VERIFY_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


def webhook_verify(*, headers: dict, event: dict) -> bool:
    """Ask PayPal whether a webhook delivery is genuine (`verification_status == "SUCCESS"`).

    `headers` maps the PAYPAL-* header names (any case) to values; `webhook_id` is always our
    configured id, never taken from the request; `event` is the body parsed once, unmodified.
    Missing headers or configuration answer False without a call.
    """
    webhook_id = settings.PAYPAL.get("WEBHOOK_ID")
    if not webhook_id or not is_configured():
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    payload = {key: lowered.get(name.lower(), "") for key, name in VERIFY_HEADERS.items()}
    if not all(payload.values()):
        return False
    payload.update(webhook_id=webhook_id, webhook_event=event)
    data = _request("POST", "/v1/notifications/verify-webhook-signature", json=payload).json()
    return data.get("verification_status") == "SUCCESS"


def capture_id_from_links(resource: dict) -> str:
    """The capture a refund resource belongs to: its `up` link `.../v2/payments/captures/<id>`
    (a refund may omit `custom_id`, so this is how it is matched to the capture)."""
    for link in resource.get("links") or []:
        if link.get("rel") == "up" and "/captures/" in link.get("href", ""):
            return link["href"].rstrip("/").rsplit("/", 1)[-1]
    return ""
