from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CustomerService, Invoice, ServiceActionLog
from circletel.models import JobRun
from tests.billing.factories import service as make_service
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = UserFactory(email="staff@circletel.co.za", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_activate_action_asks_for_a_reason_then_calls_the_service(staff_client):
    svc = make_service(monthly_price=Decimal("499.00"))
    url = reverse("admin:billing_customerservice_changelist")
    response = staff_client.post(url, {"action": "activate", "_selected_action": [svc.pk]})
    assert response.status_code == 200 and b"reason" in response.content
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.PENDING  # nothing yet
    response = staff_client.post(url, {"action": "activate", "_selected_action": [svc.pk], "apply": "1",
                                       "reason": "installed on site"})
    assert response.status_code == 302
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.ACTIVE
    assert ServiceActionLog.objects.get(service=svc).actor_label == "staff@circletel.co.za"
    assert Invoice.objects.filter(service=svc, invoice_type="pro_rata").count() == 1


def test_illegal_action_shows_an_error_and_changes_nothing(staff_client):
    svc = make_service()
    url = reverse("admin:billing_customerservice_changelist")
    response = staff_client.post(url, {"action": "reactivate", "_selected_action": [svc.pk], "apply": "1",
                                       "reason": "why not"}, follow=True)
    assert "Cannot reactivate a service that is pending" in response.content.decode()
    assert not ServiceActionLog.objects.exists()


def test_pages_render(staff_client):
    svc = make_service()
    from billing.services.lifecycle import service_activate

    invoice = service_activate(service=svc, reason="live", activation_date=date(2026, 1, 15))
    for url in (reverse("admin:billing_customer_change", args=[svc.customer_id]),
                reverse("admin:billing_customerservice_change", args=[svc.pk]),
                reverse("admin:billing_invoice_change", args=[invoice.pk]),
                reverse("admin:billing_invoice_changelist"), reverse("admin:billing_ledgerentry_changelist"),
                reverse("admin:billing_creditnote_changelist"), reverse("admin:billing_invoice_generate_now")):
        assert staff_client.get(url).status_code == 200, url


def test_generate_now_starts_the_run_task(staff_client, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:billing_invoice_generate_now"))
    assert response.status_code == 302
    job = JobRun.objects.get()
    # A queued run for today (issue 20: the task claims the row; a lost task is queued again by the sweep).
    assert (job.status, job.run_key, job.triggered_by) == ("queued", timezone.localdate().isoformat(),
                                                            "admin:staff@circletel.co.za")
    assert queued == [("billing.tasks.run_invoice_run", ())]


def test_void_and_reissue_links_the_two_invoices_on_their_admin_pages(staff_client):
    from billing.services.lifecycle import service_activate

    invoice = service_activate(service=make_service(), reason="live", activation_date=date(2026, 1, 15))
    url = reverse("admin:billing_invoice_changelist")
    response = staff_client.post(url, {"action": "void_invoices", "_selected_action": [invoice.pk], "apply": "1",
                                       "reason": "wrong installation date", "reissue": "on"})
    assert response.status_code == 302
    replacement = Invoice.objects.get(replaces=invoice)
    assert (Invoice.objects.get(pk=invoice.pk).status, replacement.status) == ("void", "unpaid")

    original_page = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    replacement_page = staff_client.get(reverse("admin:billing_invoice_change", args=[replacement.pk])).content.decode()
    assert f'{reverse("admin:billing_invoice_change", args=[replacement.pk])}">{replacement.number}</a>' in original_page
    assert f'{reverse("admin:billing_invoice_change", args=[invoice.pk])}">{invoice.number}</a>' in replacement_page
