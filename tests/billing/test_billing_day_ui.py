"""Issue 16, finding 5 (first half): the customer chooses a billing day (1/5/25/30) and changes it later.

From the dashboard profile, a change is a request in two steps: the customer first sees what it costs
per service (the lifecycle's own quote), then confirms; the account's preferred day changes (new
services get it) and each live service moves through `service_change_billing_day`, which bills or
credits the stub period. The preferred day also reaches services created later.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import BillingAccount, CustomerService, Invoice, ServiceActionLog
from billing.services.customers import customer_billing_day
from billing.services.invoice_run import invoice_run
from billing.services.lifecycle import billing_day_change_quote, service_activate
from circletel.money import format_zar
from tests.billing.factories import service as make_service
from tests.portal.factories import customer_with_login

D = Decimal
pytestmark = pytest.mark.django_db
URL = "/dashboard/profile/billing-day/"


def _customer_with_active_service(day=1):
    customer = customer_with_login()
    svc = make_service(customer=customer, monthly_price=D("899.00"), billing_day=day)
    service_activate(service=svc, reason="installed", activation_date=timezone.localdate() - timedelta(days=40))
    invoice_run(run_date=timezone.localdate())  # billed up to date, as the daily run keeps it
    svc.refresh_from_db()
    return customer, svc


def test_the_profile_offers_the_four_billing_days(client):
    customer, _svc = _customer_with_active_service()
    client.force_login(customer.user)
    body = client.get("/dashboard/profile/").content.decode()
    assert 'data-testid="billing-day-form"' in body
    for day in (1, 5, 25, 30):
        assert f'<option value="{day}"' in body
    assert '<option value="15"' not in body


def test_the_first_step_shows_the_cost_and_changes_nothing(client):
    customer, svc = _customer_with_active_service()
    invoices_before = Invoice.objects.count()
    client.force_login(customer.user)

    response = client.post(URL, {"billing_day": "25"})

    assert response.status_code == 200
    quote = billing_day_change_quote(service=svc, new_day=25)
    body = response.content.decode()
    assert quote["description"] in body
    assert format_zar(abs(quote["amount"])) in body
    assert 'data-testid="billing-day-confirm"' in body
    svc.refresh_from_db()
    assert svc.billing_day == 1
    assert BillingAccount.objects.get(customer=customer).preferred_billing_day == 1
    assert Invoice.objects.count() == invoices_before


def test_confirming_moves_the_account_and_its_services_through_the_lifecycle(client):
    customer, svc = _customer_with_active_service()
    quote = billing_day_change_quote(service=svc, new_day=25)
    invoices_before = set(Invoice.objects.values_list("pk", flat=True))
    client.force_login(customer.user)

    response = client.post(URL, {"billing_day": "25", "confirm": "True", "quoted": str(quote["amount"])})

    assert response.status_code == 302 and response.url == "/dashboard/profile/"
    svc.refresh_from_db()
    assert svc.billing_day == 25
    assert BillingAccount.objects.get(customer=customer).preferred_billing_day == 25
    log = ServiceActionLog.objects.filter(service=svc, action="update").latest("pk")
    assert "billing day 1 -> 25" in log.reason and log.actor_id == customer.user_id
    new = Invoice.objects.exclude(pk__in=invoices_before)
    if quote["amount"] > 0:
        assert [i.total for i in new] == [quote["amount"]]
    page = client.get("/dashboard/profile/").content.decode()
    assert "Your billing day is now the 25." in page


def test_a_stale_quote_is_not_applied(client):
    customer, svc = _customer_with_active_service()
    client.force_login(customer.user)
    quote = billing_day_change_quote(service=svc, new_day=25)

    response = client.post(URL, {"billing_day": "25", "confirm": "True", "quoted": str(quote["amount"] + D("1.00"))})

    assert response.status_code == 409
    assert "The amount changed since you looked" in response.content.decode()
    svc.refresh_from_db()
    assert svc.billing_day == 1
    assert BillingAccount.objects.get(customer=customer).preferred_billing_day == 1


def test_a_day_other_than_1_5_25_30_is_refused_with_a_reason(client):
    customer, svc = _customer_with_active_service()
    client.force_login(customer.user)

    response = client.post(URL, {"billing_day": "15", "confirm": "True", "quoted": "0.00"})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    svc.refresh_from_db()
    assert (svc.billing_day, BillingAccount.objects.get(customer=customer).preferred_billing_day) == (1, 1)


def test_without_services_only_the_preferred_day_changes_and_reaches_new_services(client):
    customer = customer_with_login()
    client.force_login(customer.user)
    response = client.post(URL, {"billing_day": "5"})
    assert "This change costs nothing." in response.content.decode()

    response = client.post(URL, {"billing_day": "5", "confirm": "True", "quoted": "0.00"})

    assert response.status_code == 302
    assert BillingAccount.objects.get(customer=customer).preferred_billing_day == 5
    assert customer_billing_day(customer) == 5
    again = client.post(URL, {"billing_day": "5", "confirm": "True", "quoted": "0.00"})
    assert again.status_code == 400 and "already the 5" in again.content.decode()


def test_a_suspended_service_keeps_its_day_and_says_so(client):
    customer, svc = _customer_with_active_service()
    CustomerService.objects.filter(pk=svc.pk).update(status=CustomerService.Status.SUSPENDED)
    client.force_login(customer.user)

    body = client.post(URL, {"billing_day": "25"}).content.decode()
    assert "Suspended: it keeps billing day 1" in body
    response = client.post(URL, {"billing_day": "25", "confirm": "True", "quoted": "0.00"})

    assert response.status_code == 302
    svc.refresh_from_db()
    assert svc.billing_day == 1
    assert BillingAccount.objects.get(customer=customer).preferred_billing_day == 25


def test_a_change_the_lifecycle_refuses_is_a_400_with_its_reason_and_changes_nothing(client):
    """An active service whose current period the run has not billed yet: the lifecycle's quote refuses,
    and the page says why (positive control: `test_the_first_step_shows_the_cost_and_changes_nothing`)."""
    customer = customer_with_login()
    svc = make_service(customer=customer, monthly_price=D("899.00"), billing_day=1)
    service_activate(service=svc, reason="installed", activation_date=timezone.localdate() - timedelta(days=40))
    client.force_login(customer.user)

    response = client.post(URL, {"billing_day": "25"})

    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="billing-day-form"' in body and '<div class="errors"><ul class="errorlist"' in body
    svc.refresh_from_db()
    assert (svc.billing_day, BillingAccount.objects.get(customer=customer).preferred_billing_day) == (1, 1)
