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
    if settings.SANDBOX_GATEWAY_ENABLED and not settings.DEBUG and not settings.NETCASH.get("PAYNOW_SERVICE_KEY"):
        # Invoices go to the sandbox (no Pay Now key), but with DEBUG off nothing fills in the two secrets
        # the sandbox needs (settings.py derives them only under DEBUG): the Pay Now form is refused
        # without the HMAC secret, and the sandbox's notify is refused without the notify token.
        missing = [name for name, key in (("NETCASH_PAYNOW_HMAC_SECRET", "PAYNOW_HMAC_SECRET"),
                                          ("NETCASH_NOTIFY_TOKEN", "NOTIFY_TOKEN"))
                   if not settings.NETCASH.get(key)]
        if missing:
            problems.append(Warning(
                f"SANDBOX_GATEWAY_ENABLED=true with DEBUG=False, but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: the sandbox gateway cannot take an invoice "
                "payment (the Pay Now form is refused without the HMAC secret; the sandbox's notify is refused "
                "without the notify token), so customers are told online payments are not available.",
                hint=f"Set {' and '.join(missing)} (long random values), or turn the sandbox off.",
                id="circletel.W004",
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
    for check_id, provider, conf, key, secret, where in WEBHOOK_SECRETS:
        if conf_value(conf, key) and not conf_value(conf, secret):
            problems.append(Error(
                f"{conf}_{key} is set but {conf}_{secret} is not: {provider} payments and deposits would be "
                f"taken, but no {provider} webhook could be verified, so none would be booked.",
                hint=f"Copy it for <SITE_URL>{where} from the {provider} dashboard into {conf}_{secret}.",
                id=check_id,
            ))
    return problems


# A provider that takes money must have what verifies its webhooks: (check id, provider, settings dict =
# env prefix, key, webhook secret, webhook path).
WEBHOOK_SECRETS = [
    ("circletel.E003", "Stripe", "STRIPE", "SECRET_KEY", "WEBHOOK_SECRET", "/api/webhooks/stripe"),
    ("circletel.E004", "PayPal", "PAYPAL", "CLIENT_ID", "WEBHOOK_ID", "/api/paypal/webhook"),
]


def conf_value(conf: str, key: str) -> str:
    return getattr(settings, conf).get(key) or ""
