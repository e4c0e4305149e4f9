"""ZOHO sync test data: the shared factories with a manual (installation) invoice, as ZOHO mirrors it."""

from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import Invoice
from payments.models import PaymentTransaction
from tests import factories as base


class InvoiceFactory(base.InvoiceFactory):
    invoice_type = Invoice.InvoiceType.INSTALLATION
    issue_date = date(2026, 11, 2)
    due_date = date(2026, 11, 9)
    subtotal = Decimal("868.70")
    vat_amount = Decimal("130.30")
    total = Decimal("999.00")


class InvoiceLineFactory(base.InvoiceLineFactory):
    invoice = factory.SubFactory(InvoiceFactory)
    description = "Fibre installation"
    unit_price = Decimal("999.00")
    amount = Decimal("999.00")


class PaymentFactory(base.PaymentFactory):
    amount = Decimal("999.00")
    method = PaymentTransaction.Method.EFT
    provider = PaymentTransaction.Provider.MANUAL
    reference = factory.Sequence(lambda n: f"PAY-{70000 + n}")
    completed_at = factory.LazyFunction(timezone.now)
