import io

import pytest

from billing.demo import seed_demo
from billing.models import CustomerService, Invoice
from billing.services.ledger_check import ledger_differences
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_consistent():
    for email in ("thandiwe.nkosi@example.co.za", "pieter.vdm@example.co.za", "aisha.patel@example.co.za",
                  "johan@karoo-guesthouse.example.co.za"):
        CustomerFactory(email=email)
    CustomerFactory(email="sipho@dlamini-logistics.example.co.za", account_type="business", company_name="Dlamini")
    seed_demo(io.StringIO())
    counts = (CustomerService.objects.count(), Invoice.objects.count())
    statuses = sorted(CustomerService.objects.values_list("status", flat=True))
    assert statuses == ["active", "active", "active", "pending", "suspended"]
    assert Invoice.objects.filter(invoice_type="pro_rata").count() == 4
    assert Invoice.objects.filter(invoice_type="recurring").count() >= 4
    replacement = Invoice.objects.get(replaces__isnull=False)
    assert (replacement.customer.email, replacement.replaces.status) == ("sipho@dlamini-logistics.example.co.za", "void")
    seed_demo(io.StringIO())
    assert (CustomerService.objects.count(), Invoice.objects.count()) == counts
    assert ledger_differences() == []
