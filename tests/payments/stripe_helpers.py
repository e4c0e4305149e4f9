"""Helpers for the Stripe payment tests: signed Stripe events (real SDK signing), intent payloads."""

from __future__ import annotations

import json
import time

import stripe

from tests.webhooks import deliver

WHSEC = "whsec_test_payments_ii_secret"
STRIPE_API = "https://api.stripe.com"


def signed(payload: dict, *, secret: str = WHSEC, timestamp: int | None = None) -> tuple[str, str]:
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp or int(time.time()))
    return body, header


def post_event(client, payload: dict, *, run_tasks: bool = True, **kwargs):
    """Post a signed event as Stripe does (`tests.webhooks.deliver`: with `run_tasks` the queued
    apply task runs before this returns)."""
    body, header = signed(payload, **kwargs)
    return deliver(client, "/api/webhooks/stripe", body, run_tasks=run_tasks, HTTP_STRIPE_SIGNATURE=header)


def intent(payment, *, status="succeeded", amount_cents=None, intent_id=None, error=None, kind="invoice_payment"):
    cents = amount_cents if amount_cents is not None else int(payment.amount * 100)
    return {
        "id": intent_id or payment.provider_transaction_id or "pi_3TestIntent0001", "object": "payment_intent",
        "amount": cents, "amount_received": cents if status == "succeeded" else 0, "currency": "zar",
        "status": status, "latest_charge": "ch_3TestCharge0001" if status == "succeeded" else None,
        "client_secret": "pi_x_secret_y", "payment_method": "pm_card_visa",
        "metadata": {"kind": kind, "reference": payment.reference, "invoice_number": payment.invoice.number
                     if payment.invoice else ""},
        "last_payment_error": error,
    }


def event(event_id: str, event_type: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "api_version": "2026-06-24.dahlia", "created": int(time.time()),
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type}


def charge_refunded(payment, *, refunds: list[tuple[str, int]] | None = None, amount_refunded: int | None = None,
                    charge_id="ch_3TestCharge0001"):
    total = amount_refunded if amount_refunded is not None else sum(a for _, a in refunds or [])
    obj = {"id": charge_id, "object": "charge", "amount": int(payment.amount * 100),
           "amount_captured": int(payment.amount * 100), "amount_refunded": total,
           "refunded": total == int(payment.amount * 100), "payment_intent": payment.provider_transaction_id,
           "status": "succeeded", "paid": True, "captured": True}
    if refunds is not None:
        obj["refunds"] = {"object": "list", "data": [
            {"id": rid, "object": "refund", "amount": amt, "charge": charge_id, "status": "succeeded",
             "currency": "zar", "created": 1700000000 + i} for i, (rid, amt) in enumerate(refunds)]}
    return obj
