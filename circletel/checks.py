"""System checks for dangerous setting combinations."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def product_settings_check(app_configs, **kwargs):
    problems = []
    if settings.SANDBOX_GATEWAY_ENABLED and not settings.DEBUG:
        if getattr(settings, "SANDBOX_GATEWAY_EXPLICIT", None) is True:
            # Explicitly on: the sandbox really serves checkouts, so anyone can "pay" an invoice.
            message = "The sandbox payment gateway is explicitly enabled (SANDBOX_GATEWAY_ENABLED=true) with DEBUG=False."
        else:
            # On by default (no Pay Now key): the gateway refuses with DEBUG=False, so online payments are off.
            message = ("No NETCASH_PAYNOW_SERVICE_KEY: the sandbox payment gateway would stand in, but it refuses "
                       "with DEBUG=False, so online card/EFT payments are unavailable.")
        problems.append(Warning(
            message,
            hint="Set NETCASH_PAYNOW_SERVICE_KEY (and SANDBOX_GATEWAY_ENABLED=false) in production.",
            id="circletel.W001",
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
    return problems
