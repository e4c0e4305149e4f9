"""Checks for billing settings (registered in `BillingConfig.ready`)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def cancellation_policy_check(app_configs, **kwargs):
    """billing.E001: an unknown CANCELLATION_POLICY would fail every cancellation."""
    from billing.services.lifecycle import CANCELLATION_POLICIES

    policy = settings.BILLING.get("CANCELLATION_POLICY", "credit_unused")
    if policy in CANCELLATION_POLICIES:
        return []
    return [Error(f"CANCELLATION_POLICY is {policy!r}; cancellations would fail.",
                  hint=f"Set it to one of: {', '.join(CANCELLATION_POLICIES)}.", id="billing.E001")]
