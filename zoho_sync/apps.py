from django.apps import AppConfig


class ZohoSyncConfig(AppConfig):
    name = "zoho_sync"
    verbose_name = "ZOHO sync"

    def ready(self):
        from zoho_sync import checks  # noqa: F401  (registers the system check)
