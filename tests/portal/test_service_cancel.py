"""Issue 16, finding 7: the customer sees the final amount before confirming a cancellation."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditNote, CustomerService, ServiceActionLog
from billing.services.lifecycle import service_activate
from tests.factories import CustomerServiceFactory
from tests.portal.factories import customer_with_login

pytestmark = pytest.mark.django_db
D = Decimal


def _live(customer, price="620.00"):
    svc = CustomerServiceFactory(customer=customer, monthly_price=D(price), billing_day=1, installation_fee=D("0"),
                                 router_fee=D("0"))
    today = timezone.localdate()
    service_activate(service=svc, reason="installed", activation_date=today.replace(day=1))
    return svc


def test_cancelling_shows_the_amount_first_then_cancels_with_it(client):
    customer = customer_with_login()
    svc = _live(customer)
    client.force_login(customer.user)
    url = reverse("dashboard:service-cancel", args=[svc.pk])
    page = client.get(reverse("dashboard:service", args=[svc.pk])).content.decode()
    assert 'data-testid="cancel-start"' in page

    step_one = client.post(url, {"reason": "moving to Cape Town"})
    assert step_one.status_code == 200
    quote = step_one.context["quote"]
    assert quote["credit"] > 0 and 'data-testid="cancel-amount"' in step_one.content.decode()
    svc.refresh_from_db()
    assert svc.status == "active" and not CreditNote.objects.exists()  # nothing changed yet

    done = client.post(url, {"reason": "moving to Cape Town", "confirm": "True", "quoted": str(quote["credit"])})
    assert done.status_code == 302
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.CANCELLED
    assert CreditNote.objects.get().total == quote["credit"]
    assert customer.billing_account.__class__.objects.get(customer=customer).balance == quote["balance_after"]
    log = ServiceActionLog.objects.get(service=svc, action="cancel")
    assert log.reason == "Customer's request from the dashboard: moving to Cape Town" and log.actor == customer.user


def test_a_changed_amount_or_missing_reason_or_someone_else_s_service_changes_nothing(client):
    customer, other = customer_with_login(), customer_with_login()
    svc, theirs = _live(customer), _live(other)
    client.force_login(customer.user)
    url = reverse("dashboard:service-cancel", args=[svc.pk])

    stale = client.post(url, {"reason": "leaving", "confirm": "True", "quoted": "1.00"})
    assert stale.status_code == 409 and 'data-testid="quote-changed"' in stale.content.decode()
    assert client.post(url, {"reason": "  "}).status_code == 400
    assert client.post(reverse("dashboard:service-cancel", args=[theirs.pk]), {"reason": "x"}).status_code == 404
    assert set(CustomerService.objects.values_list("status", flat=True)) == {"active"}
    assert not CreditNote.objects.exists()


def test_opening_the_cancel_and_billing_day_urls_directly_leads_back_to_their_forms(client):
    customer = customer_with_login()
    svc = _live(customer)
    client.force_login(customer.user)
    cancel = client.get(reverse("dashboard:service-cancel", args=[svc.pk]))
    assert cancel.status_code == 302 and cancel.url == reverse("dashboard:service", args=[svc.pk])
    day = client.get(reverse("dashboard:billing-day"))
    assert day.status_code == 302 and day.url == reverse("dashboard:profile")


def test_a_credit_balance_reads_without_a_double_negative(client):
    from billing.services.ledger import ledger_post

    customer = customer_with_login()
    svc = _live(customer)
    ledger_post(customer=customer, entry_type="adjustment", amount=D("-5000.00"), reference="adj:credit",
                description="goodwill")
    client.force_login(customer.user)
    page = client.post(reverse("dashboard:service-cancel", args=[svc.pk]), {"reason": "leaving"}).content.decode()
    assert " in credit" in page and "-R " not in page.split('data-testid="cancel-balance"')[1].split("</p>")[0]


def test_the_profile_says_the_days_the_services_are_really_billed_on(client):
    customer = customer_with_login()
    CustomerServiceFactory(customer=customer, billing_day=25, status="active")
    client.force_login(customer.user)
    page = client.get(reverse("dashboard:profile")).content.decode()
    assert 'invoiced on day <strong data-testid="billing-day">25</strong>' in page  # not the account's day 1
    assert "new services on day 1" in page
