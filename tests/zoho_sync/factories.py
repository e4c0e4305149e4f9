from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import Invoice, InvoiceLine
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    number = factory.Sequence(lambda n: f"INV-2026-{80000 + n:05d}")
    customer = factory.SubFactory(CustomerFactory)
    invoice_type = Invoice.InvoiceType.INSTALLATION
    issue_date = date(2026, 11, 2)
    due_date = date(2026, 11, 9)
    prices_include_vat = True
    subtotal = Decimal("868.70")
    vat_amount = Decimal("130.30")
    total = Decimal("999.00")


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Fibre installation"
    quantity = Decimal("1")
    unit_price = Decimal("999.00")
    amount = Decimal("999.00")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentTransaction

    customer = factory.SubFactory(CustomerFactory)
    amount = Decimal("999.00")
    method = PaymentTransaction.Method.EFT
    provider = PaymentTransaction.Provider.MANUAL
    reference = factory.Sequence(lambda n: f"PAY-{70000 + n}")
    status = PaymentTransaction.Status.COMPLETED
    completed_at = factory.LazyFunction(timezone.now)
