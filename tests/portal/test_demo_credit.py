import io

import pytest

from billing.models import Customer, Invoice
from billing.services.ledger_check import ledger_differences
from portal.demo import CREDIT_DEMO, DAY_CHANGE_DEMO, _credit_and_day_change

pytestmark = pytest.mark.django_db


def test_the_demo_shows_credit_paying_an_invoice_and_a_day_change_stub_once():
    out = io.StringIO()
    _credit_and_day_change(out)
    in_credit = Customer.objects.get(email=CREDIT_DEMO[0])
    invoice = Invoice.objects.get(customer=in_credit)
    assert invoice.status == Invoice.Status.PAID and in_credit.billing_account.balance < 0
    moved = Customer.objects.get(email=DAY_CHANGE_DEMO[0])
    stub = Invoice.objects.get(customer=moved, invoice_type="pro_rata", period_start__day=1, lines__days_in_period__gt=0,
                               replaces__isnull=True, service__billing_day__in=[5, 25], issue_date__isnull=False,
                               period_end__day__in=[5, 25])
    assert " of " in stub.lines.get().description  # "(24 of 30 days)": explained like other pro-rata lines
    assert "paid from that credit" in out.getvalue() and "moved to billing day" in out.getvalue()
    assert in_credit.user is not None and in_credit.user.check_password("circletel-demo")  # they can sign in
    counts = Invoice.objects.count()
    _credit_and_day_change(io.StringIO())
    assert Invoice.objects.count() == counts and ledger_differences() == []
