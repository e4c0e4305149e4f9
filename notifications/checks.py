"""System checks for notification settings: flag a provider chosen without its credentials."""

from django.conf import settings
from django.core import checks

SMS_PROVIDERS = ("console", "bulksms", "clickatell")
OPS_KINDS = ("slack", "discord", "json")


@checks.register(checks.Tags.compatibility)
def notification_settings_check(app_configs=None, **kwargs):
    problems = []
    provider = (getattr(settings, "SMS_PROVIDER", "console") or "console").lower()
    if provider not in SMS_PROVIDERS:
        problems.append(checks.Error(f"SMS_PROVIDER={provider!r} is not one of {SMS_PROVIDERS}.",
                                     id="notifications.E001"))
    bulksms = getattr(settings, "BULKSMS", {}) or {}
    if provider == "bulksms" and not (bulksms.get("TOKEN_ID") and bulksms.get("TOKEN_SECRET")):
        problems.append(checks.Warning("SMS_PROVIDER=bulksms but BULKSMS_TOKEN_ID / BULKSMS_TOKEN_SECRET are empty: "
                                       "every SMS will fail.", id="notifications.W001"))
    if provider == "clickatell" and not (getattr(settings, "CLICKATELL", {}) or {}).get("API_KEY"):
        problems.append(checks.Warning("SMS_PROVIDER=clickatell but CLICKATELL_API_KEY is empty: every SMS will fail.",
                                       id="notifications.W002"))
    kind = getattr(settings, "OPS_WEBHOOK_KIND", "slack")
    if getattr(settings, "OPS_WEBHOOK_URL", "") and kind not in OPS_KINDS:
        problems.append(checks.Error(f"OPS_WEBHOOK_KIND={kind!r} is not one of {OPS_KINDS}.", id="notifications.E002"))
    return problems


@checks.register(checks.Tags.compatibility)
def email_idempotency_check(app_configs=None, **kwargs):
    """anymail's own Resend backend sends no idempotency key: a send retried after a worker died could
    reach the customer twice. Ours adds it (notifications/clients/resend_backend.py)."""
    if getattr(settings, "EMAIL_BACKEND", "") == "anymail.backends.resend.EmailBackend":
        return [checks.Warning(
            "EMAIL_BACKEND is anymail's Resend backend, which sends no Idempotency-Key: use "
            "notifications.clients.resend_backend.EmailBackend so a retried send is never delivered twice.",
            id="notifications.W003")]
    return []
