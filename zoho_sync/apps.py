from django.apps import AppConfig


class ZohoSyncConfig(AppConfig):
    name = "zoho_sync"
    verbose_name = "ZOHO sync"
