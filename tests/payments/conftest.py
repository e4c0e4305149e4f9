"""Payments test fixtures."""

import pytest

from tests.payments.stripe_helpers import WHSEC


@pytest.fixture(autouse=True)
def _sandbox_explicitly_on(settings):
    # settings_test runs with DEBUG=False; the sandbox gateway needs the explicit switch then.
    settings.SANDBOX_GATEWAY_ENABLED = True


@pytest.fixture(autouse=True)
def _tasks_run_inline(tasks_run_inline):
    """Queued tasks run inline here (see `tasks_run_inline` in tests/conftest.py)."""


@pytest.fixture
def stripe_on(settings):
    """Stripe configured with test keys and the webhook secret the signing helpers use; the SDK
    talks to its default host, which `responses` intercepts. Returns `settings` for further tweaks."""
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "sk_test_123", "PUBLISHABLE_KEY": "pk_test_1",
                       "WEBHOOK_SECRET": WHSEC, "API_BASE": ""}
    return settings
