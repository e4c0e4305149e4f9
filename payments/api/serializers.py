"""Payments API serializers: input validation (field messages on 400) and masked output."""

from __future__ import annotations

import re
from decimal import Decimal

from rest_framework import serializers

from payments.models import PaymentMethod, PaymentTransaction, Receipt, Refund


class PaymentMethodOut(serializers.ModelSerializer):
    class Meta:
        model = PaymentMethod
        fields = ["id", "method_type", "display_name", "last_four", "card_expiry_month", "card_expiry_year",
                  "is_primary", "created_at"]


class PaymentOut(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", default=None)
    payment_method = PaymentMethodOut(allow_null=True)
    receipt_number = serializers.SerializerMethodField()
    failure_message = serializers.CharField(source="failure_reason")

    class Meta:
        model = PaymentTransaction
        fields = ["id", "reference", "status", "amount", "amount_refunded", "currency", "method", "provider",
                  "invoice_number", "payment_method", "failure_message", "completed_at", "created_at",
                  "receipt_number"]

    def get_receipt_number(self, obj) -> str | None:
        try:
            return obj.receipt.number
        except Receipt.DoesNotExist:
            return None


class RefundOut(serializers.ModelSerializer):
    payment_reference = serializers.CharField(source="payment.reference")

    class Meta:
        model = Refund
        fields = ["id", "payment", "payment_reference", "amount", "status", "reason", "provider",
                  "provider_refund_id", "failure_reason", "created_at", "completed_at"]


class ProcessInput(serializers.Serializer):
    FLOWS = ["saved_method", "stripe", "paypal", "netcash"]

    invoice_id = serializers.IntegerField(min_value=1)
    flow = serializers.ChoiceField(choices=FLOWS, help_text="saved_method: charge a saved card now; stripe: "
                                   "a client secret for Stripe.js; paypal: an approval URL; netcash: a Pay Now form.")
    payment_method_id = serializers.IntegerField(min_value=1, required=False)
    expected_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="The amount (ZAR) the customer agreed to pay: 409 `extra.amount_due` when the invoice now owes "
                  "another amount (a saved card is charged at once).")
    new_attempt = serializers.BooleanField(default=False, help_text="stripe: start a new attempt rather than "
                                           "reuse the open one (after Stripe declined it in the page).")
    save_card = serializers.BooleanField(default=False, help_text="stripe: keep the card for next time (saved "
                                         "once the payment succeeds; 409 when you have the most saved methods).")

    def validate(self, attrs):
        if attrs["save_card"] and attrs["flow"] != "stripe":
            raise serializers.ValidationError({"save_card": "Only a new card paid through Stripe can be saved."})
        if attrs["flow"] == "saved_method" and not attrs.get("payment_method_id"):
            raise serializers.ValidationError({"payment_method_id": "Choose the saved card to pay with."})
        return attrs


class RefundInput(serializers.Serializer):
    payment_id = serializers.IntegerField(min_value=1)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
                                      help_text="Leave out for everything still refundable.")
    reason = serializers.CharField(max_length=300)


class AddCardInput(serializers.Serializer):
    stripe_payment_method_id = serializers.RegexField(r"^pm_[A-Za-z0-9_]{3,96}$",
                                                      error_messages={"invalid": "Give a Stripe payment method id (pm_...)."})
    make_primary = serializers.BooleanField(default=False)


class HistoryFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentTransaction.Status.choices, required=False)
    method = serializers.ChoiceField(choices=PaymentTransaction.Method.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "date_to must be on or after date_from."})
        return attrs


INVOICE_NUMBER_RE = re.compile(r"^INV-\d{4}-\d{5,}$", re.IGNORECASE)
ACCOUNT_NUMBER_RE = re.compile(r"^CT-\d{4}-\d{5,}$", re.IGNORECASE)


class _PayPalInvoiceProof(serializers.Serializer):
    """Shape only (no lookup, so a 400 here says nothing about any invoice): the invoice number and
    the customer's account number as on the public /pay/ page (trimmed, any case, stored upper
    case). Who may pay is decided by `payments.services.paypal_payments`."""

    invoice_number = serializers.RegexField(INVOICE_NUMBER_RE, max_length=32)
    account_number = serializers.RegexField(ACCOUNT_NUMBER_RE, max_length=20, required=False)

    def validate_invoice_number(self, value: str) -> str:
        return value.upper()

    def validate_account_number(self, value: str) -> str:
        return value.upper()


class PayPalInvoiceOrderInput(_PayPalInvoiceProof):
    """`POST /api/paypal/create-order` `{"kind": "invoice", "invoice_number": "INV-2026-00042",
    "account_number": "CT-2026-00017"}`; a signed-in customer may leave out the account number.

    Context: `user` (the request's). Without a signed-in user the account number is required; that
    is decided from the request alone, before any lookup."""

    kind = serializers.ChoiceField(choices=["invoice"])

    def validate(self, attrs):
        user = self.context.get("user")
        if not attrs.get("account_number") and not getattr(user, "is_authenticated", False):
            raise serializers.ValidationError(
                {"account_number": "Give the account number on the invoice (CT-YYYY-NNNNN), or sign in."})
        return attrs


class PayPalInvoiceCaptureInput(_PayPalInvoiceProof):
    """`POST /api/paypal/capture` for an invoice order: `{"order_id", "invoice_number",
    "account_number"}` (what create-order was given), or just `order_id` when the invoice's
    customer is signed in."""

    kind = serializers.ChoiceField(choices=["invoice"], required=False)
    invoice_number = serializers.RegexField(INVOICE_NUMBER_RE, max_length=32, required=False)
