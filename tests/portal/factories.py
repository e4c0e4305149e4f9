"""Dashboard test data: invoices, payments, ledger entries, usage, payment methods."""

import datetime as dt
from datetime import date
from decimal import Decimal

import factory

from billing.models import LedgerEntry
from tests.factories import (  # noqa: F401  (re-exported for the dashboard tests)
    CustomerFactory,
    CustomerServiceFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    UserFactory,
)
from usage.models import UsageRecord


def customer_with_login(**kwargs):
    """A customer linked to a user who can sign in with password `correct-horse-battery`."""
    user = UserFactory()
    customer = CustomerFactory(user=user, email=user.email, **kwargs)
    return customer


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerEntry

    customer = factory.SubFactory(CustomerFactory)
    entry_type = LedgerEntry.EntryType.INVOICE
    amount = Decimal("899.00")
    reference = factory.Sequence(lambda n: f"test:{n}")
    description = "Invoice"
    effective_date = date(2026, 11, 1)


class UsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    service = factory.SubFactory(CustomerServiceFactory)
    date = dt.date(2026, 11, 2)
    upload_mb = Decimal("100.00")
    download_mb = Decimal("924.00")
    cycle_start = dt.date(2026, 11, 1)


def payment_method(customer, *, primary=False, last_four="4242", brand="Visa"):
    from payments.models import PaymentMethod

    return PaymentMethod.objects.create(customer=customer, method_type=PaymentMethod.Type.CARD,
                                        display_name=f"{brand} ***{last_four}", last_four=last_four,
                                        card_expiry_month=12, card_expiry_year=2030, is_primary=primary)
