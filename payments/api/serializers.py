"""Payments API serializers: input validation (field messages on 400) and masked output."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from billing.models import Invoice
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

    def validate(self, attrs):
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


class PayPalInvoiceOrderInput(serializers.Serializer):
    """`POST /api/paypal/create-order` `{"kind": "invoice", "invoice_number": "INV-2026-00042"}`."""

    kind = serializers.ChoiceField(choices=["invoice"])
    invoice_number = serializers.RegexField(r"^INV-\d{4}-\d{5,}$", max_length=32)

    def validate(self, attrs):
        invoice = Invoice.objects.select_related("customer").filter(number=attrs["invoice_number"]).first()
        if invoice is None:
            raise serializers.ValidationError({"invoice_number": "No such invoice."})
        attrs["invoice"] = invoice
        return attrs
