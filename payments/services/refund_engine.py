"""The one refund engine's provider side, shared by invoice refunds (payments/services/refunds.py)
and deposit refunds (reservations): one provider call, one reading of the provider's words, one
retry policy and one "refused for good" path.

- `provider_refund(...)`: Stripe refund (idempotency key) or PayPal capture refund
  (`PayPal-Request-Id`), never inside a transaction. Returns a `RefundAnswer` whose `outcome` is
  one of SUCCEEDED / PENDING / FAILED, read by `outcome_of` (CONTRACTS 3.3: Stripe's Refund.status
  pending | requires_action | succeeded | failed | canceled; CONTRACTS 4: PayPal FAILED / CANCELLED
  are failures, its other words count as succeeded since no PayPal refund-status event finishes one).
- Retry policy (`call_failure`): a call that fails with a retryable error (timeout, 429, 5xx after
  the client's own retries) has an UNKNOWN outcome: ask again later with the SAME key (the provider
  replays the refund it made, or makes it now). A permanent refusal (4xx: already refunded, charge
  disputed, account closed ...) is REFUSED: never retried automatically. A refund the provider took
  and then failed may be tried again under a new key, at most `MAX_REFUND_ATTEMPTS` times in all.
- `refund_refused_for_good(...)`: ops are alerted once and the payer is told once (each by its
  idempotency key) that the money comes back another way; staff pay it back by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from circletel.http import ProviderError
from notifications.services import notify, notify_ops
from payments.clients import paypal as paypal_client
from payments.clients import stripe as stripe_client
from payments.provider_errors import classify

logger = logging.getLogger(__name__)

SUCCEEDED, PENDING, FAILED = "succeeded", "pending", "failed"
UNKNOWN, REFUSED = "unknown", "refused"
MAX_REFUND_ATTEMPTS = 3  # refunds the provider accepted and then failed, before we stop trying
STRIPE_FAILED = ("failed", "canceled")
PAYPAL_FAILED = ("FAILED", "CANCELLED")


@dataclass(frozen=True)
class RefundAnswer:
    refund_id: str
    word: str  # the provider's own status word
    outcome: str  # SUCCEEDED | PENDING | FAILED
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CallFailure:
    outcome: str  # UNKNOWN (retryable: ask again with the same key) | REFUSED (permanent)
    code: str
    detail: str


def outcome_of(provider: str, word: str) -> str:
    """The one reading of a provider's refund status word."""
    word = word or ""
    if provider == "stripe":
        if word == "succeeded":
            return SUCCEEDED
        return FAILED if word in STRIPE_FAILED else PENDING
    if provider == "paypal":
        return FAILED if word.upper() in PAYPAL_FAILED else SUCCEEDED
    return SUCCEEDED  # sandbox


def provider_refund(*, provider: str, payment_id: str, amount: Decimal | None, currency: str = "ZAR",
                    key: str, metadata: dict | None = None, note: str = "") -> RefundAnswer:
    """Ask the provider to refund `payment_id` (a Stripe payment intent or a PayPal capture);
    `amount=None` refunds all of it. Raises `ProviderError` (see `call_failure`)."""
    if provider == "stripe":
        refund = stripe_client.refund_create(payment_intent=payment_id, amount=amount, metadata=metadata or {},
                                             reason="requested_by_customer", idempotency_key=key)
        raw = {"id": refund.id, "status": refund.status, "amount": refund.amount}
        return RefundAnswer(refund_id=refund.id, word=refund.status, outcome=outcome_of(provider, refund.status),
                            raw=raw)
    if provider == "paypal":
        refund = paypal_client.capture_refund(capture_id=payment_id, amount=amount, currency=currency, note=note,
                                              request_id=key)
        return RefundAnswer(refund_id=refund.id, word=refund.status, outcome=outcome_of(provider, refund.status),
                            raw={"id": refund.id, "status": refund.status})
    raise ValueError(f"no refund call for provider {provider!r}")


def call_failure(exc: ProviderError) -> CallFailure:
    """The retry policy for a failed refund call (module docstring)."""
    info = classify(exc)
    return CallFailure(outcome=UNKNOWN if info.retryable else REFUSED, code=info.code,
                       detail=f"{info.code}: {info.raw}"[:2000])


def refund_refused_for_good(*, key: str, title: str, message: str, fields: dict,
                            payer_event: str | None = None, payer_email: str | None = None,
                            payer_context: dict | None = None) -> None:
    """Alert ops once, and tell the payer once when `payer_event` is given (idempotency keys `<key>`
    and `<key>:payer`), that a refund will not go through as expected: a deposit refund refused for
    good, an invoice refund that failed at the provider or whose outcome can no longer be learnt.
    Best effort: never undoes the caller's state change nor stops a sweep."""
    try:
        with transaction.atomic():
            notify_ops(event="ops_alert", idempotency_key=key,
                       context={"title": title, "message": message, "severity": "warning", "fields": fields})
            if payer_event:
                notify(event=payer_event, email=payer_email, context=payer_context or {},
                       idempotency_key=f"{key}:payer")
    except Exception:  # an alert must never stop the refund sweep or undo a refusal
        logger.exception("could not send the refused-refund notices for %s", key)
