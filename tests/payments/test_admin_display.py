"""How the payments console reads: money as "R 1,234.56", choice labels in house wording, and
payments, refunds and receipts found by the customer's name or email (payments/admin.py, models.py)."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.test import RequestFactory
from django.utils import timezone

from payments.models import PaymentTransaction, Receipt, Refund
from tests.factories import CustomerFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def _raw_money_columns(model, model_admin, request) -> list[str]:
    links = set(model_admin.get_list_display_links(request, model_admin.list_display) or ())
    raw = []
    for name in model_admin.get_list_display(request):
        if not isinstance(name, str) or name in links:
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.DecimalField) and field.decimal_places == 2:
            raw.append(name)
    return raw


@pytest.mark.parametrize("app_label", ["payments", "zoho_sync"])
def test_no_changelist_lists_a_money_field_as_a_raw_decimal(staff, app_label):
    request = RequestFactory().get("/")
    request.user = staff.user
    registered = [(m, ma) for m, ma in admin.site._registry.items() if m._meta.app_label == app_label]

    assert registered
    assert {m.__name__: _raw_money_columns(m, ma, request) for m, ma in registered} == {
        m.__name__: [] for m, _ in registered}


def test_the_payment_list_shows_amounts_and_refunds_in_rands(staff):
    PaymentFactory(reference="DEMO-PAY-2", amount=Decimal("1604.90"), amount_refunded=Decimal("100.00"),
                   status="partially_refunded", completed_at=timezone.now())

    body = staff.get("/admin/payments/paymenttransaction/").content.decode()

    assert "R 1,604.90" in body and "R 100.00" in body
    assert "1604.90" not in body


def test_a_payment_and_a_refund_read_in_rands_with_the_status_label():
    payment = PaymentTransaction(pk=7, reference="DEMO-PAY-2", amount=Decimal("1604.90"),
                                 status="partially_refunded")

    assert str(payment) == "DEMO-PAY-2 R 1,604.90 (partially refunded)"
    assert str(Refund(pk=3, payment=payment, amount=Decimal("1000"), status="manual")) == (
        "refund 3 of payment #7: R 1,000.00 (manual)")


def test_choices_read_in_house_wording_in_the_filters():
    assert dict(PaymentTransaction.Method.choices) == {
        "card": "Card", "debit_order": "Debit order", "eft": "EFT", "instant_eft": "Instant EFT",
        "stripe": "Card (Stripe)", "paypal": "PayPal", "cash": "Cash"}
    assert PaymentTransaction.Provider.NETCASH.label == "NetCash"
    assert PaymentTransaction.Provider.PAYPAL.label == "PayPal"


def test_the_filter_sidebar_uses_the_labels(staff):
    body = staff.get("/admin/payments/paymenttransaction/").content.decode()

    assert "Instant EFT" in body and "NetCash" in body and "PayPal" in body
    assert "Instant Eft" not in body and "Netcash" not in body and "Paypal" not in body


@pytest.fixture
def nomvula():
    customer = CustomerFactory(first_name="Nomvula", last_name="Zungu", email="nomvula.zungu@example.co.za",
                               company_name="Zungu Fibre Works")
    payment = PaymentFactory(customer=customer, reference="PAY-NZ-1", completed_at=timezone.now())
    other = PaymentFactory(reference="PAY-OTHER-1", completed_at=timezone.now())
    refund = Refund.objects.create(payment=payment, amount=Decimal("50.00"), reason="x", provider="sandbox",
                                   status=Refund.Status.MANUAL)
    Refund.objects.create(payment=other, amount=Decimal("50.00"), reason="x", provider="sandbox",
                          status=Refund.Status.MANUAL)
    receipt = Receipt.objects.create(payment=payment, number="RCT-2026-90001")
    Receipt.objects.create(payment=other, number="RCT-2026-90002")
    return {"payment": payment, "refund": refund, "receipt": receipt}


@pytest.mark.parametrize("q", ["Nomvula", "Zungu", "nomvula.zungu@example.co.za", "Zungu Fibre"])
@pytest.mark.parametrize("model, key", [("paymenttransaction", "payment"), ("refund", "refund"),
                                        ("receipt", "receipt")])
def test_payments_refunds_and_receipts_are_found_by_the_customers_name_email_or_company(staff, nomvula, q, model,
                                                                                      key):
    response = staff.get(f"/admin/payments/{model}/", {"q": q})

    assert [row.pk for row in response.context["cl"].result_list] == [nomvula[key].pk]
