"""Input validation for reservations (pages, API, webhooks): DRF serializers, no model saving.

Serializers only validate and normalise; services do the writes.
"""

from __future__ import annotations

import re
from decimal import Decimal

from rest_framework import serializers

from reservations.models import Reservation

STRIPE_PAYMENT_INTENT_RE = r"^pi_[A-Za-z0-9_]+$"
# The task fixes PayPal order ids at 17+ upper-case alphanumerics (the observed format, e.g.
# 5O190127TN364715T). PayPal documents 1-36 chars, so this is a deliberate, product-level choice.
PAYPAL_ORDER_ID_RE = r"^[A-Z0-9]{17,}$"
PAYPAL_CAPTURE_ID_RE = r"^[A-Z0-9]{10,36}$"
_PHONE_ALLOWED = re.compile(r"^\+?[0-9(][0-9 ()\-]{7,22}$")


def normalise_phone(phone: str, *, default_country: str = "27") -> str:
    """Digits only with the country code, no '+' and no trunk 0: '082 123 4567' -> '27821234567'."""
    digits = re.sub(r"\D", "", phone or "")
    if phone.strip().startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return default_country + digits[1:]
    return digits


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


class PhoneField(serializers.CharField):
    default_error_messages = {"invalid_phone": "Enter a valid phone number, e.g. 082 123 4567 or +27 82 123 4567."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip()
        digits = re.sub(r"\D", "", value)
        if not _PHONE_ALLOWED.match(value) or not 9 <= len(digits) <= 15:
            self.fail("invalid_phone")
        return value


class ReserveRequestSerializer(serializers.Serializer):
    """What a buyer submits to reserve a puppy."""

    name = serializers.CharField(max_length=150, trim_whitespace=True)
    email = serializers.EmailField(max_length=254)
    phone = PhoneField(max_length=25)
    provider = serializers.ChoiceField(choices=Reservation.Provider.choices)

    def validate_email(self, value):
        return normalise_email(value)


class PuppyPricingSerializer(serializers.Serializer):
    """Price and deposit of a listing: both >= 0, deposit never above price."""

    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.00"))
    deposit_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.00"))

    def validate(self, attrs):
        if attrs["deposit_amount"] > attrs["price"]:
            raise serializers.ValidationError({"deposit_amount": "The deposit may not exceed the price."})
        return attrs


class StripePaymentIntentIdField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(STRIPE_PAYMENT_INTENT_RE, max_length=100,
                         error_messages={"invalid": "Not a Stripe payment intent id (pi_...)."}, **kwargs)


class PayPalOrderIdField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(PAYPAL_ORDER_ID_RE, max_length=36,
                         error_messages={"invalid": "Not a PayPal order id."}, **kwargs)


class StripeCheckoutSessionSerializer(serializers.Serializer):
    """The fields we use from a `checkout.session.*` event's data.object."""

    id = serializers.CharField(max_length=255)
    mode = serializers.CharField(required=False)  # not in the client's CheckoutSession (success page read)
    payment_status = serializers.CharField()
    client_reference_id = serializers.CharField(max_length=64, allow_null=True, required=False)
    payment_intent = StripePaymentIntentIdField(allow_null=True, required=False)
    amount_total = serializers.IntegerField(min_value=0)
    currency = serializers.CharField(max_length=3)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class PayPalCreateOrderSerializer(serializers.Serializer):
    """`POST /api/paypal/create-order`: what to pay. Invoices can be added as another `kind`."""

    kind = serializers.ChoiceField(choices=["reservation_deposit", "invoice"], default="reservation_deposit")
    reference = serializers.CharField(max_length=32)


class PayPalCaptureSerializer(serializers.Serializer):
    order_id = PayPalOrderIdField()


class PayPalCaptureResourceSerializer(serializers.Serializer):
    """The capture resource of a PAYMENT.CAPTURE.* webhook event."""

    id = serializers.RegexField(PAYPAL_CAPTURE_ID_RE)
    status = serializers.CharField()
    custom_id = serializers.CharField(max_length=127, required=False, allow_blank=True)
    amount = serializers.DictField()
