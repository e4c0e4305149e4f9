"""The operations console's admin site: the index is organised around the work, not around the apps.

Staff meet groups named for what they do (customers & services, billing, payments, ZOHO, reservations,
operations, users & sign-in), each listing the pages of several apps, with the console's tools (check the
ledger, preview the invoice run) beside the models they concern. Models no group names (API tokens,
idempotency keys, the task queue, provider mirrors) land in one "Technical" group, last, out of the way, so
a page a new app adds is never lost. The per-app pages (`/admin/billing/`) are Django's own.

Wired in by `INSTALLED_APPS` ("circletel.admin_site.ConsoleAdminConfig" instead of "django.contrib.admin").
Models and URL names are written here as strings: this module sits in the platform and imports no app above
it (tests/test_layering.py), and a group or tool whose page does not exist is simply left out.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.urls import NoReverseMatch, reverse


class ConsoleGroup:
    """One section of the index: `models` as "app_label.ModelName" in the order shown; `tools` as
    (label, admin URL name, permission needed) rows after them."""

    def __init__(self, slug: str, name: str, models: tuple[str, ...], tools: tuple[tuple[str, str, str], ...] = ()):
        self.slug, self.name, self.models, self.tools = slug, name, models, tools


GROUPS = (
    ConsoleGroup("customers", "Customers & services", (
        "billing.Customer", "billing.CustomerService", "billing.Order", "billing.OrderIssue", "billing.Suspension",
        "billing.ServiceActionLog", "usage.UsageRecord", "usage.UsageThresholdAlert",
    )),
    ConsoleGroup("billing", "Billing", (
        "billing.Invoice", "billing.CreditNote", "billing.LedgerEntry",
    ), tools=(
        ("Preview the invoice run (dry run)", "admin:billing_invoice_run_preview", "billing.view_invoice"),
        ("Check the ledger", "admin:billing_ledger_check", "billing.view_ledgerentry"),
    )),
    ConsoleGroup("payments", "Payments", (
        "payments.PaymentTransaction", "payments.Refund", "payments.Receipt", "payments.PaymentMethod",
        "payments.Mandate", "payments.DebitOrderRun", "payments.DebitOrderItem", "payments.NetcashStatement",
        "payments.NetcashStatementLine", "payments.ReconciliationReport", "payments.ReconciliationIssue",
    )),
    ConsoleGroup("zoho", "ZOHO", (
        "zoho_sync.SyncDashboard", "zoho_sync.ManualEntry", "zoho_sync.RefundManualEntry", "zoho_sync.SyncWait",
        "zoho_sync.SyncLog", "zoho_sync.RefundPush",
    )),
    ConsoleGroup("reservations", "Reservations", (
        "reservations.Puppy", "reservations.Reservation", "reservations.UnmatchedPayment",
    )),
    ConsoleGroup("operations", "Operations", (
        "circletel.JobRun", "circletel.FollowUp", "django_q.Schedule", "django_q.Failure", "inbox.WebhookEvent",
        "notifications.NotificationLog",
    )),
    ConsoleGroup("people", "Users & sign-in", (
        "auth.User", "auth.Group", "axes.AccessAttempt", "axes.AccessLog",
    )),
)
TECHNICAL = ConsoleGroup("technical", "Technical (API tokens, idempotency keys, task queue, provider records)", ())


class ConsoleAdminSite(AdminSite):
    site_header = "CircleTel operations"
    site_title = "CircleTel operations"
    index_title = "Operations console"
    groups = GROUPS

    def get_app_list(self, request, app_label=None):
        """The index and the sidebar: the work groups, then "Technical" with everything unnamed.
        An app's own page (`app_label` given) keeps Django's per-app list."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        rows = {f"{app['app_label']}.{model['object_name']}": model
                for app in self._build_app_dict(request).values() for model in app["models"]}
        index = reverse("admin:index", current_app=self.name)
        sections = []
        for group in self.groups:
            models = [rows.pop(key) for key in group.models if key in rows]
            models += self._tools(request, group)
            if models:
                sections.append(self._section(group, models, index))
        if rows:  # technical and anything new: alphabetical, last
            sections.append(self._section(TECHNICAL, sorted(rows.values(), key=lambda m: str(m["name"]).lower()),
                                          index))
        return sections

    @staticmethod
    def _section(group: ConsoleGroup, models: list[dict], index: str) -> dict:
        return {"name": group.name, "app_label": f"console-{group.slug}", "app_url": f"{index}#console-{group.slug}",
                "has_module_perms": True, "models": models}

    def _tools(self, request, group: ConsoleGroup) -> list[dict]:
        tools = []
        for label, url_name, permission in group.tools:
            if not request.user.has_perm(permission):
                continue
            try:
                url = reverse(url_name, current_app=self.name)
            except NoReverseMatch:
                continue
            tools.append({"name": label, "object_name": url_name.rsplit(":", 1)[-1], "admin_url": url,
                          "add_url": None, "view_only": True, "perms": {"view": True}, "model": None,
                          "console_tool": True})
        return tools


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the console's site as `admin.site`."""

    default_site = "circletel.admin_site.ConsoleAdminSite"
