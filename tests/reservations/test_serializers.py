from decimal import Decimal

import pytest

from reservations.serializers import (
    PayPalCaptureSerializer,
    PuppyPricingSerializer,
    ReserveRequestSerializer,
    StripeCheckoutSessionSerializer,
    normalise_email,
    normalise_phone,
)

GOOD = {"name": "Thandi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "paypal"}


@pytest.mark.parametrize("field,value", [
    ("email", "thandi@"), ("email", ""), ("phone", "12345"), ("phone", "082-CALL-ME"), ("phone", "+27 82 123 4567 8901 23"),
    ("provider", "bitcoin"), ("name", ""),
])
def test_reserve_request_rejects(field, value):
    s = ReserveRequestSerializer(data={**GOOD, field: value})
    assert not s.is_valid()
    assert list(s.errors) == [field]


@pytest.mark.parametrize("phone", ["082 123 4567", "+27 82 123 4567", "(021) 555-0142", "0027821234567"])
def test_reserve_request_accepts_phone_formats(phone):
    s = ReserveRequestSerializer(data={**GOOD, "phone": phone, "email": " Thandi@Example.CO.ZA "})
    assert s.is_valid(), s.errors
    assert s.validated_data["email"] == "thandi@example.co.za"


@pytest.mark.parametrize("price,deposit,ok", [("1000.00", "1000.00", True), ("1000.00", "1000.01", False),
                                              ("0.00", "0.00", True), ("1000.00", "-1.00", False)])
def test_deposit_may_not_exceed_price(price, deposit, ok):
    s = PuppyPricingSerializer(data={"price": price, "deposit_amount": deposit})
    assert s.is_valid() is ok
    if not ok:
        assert list(s.errors) == ["deposit_amount"]
    else:
        assert s.validated_data["deposit_amount"] == Decimal(deposit)


@pytest.mark.parametrize("pi,ok", [("pi_3PaidDeposit01", True), ("pi_1Pgafy_B7WZ01", True), ("pi_", False),
                                   ("ch_3PaidDeposit01", False), ("pi_abc-def", False), ("pi_abc def", False)])
def test_stripe_payment_intent_ids(pi, ok):
    data = {"id": "cs_test_1", "mode": "payment", "payment_status": "paid", "payment_intent": pi,
            "amount_total": 50000, "currency": "zar"}
    s = StripeCheckoutSessionSerializer(data=data)
    assert s.is_valid() is ok
    if not ok:
        assert list(s.errors) == ["payment_intent"]


@pytest.mark.parametrize("order_id,ok", [("5O190127TN364715T", True), ("1AT82680VE285943M", True),
                                         ("5O190127TN36471", False), ("5o190127tn364715t", False),
                                         ("5O190127TN364715T-", False), ("ABCDEFGHIJKLMNOPQRSTUV123", True)])
def test_paypal_order_ids(order_id, ok):
    assert PayPalCaptureSerializer(data={"order_id": order_id}).is_valid() is ok


@pytest.mark.parametrize("raw,expected", [("082 123 4567", "27821234567"), ("+27 82 123 4567", "27821234567"),
                                          ("0027821234567", "27821234567"), ("(021) 555-0142", "27215550142")])
def test_phone_normalisation_for_hashing(raw, expected):
    assert normalise_phone(raw) == expected


def test_email_normalisation():
    assert normalise_email("  Thandi@Example.CO.ZA ") == "thandi@example.co.za"
