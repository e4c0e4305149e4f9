import json
import time

import pytest
import stripe

from tests.browser import live_page

WHSEC = "whsec_test_reservations_0123456789"


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "sk_test_123", "WEBHOOK_SECRET": WHSEC, "API_BASE": ""}
    return settings.STRIPE


@pytest.fixture
def paypal_settings(settings, db):
    # No cached access token to clear: every test has its own cache namespace (tests/conftest.py).
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": "https://api-m.sandbox.paypal.com"}
    return settings.PAYPAL


@pytest.fixture
def no_providers(settings):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "", "WEBHOOK_SECRET": ""}
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "", "CLIENT_SECRET": "", "WEBHOOK_ID": ""}
    settings.SANDBOX_GATEWAY_ENABLED = True


def checkout_completed_event(reservation, *, event_id="evt_1", pi="pi_3PaidDeposit01", amount_cents=None,
                             event_type="checkout.session.completed", payment_status="paid"):
    return {
        "id": event_id, "object": "event", "api_version": "2026-06-24.dahlia", "created": int(time.time()),
        "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": {
            "id": "cs_test_a1b2c3", "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": payment_status, "payment_intent": pi, "client_reference_id": reservation.reference,
            "amount_total": amount_cents if amount_cents is not None else int(reservation.deposit_amount * 100),
            "currency": "zar", "metadata": {"kind": "reservation_deposit", "reference": reservation.reference},
        }},
    }


def signed(payload: dict, secret: str = WHSEC, timestamp=None) -> tuple[str, str]:
    body = json.dumps(payload)
    return body, stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)


@pytest.fixture
def sandbox_page(browser, live_server, settings):
    """A browser page on the live server with the sandbox gateway as the only payment provider."""
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "", "WEBHOOK_SECRET": ""}
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "", "CLIENT_SECRET": ""}
    with live_page(browser, live_server, settings) as pg:
        yield pg
