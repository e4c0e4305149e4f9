"""What a page that takes cards through Stripe's Payment Element needs: whether card payments are on,
the customer's chargeable saved cards, and the Content-Security-Policy sources Stripe.js needs.

Stripe.js is loaded from `settings.STRIPE["JS_URL"]` (Stripe's own https://js.stripe.com/v3/; the
local stand-in's in `make run` and the browser tests). Card data is typed into Stripe's iframe and
never reaches our page or server; money moves only on Stripe's signed webhook (or the server-side
answer for a saved card), never on what the browser says.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from billing.models import Customer
from payments.errors import PaymentMethodLimitReached
from payments.models import PaymentMethod
from payments.services.methods import payment_method_is_usable, payment_method_limit_check

STRIPE_JS_ORIGIN = "https://js.stripe.com"
# Stripe's security guide, "Content Security Policy" (docs.stripe.com/security/guide#content-security-policy):
# Stripe.js from js.stripe.com, its frames from js.stripe.com and hooks.stripe.com (3-D Secure), its
# calls to api.stripe.com. Only the sources the Payment Element with cards needs are listed here.
STRIPE_CSP = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}


def card_payments_available() -> bool:
    """Stripe is configured end to end: a secret key (our calls), a publishable key (Stripe.js) and a
    webhook secret (without it no payment the browser confirms could ever be booked)."""
    stripe = settings.STRIPE
    return bool(stripe.get("SECRET_KEY") and stripe.get("PUBLISHABLE_KEY") and stripe.get("WEBHOOK_SECRET"))


def chargeable_cards(*, customer: Customer) -> list[PaymentMethod]:
    """The customer's saved Stripe cards that can be charged now (not expired), primary first."""
    cards = (PaymentMethod.objects.filter(customer=customer, deleted_at__isnull=True,
                                          method_type=PaymentMethod.Type.CARD, provider_token__startswith="pm_")
             .order_by("-is_primary", "pk"))
    return [card for card in cards if payment_method_is_usable(card)]


def card_save_refusal(*, customer: Customer) -> str:
    """Why a new card cannot be saved now ("" when it can): the saved-methods limit."""
    try:
        payment_method_limit_check(customer=customer)
    except PaymentMethodLimitReached as exc:
        return exc.message
    return ""


def stripe_js_csp() -> dict[str, list[str]]:
    """CSP sources to add on a page that loads Stripe.js: Stripe's own, or the stand-in's origin for
    every directive when `JS_URL` points elsewhere (it serves the script, the frames and the API)."""
    parts = urlsplit(settings.STRIPE.get("JS_URL") or "")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    if not origin or origin == STRIPE_JS_ORIGIN:
        return {directive: list(sources) for directive, sources in STRIPE_CSP.items()}
    return {directive: [origin] for directive in STRIPE_CSP}


def allow_stripe_js(response):
    """Add Stripe.js's sources to this one response's policy (django-csp `_csp_update`, the attribute its
    `csp_update` decorator sets); every other page keeps the site policy without them."""
    sources = stripe_js_csp()
    response._csp_update = sources
    response._csp_update_ro = sources
    return response
