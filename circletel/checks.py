"""System checks for dangerous setting combinations."""

from django.conf import settings
from django.core.checks import Error, Warning, register

NOTIFY_TOKEN_MIN_LENGTH = 32


@register()
def product_settings_check(app_configs, **kwargs):
    problems = []
    if settings.SANDBOX_GATEWAY_ENABLED and not settings.DEBUG:
        # Explicitly on with DEBUG off: the sandbox really confirms payments, so anyone can "pay".
        problems.append(Warning(
            "The sandbox payment gateway is enabled (SANDBOX_GATEWAY_ENABLED=true) with DEBUG=False: anyone can "
            "mark invoices and deposits paid without paying.",
            hint="Unset SANDBOX_GATEWAY_ENABLED (or set it false) in production and configure the providers.",
            id="circletel.W001",
        ))
    netcash = settings.NETCASH
    token = netcash.get("NOTIFY_TOKEN") or ""
    if netcash.get("PAYNOW_SERVICE_KEY") and len(token) < NOTIFY_TOKEN_MIN_LENGTH:
        # Without the secret notify path no NetCash notify is accepted, so money taken by Pay Now is
        # never applied: refuse to run rather than take payments we cannot book.
        problems.append(Error(
            "NETCASH_PAYNOW_SERVICE_KEY is set but NETCASH_NOTIFY_TOKEN is missing or shorter than "
            f"{NOTIFY_TOKEN_MIN_LENGTH} characters: Pay Now notifies could not be authenticated.",
            hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))' and paste "
                 "<SITE_URL>/api/payments/netcash/notify/<token> as the Notify URL in the NetCash portal.",
            id="circletel.E002",
        ))
    zoho = settings.ZOHO
    if settings.ENABLE_ZOHO_SYNC and not (zoho["CLIENT_ID"] and zoho["REFRESH_TOKEN"] and zoho["ORGANIZATION_ID"]):
        problems.append(Error(
            "ENABLE_ZOHO_SYNC is on but ZOHO credentials are missing.",
            hint="Set ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN and ZOHO_ORGANIZATION_ID.",
            id="circletel.E001",
        ))
    if not settings.FIELD_ENCRYPTION_KEYS and not settings.DEBUG:
        problems.append(Warning(
            "FIELD_ENCRYPTION_KEYS is not set: bank details cannot be stored.",
            hint="Generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            id="circletel.W002",
        ))
    if settings.NETCASH.get("PAYNOW_SERVICE_KEY") and not settings.NETCASH.get("PAYNOW_HMAC_SECRET"):
        problems.append(Warning(
            "NETCASH_PAYNOW_SERVICE_KEY is set but NETCASH_PAYNOW_HMAC_SECRET is not: Pay Now requests cannot be "
            "signed, so online card/EFT payments are refused.",
            hint="Set NETCASH_PAYNOW_HMAC_SECRET to a long random value.",
            id="circletel.W003",
        ))
    # A provider that takes money but whose webhooks we cannot verify: payments and deposits would be
    # taken and never booked (the webhook answers 503, deposit holds lapse). Refuse to run.
    if settings.STRIPE.get("SECRET_KEY") and not settings.STRIPE.get("WEBHOOK_SECRET"):
        problems.append(Error(
            "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: Stripe payments and deposits would be "
            "taken, but no Stripe webhook could be verified, so none would be booked.",
            hint="Copy the endpoint's signing secret (whsec_...) for <SITE_URL>/api/webhooks/stripe from the "
                 "Stripe dashboard into STRIPE_WEBHOOK_SECRET.",
            id="circletel.E003",
        ))
    if settings.PAYPAL.get("CLIENT_ID") and not settings.PAYPAL.get("WEBHOOK_ID"):
        problems.append(Error(
            "PAYPAL_CLIENT_ID is set but PAYPAL_WEBHOOK_ID is not: PayPal payments and deposits would be taken, "
            "but no PayPal webhook could be verified, so none would be booked.",
            hint="Copy the webhook id for <SITE_URL>/api/paypal/webhook from the PayPal developer dashboard "
                 "into PAYPAL_WEBHOOK_ID.",
            id="circletel.E004",
        ))
    return problems
