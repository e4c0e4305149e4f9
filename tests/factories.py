"""Shared factories. Apps add theirs in tests/<app>/factories.py, building on these."""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from billing.models import BillingAccount, Customer, CustomerService, Invoice, InvoiceLine
from payments.models import PaymentTransaction


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    email = factory.Sequence(lambda n: f"user{n}@example.co.za")
    username = factory.SelfAttribute("email")
    password = factory.django.Password("correct-horse-battery")


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer with a billing account (as `customer_create` makes one), numbered outside the
    live sequence range so tests that use the service still see their own numbers."""

    class Meta:
        model = Customer
        skip_postgeneration_save = True

    account_number = factory.Sequence(lambda n: f"CT-2026-{90000 + n:05d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.co.za")
    phone = factory.Sequence(lambda n: f"+2782{n:07d}")
    address_line1 = "12 Jacaranda Street"
    city = "Pretoria"
    province = "Gauteng"
    postal_code = "0181"
    billing_account = factory.RelatedFactory("tests.factories.BillingAccountFactory", factory_related_name="customer")


class BillingAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillingAccount

    customer = factory.SubFactory(CustomerFactory, billing_account=None)


class CustomerServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerService

    customer = factory.SubFactory(CustomerFactory)
    service_type = CustomerService.ServiceType.FIBRE
    package_name = "Fibre 50/50"
    download_mbps = 50
    upload_mbps = 50
    monthly_price = Decimal("899.00")
    billing_day = 1
    installation_address = "12 Jacaranda Street, Pretoria"


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
