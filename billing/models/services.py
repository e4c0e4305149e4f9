"""Connectivity services and their lifecycle records."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.models.customers import Customer
from zoho_sync.models import ZohoSyncMixin

BILLING_DAYS = (1, 5, 25, 30)


class CustomerService(ZohoSyncMixin):
    """A fibre/LTE/5G/wireless service billed monthly on its billing day.

    Invariants: `billing_day` is one of 1, 5, 25, 30 (database check); `status` changes only
    through `billing.services.lifecycle` along pending->active, active->suspended,
    suspended->active and pending|active|suspended->cancelled, each change logged.
    """

    class ServiceType(models.TextChoices):
        FIBRE = "fibre", "Fibre"
        LTE = "lte", "LTE"
        FIVE_G = "5g", "5G"
        WIRELESS = "wireless", "Wireless"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="services")
    service_type = models.CharField(max_length=10, choices=ServiceType.choices)
    package_name = models.CharField(max_length=100)
    download_mbps = models.PositiveIntegerField(default=0)
    upload_mbps = models.PositiveIntegerField(default=0)
    data_cap_gb = models.PositiveIntegerField(null=True, blank=True, help_text="Empty means uncapped.")
    installation_address = models.CharField(max_length=300, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    connection_id = models.CharField(max_length=64, blank=True)
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2)
    installation_fee = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    router_fee = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    billing_day = models.PositiveSmallIntegerField(default=1)
    next_billing_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    activation_date = models.DateField(null=True, blank=True)
    suspension_date = models.DateField(null=True, blank=True)
    cancellation_date = models.DateField(null=True, blank=True)
    provider_name = models.CharField(max_length=100, blank=True)
    provider_order_id = models.CharField(max_length=100, blank=True)
    provider_subscriber_id = models.CharField(max_length=100, blank=True, help_text="Usage provider subscriber id.")
    router_model = models.CharField(max_length=100, blank=True)
    router_serial = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(ZohoSyncMixin.Meta):
        ordering = ["customer_id", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(billing_day__in=BILLING_DAYS), name="service_billing_day_valid"),
            models.CheckConstraint(condition=models.Q(monthly_price__gte=0), name="service_monthly_price_gte_0"),
            models.CheckConstraint(condition=models.Q(installation_fee__gte=0), name="service_installation_fee_gte_0"),
            models.CheckConstraint(condition=models.Q(router_fee__gte=0), name="service_router_fee_gte_0"),
        ]
        indexes = [
            *ZohoSyncMixin.Meta.indexes,
            models.Index(fields=["status", "next_billing_date"], name="service_status_nextbill_idx"),
        ]

    def __str__(self):
        return f"{self.get_service_type_display()} {self.package_name} ({self.customer.account_number})"


class ServiceActionLog(models.Model):
    """Audit of every lifecycle action. Append-only: never updated or deleted."""

    class Action(models.TextChoices):
        ACTIVATE = "activate", "Activate"
        SUSPEND = "suspend", "Suspend"
        REACTIVATE = "reactivate", "Reactivate"
        CANCEL = "cancel", "Cancel"
        UPDATE = "update", "Update"

    service = models.ForeignKey(CustomerService, on_delete=models.CASCADE, related_name="action_logs")
    action = models.CharField(max_length=12, choices=Action.choices)
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              help_text="Empty means the system acted.")
    actor_label = models.CharField(max_length=150, default="system")
    previous_state = models.JSONField(default=dict)
    new_state = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(condition=~models.Q(reason=""), name="serviceactionlog_reason_required")]

    def __str__(self):
        return f"{self.action} service #{self.service_id} by {self.actor_label}"


class Suspension(models.Model):
    """A period during which a service was suspended. `skip_billing` days are not invoiced."""

    class Kind(models.TextChoices):
        NON_PAYMENT = "non_payment", "Non-payment"
        CUSTOMER_REQUEST = "customer_request", "Customer request"
        TECHNICAL = "technical", "Technical"
        FRAUD = "fraud", "Fraud"

    service = models.ForeignKey(CustomerService, on_delete=models.CASCADE, related_name="suspensions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(help_text="Staff's internal reason (the action log); never shown to the customer.")
    customer_message = models.CharField(
        max_length=300, blank=True,
        help_text="What the customer is told (dashboard, email): empty means the standard words for the kind.")
    suspended_on = models.DateField()
    reactivated_on = models.DateField(null=True, blank=True)
    skip_billing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-suspended_on", "-pk"]
        constraints = [
            # At most one open suspension per service.
            models.UniqueConstraint(fields=["service"], condition=models.Q(reactivated_on__isnull=True),
                                    name="suspension_one_open_per_service"),
        ]

    def __str__(self):
        return f"{self.kind} suspension of service #{self.service_id} from {self.suspended_on}"

    # The customer's words for each kind, when staff give none (a fraud hold never says so).
    STANDARD_MESSAGES = {
        Kind.NON_PAYMENT: "Suspended because an invoice is overdue. Paying what is owed restores the service.",
        Kind.CUSTOMER_REQUEST: "Suspended at your request.",
        Kind.TECHNICAL: "Suspended for technical work on your connection. We will restore it as soon as it is done.",
        Kind.FRAUD: "Suspended. Please contact us to restore it.",
    }

    @property
    def message_for_customer(self) -> str:
        return self.customer_message or self.STANDARD_MESSAGES.get(self.kind, "Suspended. Please contact us.")
