"""Issue 16, finding 6: the dashboard's "next invoice" is the invoice run's own plan (one planner).

It used to sum monthly prices, ignore skip-billing suspension days, and after the run (which issues
7 days ahead) show the period after the one already invoiced. Each test compares the preview with
what the run really issues.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Customer, Invoice, Suspension
from billing.proration import billing_period
from billing.services.invoice_run import invoice_run, service_next_invoice_preview
from portal.selectors import next_invoice_preview
from tests.factories import CustomerServiceFactory
from tests.portal.factories import customer_with_login

D = Decimal
pytestmark = pytest.mark.django_db


def _active(customer, **kwargs):
    defaults = {"status": "active", "billing_day": 1, "monthly_price": D("899.00"), "next_billing_date": date(2026, 12, 1),
                "activation_date": date(2026, 10, 1)}
    return CustomerServiceFactory(customer=customer, **{**defaults, **kwargs})


def _preview(customer, today):
    customer = Customer.objects.get(pk=customer.pk)
    return next_invoice_preview(customer=customer, services=list(customer.services.all()), today=today)


def test_after_the_run_it_shows_the_invoice_already_issued_for_the_upcoming_period():
    customer = customer_with_login()
    svc = _active(customer)
    invoice_run(run_date=date(2026, 11, 24))  # 7 days ahead: the December invoice is issued
    issued = Invoice.objects.get(service=svc)
    assert (issued.period_start, issued.total) == (date(2026, 12, 1), D("899.00"))

    nxt = _preview(customer, date(2026, 11, 25))

    assert (nxt.date, nxt.amount, nxt.estimate) == (date(2026, 12, 1), D("899.00"), False)
    assert nxt.invoices == [issued]
    # positive control: once December has started, the next one is January's (planned, not issued)
    later = _preview(customer, date(2026, 12, 2))
    assert (later.date, later.estimate) == (date(2027, 1, 1), True)


def test_skip_billing_days_come_off_the_preview_as_the_run_takes_them_off():
    customer = customer_with_login()
    svc = _active(customer, next_billing_date=date(2026, 12, 1))
    Suspension.objects.create(service=svc, kind="customer_request", reason="away", suspended_on=date(2026, 11, 20),
                              reactivated_on=date(2026, 12, 11), skip_billing=True)  # 1-10 Dec not billed

    nxt = _preview(customer, date(2026, 11, 23))
    invoice_run(run_date=date(2026, 11, 24))
    issued = Invoice.objects.get(service=svc)

    assert issued.total == D("609.00")  # 899.00 x 21/31 = 608.999, rounded once
    assert (nxt.date, nxt.amount) == (date(2026, 12, 1), issued.total)
    assert nxt.items[0].description == issued.lines.get().description


def test_a_service_under_an_open_skip_billing_suspension_is_not_in_the_preview():
    customer = customer_with_login()
    paused = _active(customer, status="suspended")
    Suspension.objects.create(service=paused, kind="customer_request", reason="away", suspended_on=date(2026, 11, 1),
                              skip_billing=True)
    running = _active(customer, monthly_price=D("399.00"))

    nxt = _preview(customer, date(2026, 11, 20))

    assert (nxt.date, nxt.amount) == (date(2026, 12, 1), D("399.00"))
    assert nxt.paused == [paused]
    invoice_run(run_date=date(2026, 11, 24))
    assert list(Invoice.objects.values_list("service_id", "total")) == [(running.pk, D("399.00"))]


def test_a_suspended_service_that_is_still_billed_is_in_the_preview():
    """Suspended without skip-billing (non-payment): the run still bills it, so the preview counts it."""
    customer = customer_with_login()
    _active(customer, status="suspended", monthly_price=D("499.00"))

    nxt = _preview(customer, date(2026, 11, 20))
    invoice_run(run_date=date(2026, 11, 24))

    assert nxt.amount == D("499.00") == Invoice.objects.get().total


def test_business_vat_is_the_invoices_and_the_preview_equals_the_runs_own_preview():
    customer = customer_with_login(account_type="business", company_name="Acme")
    svc = _active(customer, monthly_price=D("999.99"))

    nxt = _preview(customer, date(2026, 11, 20))

    assert nxt.amount == service_next_invoice_preview(service=svc)["total"] == D("1149.99")
    invoice_run(run_date=date(2026, 11, 24))
    assert Invoice.objects.get().total == nxt.amount


def test_the_home_page_and_the_api_say_the_invoice_is_issued(client):
    customer = customer_with_login()
    upcoming = billing_period(timezone.localdate(), 25)[1]  # the pages use today's date
    _active(customer, billing_day=25, next_billing_date=upcoming)
    invoice_run(run_date=upcoming - timedelta(days=7))
    issued = Invoice.objects.get()
    client.force_login(customer.user)

    body = client.get("/dashboard/").content.decode()
    api = client.get("/api/dashboard/summary").json()["next_invoice"]

    assert f"Already issued: <a href=\"/dashboard/invoices/{issued.pk}/\">{issued.number}</a>" in body
    assert api["items"][0]["invoice_number"] == issued.number and api["estimate"] is False
