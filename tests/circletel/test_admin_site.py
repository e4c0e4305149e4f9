"""The console's index is organised around the work (issue 18): groups named for what staff do, the console's
tools beside the models they concern, technical models grouped last; schedules read their last run as a time;
job-run numbers link to the run; the ZOHO dashboard's buttons are admin buttons."""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule, Task

from circletel.admin_site import ConsoleAdminSite
from circletel.admin_tools import job_run_link
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(email="boss@circletel.co.za", is_staff=True, is_superuser=True))
    return client


def _groups(response) -> dict[str, list[str]]:
    return {str(app["name"]): [str(m["object_name"]) for m in app["models"]] for app in response.context["app_list"]}


def test_the_site_is_the_console_site():
    assert isinstance(admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site, ConsoleAdminSite)


def test_index_is_grouped_by_the_work_with_technical_models_last(superuser_client):
    response = superuser_client.get(reverse("admin:index"))

    groups = _groups(response)
    names = list(groups)
    assert names[:7] == ["Customers & services", "Billing", "Payments", "ZOHO", "Reservations", "Operations",
                         "Users & sign-in"]
    assert names[-1].startswith("Technical")
    assert groups["Customers & services"][:2] == ["Customer", "CustomerService"]
    assert groups["Billing"] == ["Invoice", "CreditNote", "LedgerEntry", "billing_invoice_run_preview",
                                 "billing_ledger_check"]
    assert groups["ZOHO"][0] == "SyncDashboard"
    assert {"JobRun", "Schedule", "WebhookEvent"} <= set(groups["Operations"])
    # django-q2 lists its queue (OrmQ) in the admin only with the ORM broker (CI runs with Redis).
    from django.contrib import admin
    from django_q.models import OrmQ

    technical = {"TokenProxy", "IdempotencyKey", "Success"} | ({"OrmQ"} if admin.site.is_registered(OrmQ) else set())
    assert technical <= set(groups[names[-1]])
    assert not technical & {m for name in names[:-1] for m in groups[name]}
    # Every registered model is somewhere, once.
    listed = [m for models in groups.values() for m in models if not m.startswith("billing_")]
    assert sorted(listed) == sorted(model.__name__ for model in admin.site._registry)
    html = response.content.decode()
    assert f'<a href="{reverse("admin:billing_ledger_check")}">Check the ledger</a>' in html
    assert f'<a href="{reverse("admin:billing_invoice_run_preview")}">Preview the invoice run (dry run)</a>' in html


def test_index_shows_only_what_the_user_may_see(client):
    user = UserFactory(email="ops@circletel.co.za", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(user)

    groups = _groups(client.get(reverse("admin:index")))

    assert groups == {"Billing": ["Invoice", "billing_invoice_run_preview"]}


def test_an_apps_own_page_keeps_its_models(superuser_client):
    response = superuser_client.get(reverse("admin:app_list", args=["billing"]))

    assert list(_groups(response)) == ["Billing"]
    assert "Customer" in _groups(response)["Billing"] and "UsageRecord" not in _groups(response)["Billing"]


def test_schedules_show_the_last_run_as_a_time(superuser_client):
    stopped = timezone.now() - timedelta(hours=3)
    Task.objects.create(id="a" * 32, name="fifteen-hotel-oscar-kilo", func="billing.tasks.run", started=stopped,
                        stopped=stopped, success=True)
    ran = Schedule.objects.create(name="circletel:generate_invoices", func="billing.tasks.run",
                                  schedule_type=Schedule.DAILY, next_run=timezone.now() + timedelta(hours=5),
                                  task="a" * 32)
    Schedule.objects.create(name="circletel:never", func="billing.tasks.other", schedule_type=Schedule.DAILY,
                            next_run=timezone.now() + timedelta(hours=5))

    html = superuser_client.get(reverse("admin:django_q_schedule_changelist")).content.decode()

    local = timezone.localtime(stopped)
    when = f"{local.day} {local:%b %Y %H:%M} (3\xa0hours ago)"
    success = reverse("admin:django_q_success_change", args=["a" * 32])
    assert f'<a href="{success}" title="task fifteen-hotel-oscar-kilo">{when}</a>' in html
    assert re.search(r'<td class="field-last_run_at">never</td>', html)
    assert "[fifteen-hotel-oscar-kilo]" not in html
    assert re.search(r'<td class="field-next_run_at">\d{1,2} \w{3} \d{4} \d\d:\d\d \(4\xa0hours from now\)</td>', html)
    assert superuser_client.get(reverse("admin:django_q_schedule_change", args=[ran.pk])).status_code == 200


def test_job_run_link():
    assert job_run_link(12) == '<a href="/admin/circletel/jobrun/12/change/">job run #12</a>'
    assert job_run_link(5, "run <5>") == '<a href="/admin/circletel/jobrun/5/change/">run &lt;5&gt;</a>'


def test_zoho_dashboard_buttons_are_admin_buttons(superuser_client, settings):
    from billing.models import Customer
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed")

    html = superuser_client.get(reverse("admin:zoho_sync_syncdashboard_changelist")).content.decode()

    content = html.split('<div id="content"', 1)[1]  # the page's own, not the header's log-out or theme toggle
    buttons = re.findall(r"<button[^>]*>([^<]*)</button>", content)
    assert "Retry 1 failed/retrying customers now" in buttons and "Filter" in buttons
    assert re.findall(r"<button[^>]*>", content) == ['<button type="submit" class="button">'] * len(buttons)


def test_admin_pages_load_the_console_stylesheet(superuser_client):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert re.search(r'<link rel="stylesheet" href="/static/css/admin\.css', html)
