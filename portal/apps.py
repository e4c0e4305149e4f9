from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The customer portal (dashboard pages and APIs, pay pages, PayPal order endpoints) and the staff
    reports. The top layer: no other app imports it."""

    name = "portal"
    verbose_name = "Customer portal"
