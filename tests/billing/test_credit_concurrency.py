"""Account credit under real concurrency (PostgreSQL): credit is spent once, and invoices issued while
payments, refunds and reversals land for the same customer never deadlock or leave an open invoice
beside credit."""

from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Invoice
from billing.services.credit import unapplied_credit
from billing.services.invoices import LineSpec, invoice_create
from billing.services.ledger_check import ledger_differences
from payments.models import PaymentAllocation
from payments.services.payments import payment_complete, payment_reverse
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def _issue(customer_id, amount, label):
    from billing.models import Customer

    return invoice_create(customer=Customer.objects.get(pk=customer_id), invoice_type="adjustment",
                          lines=[LineSpec(description=label, amount=D(amount))])


def test_credit_is_spent_once_by_invoices_issued_at_the_same_moment():
    customer = CustomerFactory()
    payment_complete(reference="PREPAY", amount=D("500.00"), customer=customer, method="eft", provider="manual")
    outcomes = run_concurrently(_issue, [(customer.pk, "200.00", f"charge {i}") for i in range(6)])
    assert all(isinstance(o, Invoice) for o in outcomes), outcomes
    # R 500 of credit pays R 1,200 of invoices exactly once: two in full, one R 100, three unpaid.
    assert sum(PaymentAllocation.objects.values_list("amount", flat=True)) == D("500.00")
    paid = sorted(Invoice.objects.values_list("amount_paid", flat=True))
    assert paid == [D("0.00")] * 3 + [D("100.00"), D("200.00"), D("200.00")]
    assert unapplied_credit(customer.pk) == D("0.00") and ledger_differences() == []


def test_payments_reversals_and_invoices_for_one_customer_at_once_keep_the_books():
    customer = CustomerFactory()
    first = payment_complete(reference="P-0", amount=D("300.00"), customer=customer, method="eft", provider="manual")

    def work(kind, i):
        from billing.models import Customer

        c = Customer.objects.get(pk=customer.pk)
        if kind == "invoice":
            return _issue(c.pk, "150.00", f"charge {i}")
        if kind == "pay":
            return payment_complete(reference=f"P-{i}", amount=D("120.00"), customer=c, method="eft",
                                    provider="manual")
        return payment_reverse(payment=first, reason="returned")

    calls = [("invoice", i) for i in range(4)] + [("pay", i) for i in range(1, 4)] + [("reverse", 0)]
    outcomes = run_concurrently(work, calls)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes  # no deadlock, no refusal
    assert ledger_differences() == []
    has_open = Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES).exists()
    assert not (has_open and unapplied_credit(customer.pk) > 0)
    assert connection.vendor == "postgresql"
