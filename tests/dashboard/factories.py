"""Dashboard test data: invoices, payments, ledger entries, usage, payment methods."""

import datetime as dt
from datetime import date, timedelta
from decimal import Decimal

import factory

from billing.models import Invoice, InvoiceLine, LedgerEntry, UsageRecord
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, CustomerServiceFactory, UserFactory


def customer_with_login(**kwargs):
    """A customer linked to a user who can sign in with password `correct-horse-battery`."""
    user = UserFactory()
    customer = CustomerFactory(user=user, email=user.email, **kwargs)
    return customer


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    number = factory.Sequence(lambda n: f"INV-2026-{80000 + n:05d}")
    customer = factory.SubFactory(CustomerFactory)
    invoice_type = Invoice.InvoiceType.RECURRING
    issue_date = date(2026, 11, 1)
    due_date = factory.LazyAttribute(lambda o: o.issue_date + timedelta(days=7))
    prices_include_vat = True
    subtotal = Decimal("781.74")
    vat_amount = Decimal("117.26")
    total = Decimal("899.00")
    status = Invoice.Status.UNPAID


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Fibre 50/50 monthly"
    unit_price = Decimal("899.00")
    amount = Decimal("899.00")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentTransaction

    customer = factory.SubFactory(CustomerFactory)
    amount = Decimal("899.00")
    method = PaymentTransaction.Method.CARD
    provider = PaymentTransaction.Provider.SANDBOX
    reference = factory.Sequence(lambda n: f"PAY-TEST-{n:06d}")
    status = PaymentTransaction.Status.COMPLETED


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
