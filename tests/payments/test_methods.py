import pytest
from django.db import IntegrityError, connection, transaction

from payments.errors import PaymentError
from payments.models import PaymentMethod
from payments.services.methods import (
    payment_method_add_card,
    payment_method_add_debit_order,
    payment_method_delete,
    payment_method_set_primary,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_bank_details_are_encrypted_at_rest():
    customer = CustomerFactory()
    method = payment_method_add_debit_order(customer=customer, account_holder="T Mokoena",
                                            account_number="6200 1234 567", branch_code="250655")
    with connection.cursor() as cursor:
        cursor.execute("SELECT bank_details_encrypted, display_name FROM payments_paymentmethod WHERE id = %s",
                       [method.pk])
        raw, display = cursor.fetchone()
    assert "62001234567" not in raw and "250655" not in raw and "Mokoena" not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert display == "Bank ***4567"
    assert PaymentMethod.objects.get(pk=method.pk).bank_details["account_number"] == "62001234567"
    assert "62001234567" not in repr(method) and "62001234567" not in str(method)


def test_at_most_one_primary_method():
    customer = CustomerFactory()
    first = payment_method_add_debit_order(customer=customer, account_holder="A", account_number="1234567890",
                                           branch_code="250655")
    card = payment_method_add_card(customer=customer, brand="Visa", last_four="4242", expiry_month=12,
                                   expiry_year=2030, make_primary=True)
    assert list(PaymentMethod.objects.filter(customer=customer, is_primary=True)) == [card]
    # only a usable method can be made primary by hand (payments.services.methods): sign the mandate first
    PaymentMethod.objects.filter(pk=first.pk).update(mandate_status=PaymentMethod.MandateStatus.ACTIVE)
    first.refresh_from_db()
    payment_method_set_primary(method=first)
    assert list(PaymentMethod.objects.filter(customer=customer, is_primary=True).values_list("pk", flat=True)) == [first.pk]
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod.objects.filter(pk=card.pk).update(is_primary=True)


def test_soft_deleted_method_frees_the_primary_slot():
    customer = CustomerFactory()
    first = payment_method_add_debit_order(customer=customer, account_holder="A", account_number="1234567890",
                                           branch_code="250655")
    payment_method_delete(method=first)
    first.refresh_from_db()
    assert first.deleted_at is not None and first.is_primary is False
    second = payment_method_add_debit_order(customer=customer, account_holder="A", account_number="9876543210",
                                            branch_code="250655")
    assert second.is_primary is True


@pytest.mark.parametrize("kwargs", [
    {"last_four": "4242424242424242"},            # a full card number
    {"last_four": "42a2"},
    {"token": "4242 4242 4242 4242"},             # a PAN smuggled in as a token
    {"expiry_month": 13},
])
def test_full_card_numbers_and_bad_cards_are_refused(kwargs):
    customer = CustomerFactory()
    args = {"customer": customer, "brand": "Visa", "last_four": "4242", "expiry_month": 12, "expiry_year": 2030,
            "token": "tok_abc"} | kwargs
    with pytest.raises(PaymentError):
        payment_method_add_card(**args)
    assert PaymentMethod.objects.count() == 0


def test_bad_bank_account_refused():
    with pytest.raises(PaymentError):
        payment_method_add_debit_order(customer=CustomerFactory(), account_holder="A", account_number="12",
                                       branch_code="250655")
    assert PaymentMethod.objects.count() == 0
