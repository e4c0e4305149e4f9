from django import template

from billing.dashboard.reports import receivables_report

register = template.Library()


@register.simple_tag
def receivables():
    """Context for the admin index reports: `{% receivables as report %}`."""
    return receivables_report()
