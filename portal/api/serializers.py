"""Read serializers (output shapes) and input serializers (parse only) for the dashboard APIs."""

from rest_framework import serializers

from billing.models import BillingAccount, Customer, CustomerService, Invoice, InvoiceLine, ServiceActionLog
from billing.models.services import Suspension
from payments.models import PaymentTransaction

MONEY = {"max_digits": 12, "decimal_places": 2}


class ServiceSerializer(serializers.Serializer):
    # Plain (not Model) serializers on the hot path: no per-request model introspection.
    id = serializers.IntegerField()
    service_type = serializers.ChoiceField(choices=CustomerService.ServiceType.choices)
    package_name = serializers.CharField()
    download_mbps = serializers.IntegerField()
    upload_mbps = serializers.IntegerField()
    data_cap_gb = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=CustomerService.Status.choices)
    monthly_price = serializers.DecimalField(**MONEY)
    billing_day = serializers.IntegerField()
    next_billing_date = serializers.DateField(allow_null=True)
    activation_date = serializers.DateField(allow_null=True)
    suspension_date = serializers.DateField(allow_null=True)
    cancellation_date = serializers.DateField(allow_null=True)
    installation_address = serializers.CharField()


class ServiceCardSerializer(serializers.Serializer):
    service = ServiceSerializer()
    cycle_start = serializers.DateField()
    cycle_end = serializers.DateField()
    next_billing_date = serializers.DateField(allow_null=True)
    used_mb = serializers.DecimalField(max_digits=15, decimal_places=2)
    cap_mb = serializers.DecimalField(max_digits=15, decimal_places=2, allow_null=True)
    percent = serializers.IntegerField(allow_null=True)


class InvoiceListSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    invoice_type = serializers.ChoiceField(choices=Invoice.InvoiceType.choices)
    status = serializers.ChoiceField(choices=Invoice.Status.choices)
    issue_date = serializers.DateField()
    due_date = serializers.DateField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    subtotal = serializers.DecimalField(**MONEY)
    vat_amount = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)
    amount_paid = serializers.DecimalField(**MONEY)
    amount_due = serializers.DecimalField(**MONEY)
    service = serializers.IntegerField(source="service_id", allow_null=True)


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["position", "description", "quantity", "unit_price", "amount", "period_start", "period_end",
                  "days_charged", "days_in_period"]


class PaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()
    method = serializers.ChoiceField(choices=PaymentTransaction.Method.choices)
    provider = serializers.ChoiceField(choices=PaymentTransaction.Provider.choices)
    status = serializers.ChoiceField(choices=PaymentTransaction.Status.choices)
    invoice = serializers.IntegerField(source="invoice_id", allow_null=True)
    invoice_number = serializers.CharField(source="invoice.number", default=None, allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class InvoiceDetailSerializer(InvoiceListSerializer):
    prices_include_vat = serializers.BooleanField()
    notes = serializers.CharField()
    lines = InvoiceLineSerializer(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)
    pdf_url = serializers.SerializerMethodField()

    def get_pdf_url(self, obj) -> str:
        from django.urls import reverse

        return reverse("dashboard:api-invoice-pdf", args=[obj.pk])


class NextInvoiceItemSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(source="service.pk")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    total = serializers.DecimalField(**MONEY)
    due_date = serializers.DateField(allow_null=True)
    description = serializers.CharField()
    invoice_number = serializers.CharField(source="invoice.number", allow_null=True, default=None,
                                           help_text="Set when the invoice run already issued it (7 days ahead).")


class NextInvoiceSerializer(serializers.Serializer):
    date = serializers.DateField(allow_null=True, help_text="The start of the next billed period.")
    amount = serializers.DecimalField(**MONEY)
    estimate = serializers.BooleanField(help_text="False once every invoice for that period is issued.")
    items = NextInvoiceItemSerializer(many=True)


class SummarySerializer(serializers.Serializer):
    account_number = serializers.CharField(source="customer.account_number")
    name = serializers.CharField(source="customer.display_name")
    balance = serializers.DecimalField(**MONEY)
    credit = serializers.DecimalField(**MONEY)
    amount_due = serializers.DecimalField(**MONEY)
    overdue_amount = serializers.DecimalField(**MONEY)
    open_invoice_count = serializers.IntegerField()
    next_invoice = NextInvoiceSerializer()
    active_services = serializers.IntegerField()
    data_used_mb = serializers.DecimalField(max_digits=15, decimal_places=2)
    services = ServiceCardSerializer(source="cards", many=True)
    recent_invoices = InvoiceListSerializer(many=True)
    recent_payments = PaymentSerializer(many=True)


class BillingAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingAccount
        fields = ["balance", "credit_limit", "auto_pay", "preferred_billing_day", "notify_email", "notify_sms",
                  "updated_at"]


class PaymentMethodSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    method_type = serializers.CharField()
    display_name = serializers.CharField(help_text="Masked, e.g. 'FNB ***1234'.")
    last_four = serializers.CharField()
    card_expiry_month = serializers.IntegerField(allow_null=True)
    card_expiry_year = serializers.IntegerField(allow_null=True)
    mandate_status = serializers.CharField()
    is_primary = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class PaymentMethodCreatedSerializer(PaymentMethodSerializer):
    mandate_url = serializers.CharField(help_text="Debit orders: the NetCash eMandate signing link (\"\" if none yet).")
    message = serializers.CharField(help_text="What happened, for the customer (e.g. the mandate could not be sent yet).")


class BillingSerializer(serializers.Serializer):
    account_number = serializers.CharField()
    account = BillingAccountSerializer()
    billing_days = serializers.ListField(child=serializers.IntegerField())
    next_invoice = NextInvoiceSerializer()
    payment_methods = PaymentMethodSerializer(many=True)


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    upload_mb = serializers.DecimalField(max_digits=14, decimal_places=2)
    download_mb = serializers.DecimalField(max_digits=14, decimal_places=2)
    total_mb = serializers.DecimalField(max_digits=15, decimal_places=2)


class UsageSerializer(serializers.Serializer):
    service = serializers.IntegerField()
    date_from = serializers.DateField(source="from")
    date_to = serializers.DateField(source="to")
    total_mb = serializers.DecimalField(max_digits=15, decimal_places=2)
    cap_gb = serializers.IntegerField(allow_null=True)
    days = UsageDaySerializer(many=True)


class UsageQuerySerializer(serializers.Serializer):
    service = serializers.IntegerField()
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def to_internal_value(self, data):
        data = {"service": data.get("service"), "date_from": data.get("from") or None,
                "date_to": data.get("to") or None}
        data = {k: v for k, v in data.items() if v is not None}
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError("`from` must be on or before `to`.")
        if attrs.get("date_from") and attrs.get("date_to") and (attrs["date_to"] - attrs["date_from"]).days > 400:
            raise serializers.ValidationError("Ask for at most 400 days at a time.")
        return attrs


class PaymentMethodCreateSerializer(serializers.Serializer):
    """A debit order (bank details; its NetCash eMandate is requested at once) or a tokenised card."""

    method_type = serializers.ChoiceField(choices=["debit_order", "card"])
    make_primary = serializers.BooleanField(default=False)
    # debit order
    account_holder = serializers.CharField(required=False, max_length=60)
    account_number = serializers.CharField(required=False, max_length=20, write_only=True)
    branch_code = serializers.CharField(required=False, max_length=6)
    account_type = serializers.ChoiceField(choices=["current", "savings"], required=False, default="current")
    bank_name = serializers.CharField(required=False, max_length=40, default="Bank")
    # card (token from the provider; never a card number)
    brand = serializers.CharField(required=False, max_length=20)
    last_four = serializers.RegexField(r"^[0-9]{4}$", required=False)
    expiry_month = serializers.IntegerField(required=False, min_value=1, max_value=12)
    expiry_year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    token = serializers.CharField(required=False, max_length=200, allow_blank=True, default="")

    def validate(self, attrs):
        need = (["account_holder", "account_number", "branch_code"] if attrs["method_type"] == "debit_order"
                else ["brand", "last_four", "expiry_month", "expiry_year"])
        missing = {f: "This field is required." for f in need if not attrs.get(f)}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class PaymentMethodUpdateSerializer(serializers.Serializer):
    is_primary = serializers.BooleanField()

    def validate_is_primary(self, value):
        if value is not True:
            raise serializers.ValidationError("Only `true` is accepted: make another method primary instead.")
        return value


# --- staff --------------------------------------------------------------------------------------

class LifecycleActionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    kind = serializers.ChoiceField(choices=Suspension.Kind.choices, required=False,
                                   help_text="Suspension type; required for `suspend`.")
    skip_billing = serializers.BooleanField(required=False, default=False,
                                            help_text="`suspend` only: suspended days are not invoiced.")
    effective_date = serializers.DateField(required=False, help_text="Defaults to today.")


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "account_number", "status", "account_type", "first_name", "last_name", "company_name",
                  "email", "phone", "zoho_id", "zoho_sync_status"]


class AdminBillingSerializer(serializers.Serializer):
    customer = CustomerSerializer()
    account = BillingAccountSerializer()
    ledger_balance = serializers.DecimalField(**MONEY, help_text="Recomputed from the ledger.")
    amount_due = serializers.DecimalField(**MONEY)
    services = ServiceSerializer(many=True)
    recent_invoices = InvoiceListSerializer(many=True)
    recent_payments = PaymentSerializer(many=True)
    payment_methods = PaymentMethodSerializer(many=True)


class AdminPaymentSerializer(PaymentSerializer):
    provider_transaction_id = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField()
    amount_refunded = serializers.DecimalField(**MONEY)
    zoho_id = serializers.CharField()
    zoho_sync_status = serializers.CharField()
    zoho_last_synced_at = serializers.DateTimeField(allow_null=True)
    zoho_last_error = serializers.CharField()


class AdminInvoiceSerializer(InvoiceDetailSerializer):
    customer = CustomerSerializer()
    payments = AdminPaymentSerializer(many=True, read_only=True)
    zoho_id = serializers.CharField()
    zoho_sync_status = serializers.CharField()
    zoho_last_synced_at = serializers.DateTimeField(allow_null=True)
    zoho_last_error = serializers.CharField()
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.CharField()


class ActionLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceActionLog
        fields = ["id", "action", "reason", "actor", "actor_label", "previous_state", "new_state", "created_at"]


class SuspensionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suspension
        fields = ["id", "kind", "reason", "suspended_on", "reactivated_on", "skip_billing"]


class AuditSerializer(serializers.Serializer):
    service = ServiceSerializer()
    actions = ActionLogSerializer(many=True)
    suspensions = SuspensionSerializer(many=True)
