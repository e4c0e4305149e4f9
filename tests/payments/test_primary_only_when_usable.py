"""Making a method primary by hand is refused while it is not usable (payments.services.methods):
a pending, declined or cancelled mandate, an expired card. A signed mandate still takes the place by
itself when no primary is usable. Removing the last usable method leaves auto-pay off when the primary
that stays cannot be collected from. Every refusal has its positive control beside it."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import BillingAccount
from payments.errors import PaymentError
from payments.models import Mandate, PaymentMethod
from payments.services.mandates import mandate_update_status
from payments.services.methods import (
    payment_method_removal_outcome,
    payment_method_remove,
    payment_method_set_primary,
    payment_method_unusable_reason,
)
from tests.factories import CustomerFactory
from tests.payments.factories import debit_order, saved_card

pytestmark = pytest.mark.django_db

BANK = {"account_holder": "T Mokoena", "branch_code": "250655", "bank_name": "FNB"}


def _debit(customer, number, *, mandate, make_primary=False):
    return debit_order(customer, number, mandate=mandate, make_primary=make_primary, bank=BANK)


def _card(customer, last_four="4242", *, primary=False, expiry_year=2030):
    return saved_card(customer, last_four, primary=primary, expiry_year=expiry_year)


def _sign(method):
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_reference=f"REF-{method.pk}")
    Mandate.objects.create(customer=method.customer, payment_method=method, account_reference=f"REF-{method.pk}",
                           agreement_reference=f"REF-{method.pk}", mandate_amount=Decimal("1000.00"))
    mandate_update_status(account_reference=f"REF-{method.pk}", successful=True)
    method.refresh_from_db()
    return method


def _primary_pks(customer):
    return list(PaymentMethod.objects.filter(customer=customer, is_primary=True, deleted_at__isnull=True)
                .values_list("pk", flat=True))


def _auto_pay(customer, on=None):
    if on is not None:
        BillingAccount.objects.filter(customer=customer).update(auto_pay=on)
    return BillingAccount.objects.get(customer=customer).auto_pay


@pytest.mark.parametrize("mandate,words", [
    ("pending", "cannot be primary until its debit-order mandate is signed"),
    ("none", "cannot be primary until its debit-order mandate is signed"),
    ("declined", "its debit-order mandate was declined"),
    ("cancelled", "its debit-order mandate was cancelled"),
])
def test_an_unsigned_debit_order_cannot_be_made_primary_by_hand(mandate, words):
    customer = CustomerFactory()
    fnb = _debit(customer, "62001234567", mandate="active", make_primary=True)
    waiting = _debit(customer, "11112222333", mandate=mandate)
    assert _primary_pks(customer) == [fnb.pk]
    with pytest.raises(PaymentError) as refused:
        payment_method_set_primary(method=waiting)
    assert words in refused.value.message and refused.value.message.startswith("FNB ***2333 ")
    assert refused.value.extra == {"reason": "not_usable", "mandate_status": mandate}
    assert refused.value.status_code == 400
    assert _primary_pks(customer) == [fnb.pk]  # nothing written


def test_positive_control_a_signed_debit_order_can_be_made_primary_by_hand():
    customer = CustomerFactory()
    card = _card(customer, primary=True)
    signed = _debit(customer, "11112222333", mandate="active")
    assert _primary_pks(customer) == [card.pk]
    assert payment_method_set_primary(method=signed).is_primary is True
    assert _primary_pks(customer) == [signed.pk]


def test_an_expired_card_cannot_be_made_primary_by_hand_a_valid_one_can():
    customer = CustomerFactory()
    fnb = _debit(customer, "62001234567", mandate="active", make_primary=True)
    expired = _card(customer, "0000", expiry_year=2020)
    valid = _card(customer, "1111")
    with pytest.raises(PaymentError, match=r"Visa \*\*\*0000 cannot be primary: it expired at the end of 12/2020"):
        payment_method_set_primary(method=expired)
    assert _primary_pks(customer) == [fnb.pk]
    payment_method_set_primary(method=valid)  # positive control
    assert _primary_pks(customer) == [valid.pk]


def test_a_card_is_usable_to_the_end_of_its_expiry_month():
    customer = CustomerFactory()
    card = _card(customer, expiry_year=2026)  # 12/2026
    assert payment_method_unusable_reason(card, today=date(2026, 12, 31)) == ""
    assert "expired at the end of 12/2026" in payment_method_unusable_reason(card, today=date(2027, 1, 1))


def test_a_removed_method_cannot_be_made_primary():
    customer = CustomerFactory()
    card = _card(customer, primary=True)
    other = _card(customer, "1111")
    payment_method_remove(method=other)
    with pytest.raises(PaymentError, match="A removed payment method cannot be primary"):
        payment_method_set_primary(method=other)
    assert _primary_pks(customer) == [card.pk]


def test_making_the_primary_primary_again_changes_nothing():
    customer = CustomerFactory()
    card = _card(customer, primary=True)
    assert payment_method_set_primary(method=card).is_primary is True
    assert _primary_pks(customer) == [card.pk]


def test_a_signed_mandate_still_becomes_primary_by_itself_when_none_is_usable():
    customer = CustomerFactory()
    _card(customer, "0000", primary=True, expiry_year=2020)  # the primary has expired
    waiting = _debit(customer, "11112222333", mandate="pending")
    waiting = _sign(waiting)
    assert waiting.mandate_status == "active" and waiting.is_primary is True
    assert _primary_pks(customer) == [waiting.pk]


def test_positive_control_a_signed_mandate_leaves_a_usable_primary():
    customer = CustomerFactory()
    card = _card(customer, primary=True)
    waiting = _debit(customer, "11112222333", mandate="pending")
    waiting = _sign(waiting)
    assert waiting.mandate_status == "active" and waiting.is_primary is False
    assert _primary_pks(customer) == [card.pk]


# --- the probe's path: removing the last usable method leaves no usable primary ------------------------------

def test_removing_the_last_usable_method_while_the_primary_cannot_be_collected_turns_auto_pay_off():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    fnb = _debit(customer, "62001234567", mandate="active", make_primary=True)
    expired = _card(customer, "0000", expiry_year=2020)
    PaymentMethod.objects.filter(pk=fnb.pk).update(is_primary=False)  # e.g. made primary before it expired
    PaymentMethod.objects.filter(pk=expired.pk).update(is_primary=True)
    fnb.refresh_from_db()
    outcome = payment_method_removal_outcome(method=fnb, auto_pay=True)
    assert (outcome.was_primary, outcome.promoted, outcome.auto_pay_off) == (False, None, True)
    assert outcome.unusable_primary == expired
    result = payment_method_remove(method=fnb)
    assert (result.was_primary, result.promoted, result.auto_pay_off) == (False, None, True)
    assert _auto_pay(customer) is False and _primary_pks(customer) == [expired.pk]


def test_positive_control_removing_a_method_while_another_usable_one_is_left_keeps_auto_pay():
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    expired = _card(customer, "0000", primary=True, expiry_year=2020)
    fnb = payment_method_set_primary(method=_debit(customer, "62001234567", mandate="active"))
    assert _primary_pks(customer) == [fnb.pk]
    spare = _card(customer, "1111")
    result = payment_method_remove(method=spare)
    assert (result.was_primary, result.promoted, result.auto_pay_off) == (False, None, False)
    assert _auto_pay(customer) is True and _primary_pks(customer) == [fnb.pk]
    expired.refresh_from_db()
    assert expired.is_primary is False


def test_removing_an_unusable_method_while_the_primary_waits_for_its_mandate_keeps_auto_pay():
    """Nothing usable is taken away: auto-pay stays on, to collect once the mandate is signed."""
    customer = CustomerFactory()
    _auto_pay(customer, on=True)
    waiting = _debit(customer, "11112222333", mandate="pending", make_primary=True)
    expired = _card(customer, "0000", expiry_year=2020)
    assert _primary_pks(customer) == [waiting.pk]
    outcome = payment_method_removal_outcome(method=expired, auto_pay=True)
    assert (outcome.auto_pay_off, outcome.unusable_primary) == (False, waiting)
    assert payment_method_remove(method=expired).auto_pay_off is False
    assert _auto_pay(customer) is True and _primary_pks(customer) == [waiting.pk]
