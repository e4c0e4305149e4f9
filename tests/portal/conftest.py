import pytest

from tests.factories import CustomerServiceFactory, UserFactory
from tests.portal.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    UsageFactory,
    customer_with_login,
    payment_method,
)


@pytest.fixture
def world(db):
    """Two customers (A and B) each with a service, an invoice with a line, a payment and a method; and staff."""
    out = {}
    for key in ("a", "b"):
        c = customer_with_login()
        svc = CustomerServiceFactory(customer=c, status="active", data_cap_gb=100)
        inv = InvoiceFactory(customer=c, service=svc)
        InvoiceLineFactory(invoice=inv)
        pay = PaymentFactory(customer=c, invoice=inv)
        UsageFactory(service=svc)
        pm = payment_method(c, primary=True)
        out[key] = {"customer": c, "service": svc, "invoice": inv, "payment": pay, "method": pm}
    out["staff"] = UserFactory(is_staff=True, is_superuser=True)
    return out


@pytest.fixture
def signed_in_customer(client):
    """Thandi, a customer with a login, signed in on `client`."""
    c = customer_with_login(first_name="Thandi")
    client.force_login(c.user)
    return c
