import io

import pytest

from payments.demo import seed_demo
from payments.models import PaymentMethod, PaymentTransaction
from tests.factories import CustomerServiceFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    invoices = []
    for i in range(3):
        service = CustomerServiceFactory(provider_order_id=f"DEMO-{i:05d}")
        invoices.append(make_invoice(service.customer, "499.00"))
    out = io.StringIO()
    seed_demo(out)
    seed_demo(out)
    assert sorted(PaymentTransaction.objects.values_list("status", flat=True)) == [
        "completed", "completed", "failed", "partially_refunded", "refunded"]
    method = PaymentMethod.objects.get()
    assert (method.display_name, method.mandate_status) == ("FNB ***4567", "active")
    assert ("payments: 4 demo payment(s), 1 declined, 1 debit-order method(s) (masked, mandate active), "
            "4 receipt(s) with PDF, 2 refund(s)") in out.getvalue()
    assert ("payments: 0 demo payment(s), 0 declined, 0 debit-order method(s) (masked, mandate active), "
            "0 receipt(s) with PDF, 0 refund(s)") in out.getvalue()


def test_seed_demo_without_invoices_does_nothing():
    out = io.StringIO()
    seed_demo(out)
    assert PaymentTransaction.objects.count() == 0
    assert "no demo invoices" in out.getvalue()
