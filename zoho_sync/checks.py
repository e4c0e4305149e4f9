from django.conf import settings
from django.core.checks import Warning, register


@register()
def zoho_sync_configured(app_configs, **kwargs):
    """Sync switched on without credentials would fail every row: say so at start-up."""
    if not settings.ENABLE_ZOHO_SYNC:
        return []
    missing = [k for k in ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "ORGANIZATION_ID")
               if not settings.ZOHO.get(k)]
    if missing:
        return [Warning(f"ENABLE_ZOHO_SYNC is on but ZOHO_{', ZOHO_'.join(missing)} not set",
                        hint="Set the credentials or ENABLE_ZOHO_SYNC=false.", id="zoho_sync.W001")]
    return []
