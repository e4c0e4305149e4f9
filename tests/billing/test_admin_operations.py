"""The billing console as the operations console (issue 18): lifecycle buttons on the service and customer
pages that offer only what the status allows and refuse before asking for a reason, the customer status
read-only, a readable service action log, "Check the ledger" and "Preview the invoice run" pages, and job-run
numbers that link to the run."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, CustomerService, Invoice, ServiceActionLog
from billing.services.lifecycle import service_activate, service_cancel, service_suspend
from circletel.models import JobRun
from tests.billing.factories import service as make_service
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="staff@circletel.co.za", is_staff=True, is_superuser=True))
    return client


def _messages(response) -> list[str]:
    return [str(m.message) for m in get_messages(response.wsgi_request)]


def _lifecycle_links(html: str) -> list[str]:
    """The lifecycle actions linked from a page, in order ("activate", "cancel", ...)."""
    return re.findall(r'href="/admin/billing/customerservice/\d+/lifecycle/(\w+)/', html)


def _active(**kwargs) -> CustomerService:
    svc = make_service(**kwargs)
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 15))
    return svc


def _change_url(svc) -> str:
    return reverse("admin:billing_customerservice_change", args=[svc.pk])


def _lifecycle(svc, action) -> str:
    return reverse("admin:billing_customerservice_lifecycle", args=[svc.pk, action])


# --- the buttons on the service page -------------------------------------------------------------------------

def test_service_page_offers_only_the_actions_its_status_allows(staff_client):
    pending = make_service()
    active = _active()
    suspended = _active()
    service_suspend(service=suspended, reason="arrears")
    cancelled = _active()
    service_cancel(service=cancelled, reason="moved")

    offered = {svc.status: _lifecycle_links(staff_client.get(_change_url(svc)).content.decode())
               for svc in (pending, active, suspended, cancelled)}

    assert offered == {"pending": ["activate", "cancel"], "active": ["suspend", "cancel"],
                       "suspended": ["reactivate", "cancel"], "cancelled": []}


def test_a_refused_action_asks_no_reason_and_changes_nothing(staff_client):
    cancelled = _active()
    service_cancel(service=cancelled, reason="moved")
    logs_before = ServiceActionLog.objects.count()

    response = staff_client.get(_lifecycle(cancelled, "suspend"))

    assert response.status_code == 302 and response["Location"] == _change_url(cancelled)
    assert _messages(response) == ["Cannot suspend a service that is cancelled."]
    # A POST with a reason is refused the same way: the status is checked first.
    response = staff_client.post(_lifecycle(cancelled, "suspend"), {"reason": "arrears", "kind": "non_payment"})
    assert response.status_code == 302
    assert ServiceActionLog.objects.count() == logs_before
    assert CustomerService.objects.get(pk=cancelled.pk).status == "cancelled"

    # Positive control: an active service is asked for the reason and the kind.
    active = _active()
    response = staff_client.get(_lifecycle(active, "suspend"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="reason"' in html and 'name="kind"' in html and 'name="skip_billing"' in html


def test_activate_button_takes_the_activation_date(staff_client):
    svc = make_service(monthly_price=Decimal("499.00"))

    form = staff_client.get(_lifecycle(svc, "activate")).content.decode()
    response = staff_client.post(_lifecycle(svc, "activate"), {"reason": "installed on site",
                                                               "activation_date": "2026-11-20"})

    assert 'name="activation_date"' in form and 'type="date"' in form
    svc.refresh_from_db()
    invoice = Invoice.objects.get(service=svc)
    assert (svc.status, svc.activation_date) == ("active", date(2026, 11, 20))
    assert (invoice.invoice_type, invoice.period_start) == ("pro_rata", date(2026, 11, 20))
    assert response.status_code == 302 and response["Location"] == _change_url(svc)
    assert _messages(response) == [f"{svc}: activated; first invoice {invoice.number} for "
                                   f"R {invoice.total:,.2f} issued"]
    log = ServiceActionLog.objects.get(service=svc)
    assert (log.action, log.reason, log.actor_label) == ("activate", "installed on site", "staff@circletel.co.za")


def test_a_reason_is_required(staff_client):
    svc = _active()

    response = staff_client.post(_lifecycle(svc, "suspend"), {"reason": "", "kind": "non_payment"})

    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert CustomerService.objects.get(pk=svc.pk).status == "active"
    # Positive control: with a reason it is suspended.
    staff_client.post(_lifecycle(svc, "suspend"), {"reason": "arrears", "kind": "non_payment"})
    assert CustomerService.objects.get(pk=svc.pk).status == "suspended"


def test_reactivate_and_cancel_buttons_call_the_services(staff_client):
    svc = _active()
    service_suspend(service=svc, reason="arrears")

    staff_client.post(_lifecycle(svc, "reactivate"), {"reason": "paid"})
    assert CustomerService.objects.get(pk=svc.pk).status == "active"
    cancel_page = staff_client.get(_lifecycle(svc, "cancel")).content.decode()
    assert "Cancelling today gives back:" in cancel_page
    response = staff_client.post(_lifecycle(svc, "cancel"), {"reason": "moved away"})

    assert CustomerService.objects.get(pk=svc.pk).status == "cancelled"
    assert _messages(response)[-1].startswith(f"{svc}: cancelled; no further invoices")
    assert list(ServiceActionLog.objects.filter(service=svc).order_by("pk").values_list("action", flat=True)) == [
        "activate", "suspend", "reactivate", "cancel"]


def test_unknown_action_is_404_and_staff_without_change_permission_are_refused(client):
    svc = make_service()
    viewer = UserFactory(email="viewer@circletel.co.za", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customerservice"))
    client.force_login(viewer)

    assert client.get(_lifecycle(svc, "suspend")).status_code == 403
    assert client.post(_lifecycle(svc, "activate"), {"reason": "x"}).status_code == 403
    assert _lifecycle_links(client.get(_change_url(svc)).content.decode()) == []
    assert CustomerService.objects.get(pk=svc.pk).status == "pending"

    client.force_login(UserFactory(email="boss@circletel.co.za", is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:billing_customerservice_change", args=[svc.pk]) + "lifecycle/delete/"
                      ).status_code == 404
    assert client.get(_lifecycle(svc, "activate")).status_code == 200  # positive control


# --- from the customer page ----------------------------------------------------------------------------------

def test_customer_page_lists_each_service_with_its_buttons_and_comes_back(staff_client):
    customer = CustomerFactory()
    pending = make_service(customer=customer)
    active = _active(customer=customer)
    customer_url = reverse("admin:billing_customer_change", args=[customer.pk])

    html = staff_client.get(customer_url).content.decode()
    suspend = re.search(rf'href="(/admin/billing/customerservice/{active.pk}/lifecycle/suspend/\?next=[^"]+)"', html)

    assert sorted(_lifecycle_links(html)) == ["activate", "cancel", "cancel", "suspend"]
    assert f"/admin/billing/customerservice/{pending.pk}/lifecycle/activate/" in html
    response = staff_client.post(suspend.group(1).replace("&amp;", "&"), {"reason": "arrears", "kind": "non_payment"})
    assert response.status_code == 302 and response["Location"] == customer_url
    assert CustomerService.objects.get(pk=active.pk).status == "suspended"


def test_next_must_be_on_this_site(staff_client):
    svc = _active()

    response = staff_client.post(_lifecycle(svc, "suspend") + "?next=https://evil.example/x",
                                 {"reason": "arrears", "kind": "non_payment"})

    assert response["Location"] == _change_url(svc)
    # Positive control: a path on this site is followed.
    response = staff_client.post(_lifecycle(svc, "reactivate") + "?next=/admin/billing/customer/",
                                 {"reason": "paid"})
    assert response["Location"] == "/admin/billing/customer/"


def test_customer_status_is_read_only_and_the_services_are_summarised(staff_client):
    customer = CustomerFactory()
    _active(customer=customer)
    suspended = _active(customer=customer)
    service_suspend(service=suspended, reason="arrears")

    html = staff_client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()

    assert 'name="status"' not in html
    assert re.search(r'<div class="readonly">Active</div>', html)
    assert f'?customer__id__exact={customer.pk}">1 active, 1 suspended</a>' in html
    # Positive control: an editable field of the same page is an input.
    assert 'name="first_name"' in html


# --- the list's actions check the status before asking -------------------------------------------------------

def test_bulk_action_leaves_out_rows_whose_status_does_not_allow_it(staff_client):
    active = _active()
    cancelled = _active()
    service_cancel(service=cancelled, reason="moved")
    url = reverse("admin:billing_customerservice_changelist")

    response = staff_client.post(url, {"action": "suspend", "_selected_action": [active.pk, cancelled.pk]})

    html = response.content.decode()
    assert response.status_code == 200 and 'name="reason"' in html
    assert re.findall(r'name="_selected_action" value="(\d+)"', html) == [str(active.pk)]
    assert _messages(response) == [f"{cancelled}: Cannot suspend a service that is cancelled."]


def test_bulk_action_with_no_row_it_applies_to_asks_nothing(staff_client):
    cancelled = _active()
    service_cancel(service=cancelled, reason="moved")

    response = staff_client.post(reverse("admin:billing_customerservice_changelist"),
                                 {"action": "reactivate", "_selected_action": [cancelled.pk]})

    assert response.status_code == 302
    assert _messages(response) == [f"{cancelled}: Cannot reactivate a service that is cancelled."]


# --- the action log reads as a change ------------------------------------------------------------------------

def test_action_log_shows_what_changed_not_json(staff_client):
    svc = _active(monthly_price=Decimal("1899.00"))
    service_suspend(service=svc, reason="arrears")
    log = ServiceActionLog.objects.get(service=svc, action="suspend")

    page = staff_client.get(_change_url(svc)).content.decode()
    log_page = staff_client.get(reverse("admin:billing_serviceactionlog_change", args=[log.pk])).content.decode()
    log_list = staff_client.get(reverse("admin:billing_serviceactionlog_changelist")).content.decode()

    today = log.new_state["suspension_date"]
    assert f"status: active &rarr; suspended<br>suspension date: - &rarr; {today}" in page
    assert "status: pending &rarr; active<br>activation date: - &rarr; 2026-01-15" in page
    assert '{"status"' not in page and "&quot;status&quot;" not in page
    assert f"status: active &rarr; suspended<br>suspension date: - &rarr; {today}" in log_list
    assert '<tr class="changed"><th>status</th><td>active</td><td>suspended</td></tr>' in log_page
    assert '<tr class=""><th>monthly price</th><td>R 1,899.00</td><td>R 1,899.00</td></tr>' in log_page


# --- check the ledger, preview the run, job-run links ------------------------------------------------------

def test_check_the_ledger_page(staff_client):
    customer = CustomerFactory()
    _active(customer=customer)
    url = reverse("admin:billing_ledger_check")

    assert "Check the ledger now" in staff_client.get(url).content.decode()
    ok = staff_client.post(url).content.decode()
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal("12.34"))
    broken = staff_client.post(url).content.decode()

    assert "Ledger OK" in ok and "ledger-differences" not in ok
    assert "1 difference between stored and recomputed amounts" in broken
    assert re.search(r"<td>balance</td><td>[^<]*</td><td class=\"num\">R 12.34</td>", broken)
    assert "Ledger OK" not in broken
    changelist = staff_client.get(reverse("admin:billing_ledgerentry_changelist")).content.decode()
    assert f'href="{url}"' in changelist


def test_check_the_ledger_needs_the_ledger_view_permission(client):
    user = UserFactory(email="ops@circletel.co.za", is_staff=True)
    client.force_login(user)
    assert client.post(reverse("admin:billing_ledger_check")).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    assert client.post(reverse("admin:billing_ledger_check")).status_code == 200


def test_preview_the_invoice_run_writes_no_invoice(staff_client):
    svc = _active(monthly_price=Decimal("499.00"))
    svc.refresh_from_db()
    invoices = Invoice.objects.count()
    url = reverse("admin:billing_invoice_run_preview")

    assert 'name="run_date"' in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"run_date": svc.next_billing_date.isoformat()})

    html = response.content.decode()
    run = JobRun.objects.filter(job_name="generate_invoices_preview").latest("pk")  # a preview's own job name
    assert Invoice.objects.count() == invoices
    assert run.details["dry_run"] is True and run.details["would_create"] == 1
    assert (f'Would create 1 invoice totalling R 499.00; 0 skipped '
            f'(<a href="/admin/circletel/jobrun/{run.pk}/change/">job run #{run.pk}</a>)') in html
    assert f'href="/admin/billing/customerservice/{svc.pk}/change/"' in html
    # Positive control: a date before anything is due would invoice nothing.
    quiet = staff_client.post(url, {"run_date": "2025-01-01"}).content.decode()
    assert "Would create 0 invoices totalling R 0.00" in quiet
    assert 'href="/admin/billing/invoice/preview-invoice-run/"' in staff_client.get(
        reverse("admin:billing_invoice_changelist")).content.decode()


def test_generate_now_message_links_to_the_job_run(staff_client, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:billing_invoice_generate_now"), follow=True)

    run = JobRun.objects.filter(job_name="generate_invoices").latest("pk")
    today = timezone.localdate()
    assert (f'Invoice run for {today:%-d %b %Y} started (<a href="/admin/circletel/jobrun/{run.pk}/change/">'
            f'job run #{run.pk}</a>).' in response.content.decode())
