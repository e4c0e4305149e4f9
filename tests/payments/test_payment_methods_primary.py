"""The primary payment method's rules (payments.services.methods): a pending debit order never pushes out
a usable primary; a signed mandate takes the place only from an unusable one; removing the primary
promotes the best usable method left or turns auto-pay off. Each refusal has its positive control."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import BillingAccount
from payments.errors import PaymentError
from payments.models import PaymentMethod
from payments.services.mandates import mandate_update_status
from payments.services.methods import (
    payment_method_add_debit_order,
    payment_method_is_usable,
    payment_method_remove,
    payment_method_successor,
)
from tests.factories import CustomerFactory
from tests.payments.factories import debit_order, saved_card

pytestmark = pytest.mark.django_db

BANK = {"account_holder": "T Mokoena", "branch_code": "250655"}


def _debit(customer, number="62001234567", *, mandate="pending", make_primary=True):
    return debit_order(customer, number, mandate=mandate, make_primary=make_primary, bank=BANK)


_card = saved_card


def _primary(customer):
    return list(PaymentMethod.objects.filter(customer=customer, is_primary=True, deleted_at__isnull=True))


def _auto_pay(customer, on=None):
    if on is not None:
        BillingAccount.objects.filter(customer=customer).update(auto_pay=on)
    return BillingAccount.objects.get(customer=customer).auto_pay


# --- adding -----------------------------------------------------------------------------------------

def test_a_pending_debit_order_does_not_replace_a_usable_primary_card():
    customer = CustomerFactory()
    card = _card(customer)
    debit = payment_method_add_debit_order(customer=customer, account_number="62001234567", **BANK)
    assert debit.is_primary is False
    assert _primary(customer) == [card]


def test_a_pending_debit_order_does_not_replace_a_signed_debit_order():
    customer = CustomerFactory()
    signed = _debit(customer, "11112222333", mandate="active")
    assert _primary(customer) == [signed]
    newer = payment_method_add_debit_order(customer=customer, account_number="62001234567", **BANK)
    assert newer.is_primary is False and _primary(customer) == [signed]


def test_positive_control_a_debit_order_is_primary_when_there_is_none_or_it_is_unusable():
    customer = CustomerFactory()
    first = payment_method_add_debit_order(customer=customer, account_number="11112222333", **BANK)
    assert first.is_primary is True  # nothing was primary
    second = payment_method_add_debit_order(customer=customer, account_number="62001234567", **BANK)
    assert second.is_primary is True and _primary(customer) == [second]  # the old primary was unsigned too
    expired = CustomerFactory()
    old_card = _card(expired, expiry_year=2020)
    debit = payment_method_add_debit_order(customer=expired, account_number="62001234567", **BANK)
    assert debit.is_primary is True and old_card not in _primary(expired)  # an expired card is not usable


def test_positive_control_a_usable_new_method_asked_to_be_primary_takes_the_place():
    customer = CustomerFactory()
    _debit(customer, "11112222333", mandate="active")
    card = _card(customer, "1111", primary=True)
    assert _primary(customer) == [card]
    assert _card(customer, "2222", primary=False).is_primary is False  # not asked: nothing changes


def test_bad_bank_details_name_their_field():
    customer = CustomerFactory()
    with pytest.raises(PaymentError) as exc:
        payment_method_add_debit_order(customer=customer, account_number="12-34", **BANK)
    assert exc.value.extra == {"field": "account_number"}
    with pytest.raises(PaymentError) as exc:
        payment_method_add_debit_order(customer=customer, account_number="62001234567", account_holder="T",
                                       branch_code="12")
    assert exc.value.extra == {"field": "branch_code"}
    assert not PaymentMethod.objects.exists()


def test_usable_means_signed_or_unexpired():
    customer = CustomerFactory()
    debit = _debit(customer, mandate="pending", make_primary=False)
    assert payment_method_is_usable(debit) is False
    debit.mandate_status = "active"
    assert payment_method_is_usable(debit) is True
    card = _card(customer, primary=False, expiry_year=2026)  # December 2026
    assert payment_method_is_usable(card, today=date(2026, 12, 31)) is True
    assert payment_method_is_usable(card, today=date(2027, 1, 1)) is False


# --- the mandate is signed --------------------------------------------------------------------------------

def _sign(method):
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_reference=f"REF-{method.pk}")
    from payments.models import Mandate

    Mandate.objects.create(customer=method.customer, payment_method=method, account_reference=f"REF-{method.pk}",
                           agreement_reference=f"REF-{method.pk}", mandate_amount=Decimal("1000.00"))
    mandate_update_status(account_reference=f"REF-{method.pk}", successful=True)
    method.refresh_from_db()
    return method


def test_a_signed_mandate_takes_the_primary_place_from_an_unsigned_one():
    customer = CustomerFactory()
    waiting = payment_method_add_debit_order(customer=customer, account_number="11112222333", **BANK)
    other = payment_method_add_debit_order(customer=customer, account_number="62001234567", make_primary=False,
                                           **BANK)
    assert _primary(customer) == [waiting]
    assert _sign(other).is_primary is True and _primary(customer) == [other]


def test_a_signed_mandate_leaves_a_usable_primary_alone():
    customer = CustomerFactory()
    card = _card(customer)
    debit = payment_method_add_debit_order(customer=customer, account_number="62001234567", **BANK)
    assert _sign(debit).is_primary is False and _primary(customer) == [card]


# --- removing ----------------------------------------------------------------------------------------------

def test_removing_the_primary_promotes_a_signed_debit_order_before_a_card():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    primary = _card(customer, "1111")
    card = _card(customer, "2222", primary=False)
    _debit(customer, "99998888777", mandate="pending", make_primary=False)  # not usable: never promoted
    signed = _debit(customer, "62001234567", mandate="active", make_primary=False)
    assert card.pk < signed.pk  # the debit order wins although the card is older
    assert payment_method_successor(method=primary) == signed
    result = payment_method_remove(method=primary)
    assert (result.was_primary, result.promoted, result.auto_pay_off) == (True, signed, False)
    assert _primary(customer) == [signed] and _auto_pay(customer) is True
    primary.refresh_from_db()
    assert primary.deleted_at is not None and primary.is_primary is False


def test_removing_the_primary_promotes_a_usable_card_when_no_debit_order_is_signed():
    customer = CustomerFactory()
    primary = _debit(customer, "11112222333", mandate="active")
    _card(customer, "0000", primary=False, expiry_year=2020)  # expired: skipped
    card = _card(customer, "2222", primary=False)
    result = payment_method_remove(method=primary)
    assert result.promoted == card and _primary(customer) == [card]


def test_removing_the_last_usable_primary_turns_auto_pay_off():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    primary = _debit(customer, "11112222333", mandate="active")
    pending = _debit(customer, "62001234567", mandate="pending", make_primary=False)
    result = payment_method_remove(method=primary)
    assert (result.promoted, result.auto_pay_off) == (None, True)
    assert _auto_pay(customer) is False and _primary(customer) == []
    pending.refresh_from_db()
    assert pending.deleted_at is None and pending.is_primary is False  # unsigned: not promoted


def test_positive_control_removing_a_method_that_is_not_primary_leaves_primary_and_auto_pay():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    primary = _debit(customer, "11112222333", mandate="active")
    card = _card(customer, "2222", primary=False)
    result = payment_method_remove(method=card)
    assert (result.was_primary, result.promoted, result.auto_pay_off) == (False, None, False)
    assert _primary(customer) == [primary] and _auto_pay(customer) is True


def test_removing_the_primary_with_auto_pay_already_off_reports_no_change_to_it():
    customer = CustomerFactory()
    primary = _card(customer)
    result = payment_method_remove(method=primary)
    assert (result.was_primary, result.promoted, result.auto_pay_off) == (True, None, False)
    assert _auto_pay(customer) is False


def test_removing_twice_changes_nothing_the_second_time():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    primary = _card(customer, "1111")
    card = _card(customer, "2222", primary=False)
    payment_method_remove(method=primary)
    again = payment_method_remove(method=primary)
    assert (again.was_primary, again.promoted, again.auto_pay_off) == (False, None, False)
    assert _primary(customer) == [card] and _auto_pay(customer) is True
