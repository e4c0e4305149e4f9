"""Deploy check for the usage sync (registered in `UsageConfig.ready`)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def interstellio_timezone_check(app_configs, **kwargs):
    """usage.E001: the Interstellio zone must be the billing zone, or a usage day straddles two billing days
    (CONTRACTS 7, corrected 2026-12: `X-Timezone` applies to the answer, the window is asked in that zone)."""
    raw = getattr(settings, "INTERSTELLIO", None) or {}
    zone = raw.get("TIMEZONE") or settings.TIME_ZONE
    if not (raw.get("API_TOKEN") or "").strip() or zone == settings.TIME_ZONE:
        return []
    return [Error(
        f"INTERSTELLIO_TIMEZONE={zone} but TIME_ZONE={settings.TIME_ZONE}: usage days would not be billing days.",
        hint="Unset INTERSTELLIO_TIMEZONE (it follows TIME_ZONE) or set it to TIME_ZONE.",
        id="usage.E001",
    )]
