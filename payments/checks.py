"""Deploy checks for payment settings that could lose money (registered in `PaymentsConfig.ready`)."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def paypal_currency_check(app_configs, **kwargs):
    """payments.E001: PayPal enabled with a configuration that could send ZAR or cannot convert it.

    PayPal takes no ZAR (CONTRACTS 4 "Currency (2026-12)"; developer.paypal.com/reference/currency-codes).
    Invoices are in ZAR, so with PayPal on, `PAYPAL_CURRENCY` must be a currency PayPal takes and
    `PAYPAL_ZAR_RATE` a positive decimal; an error stops every manage.py command, the workers included.
    """
    from payments.services.paypal_currency import configuration_problems

    if not (settings.PAYPAL.get("CLIENT_ID") or "").strip():
        return []  # PayPal off: nothing is offered, nothing can be sent
    problems = configuration_problems()
    if not problems:
        return []
    return [Error(
        "PayPal is enabled (PAYPAL_CLIENT_ID is set) but its currency settings could send ZAR or cannot convert "
        "it: " + " ".join(problems),
        hint="Set PAYPAL_CURRENCY to a currency PayPal takes (USD) and PAYPAL_ZAR_RATE to the rands per one unit "
             "of it (e.g. 18.50), or unset PAYPAL_CLIENT_ID.",
        id="payments.E001",
    )]


@register()
def stripe_hosts_check(app_configs, **kwargs):
    """payments.W001: with DEBUG off, Stripe is pointed somewhere other than Stripe.

    `STRIPE_API_BASE` and `STRIPE_JS_URL` exist for the local stand-in (`payments/stripe_standin.py`:
    `make run`, the browser tests). In production a leftover value would send card data and API keys to
    that host; Stripe.js must come from https://js.stripe.com (docs.stripe.com/js/including).
    """
    if settings.DEBUG:
        return []
    stripe = settings.STRIPE
    odd = []
    if (stripe.get("API_BASE") or "").strip():
        odd.append(f"STRIPE_API_BASE={stripe['API_BASE']}")
    if not (stripe.get("JS_URL") or "").startswith("https://js.stripe.com/"):
        odd.append(f"STRIPE_JS_URL={stripe.get('JS_URL')}")
    if not odd:
        return []
    return [Warning(
        "Stripe is pointed away from Stripe with DEBUG off (" + ", ".join(odd) + ").",
        hint="Unset STRIPE_API_BASE and STRIPE_JS_URL in production; they are for the local Stripe stand-in only.",
        id="payments.W001",
    )]
