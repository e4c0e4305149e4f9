"""Admin index widget: payment sync to ZOHO (synced / pending / failed today, success rate).

    {% load zoho_admin %}{% payment_sync_widget as sync %}
"""

from django import template
from django.urls import NoReverseMatch, reverse

from zoho_sync.selectors import payment_sync_stats

register = template.Library()


@register.simple_tag
def payment_sync_widget() -> dict:
    stats = payment_sync_stats()
    try:
        dashboard_url = reverse("admin:zoho_sync_syncdashboard_changelist")
    except NoReverseMatch:  # pragma: no cover - the dashboard is registered with the app
        dashboard_url = ""
    return {**stats, "dashboard_url": dashboard_url, "enabled": _enabled()}


def _enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "ENABLE_ZOHO_SYNC", False))
