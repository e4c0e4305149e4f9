"""The staff reports on the admin index (templates/admin/index.html: `{% load dashboard_admin %}`).

The index template finds this library through INSTALLED_APPS, as it finds zoho_sync's `zoho_admin`:
the admin site and billing import nothing from the portal.
"""

from django import template

from portal.reports import receivables_report

register = template.Library()


@register.simple_tag
def receivables():
    """Context for the admin index reports: `{% receivables as report %}`."""
    return receivables_report()
