"""Billing factories building on tests/factories.py."""

from decimal import Decimal

from billing.models import Customer
from tests.factories import CustomerFactory, CustomerServiceFactory  # noqa: F401


def business_customer(**kwargs) -> Customer:
    return CustomerFactory(account_type=Customer.AccountType.BUSINESS, company_name="Acme (Pty) Ltd", **kwargs)


def service(**kwargs):
    defaults = {"monthly_price": Decimal("499.00"), "installation_fee": Decimal("0.00"), "router_fee": Decimal("0.00")}
    defaults.update(kwargs)
    return CustomerServiceFactory(**defaults)
