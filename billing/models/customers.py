"""Customers, their billing accounts, and consumer orders."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from zoho_sync.models import ZohoSyncMixin

e164_validator = RegexValidator(r"^\+[1-9]\d{7,14}$", "Enter the phone number in international form, e.g. +27821234567.")


class Customer(ZohoSyncMixin):
    """A billed customer.

    Invariants: `account_number` is `CT-YYYY-NNNNN`, assigned once from the `customer_account`
    sequence (never reused, never reset across years); email is unique case-insensitively.
    Create customers only through `billing.services.customers.customer_create`.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    class AccountType(models.TextChoices):
        PERSONAL = "personal", "Personal"
        BUSINESS = "business", "Business"

    account_number = models.CharField(max_length=20, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    account_type = models.CharField(max_length=10, choices=AccountType.choices, default=AccountType.PERSONAL)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    company_name = models.CharField(max_length=200, blank=True)
    vat_number = models.CharField(max_length=20, blank=True)
    registration_number = models.CharField(
        max_length=20, blank=True,
        help_text="Business accounts: the CIPC company number (e.g. 2015/123456/07) or a trust's IT number "
                  "(e.g. IT1234/2010). Sent to NetCash as RegistrationNumber on debit-order mandates.")
    email = models.EmailField()
    phone = models.CharField(max_length=16, validators=[e164_validator], blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    province = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="customer"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(ZohoSyncMixin.Meta):
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_email_ci_unique")]
        indexes = [
            *ZohoSyncMixin.Meta.indexes,
            models.Index(Lower("email"), name="customer_email_lower_idx"),
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
        ]

    def __str__(self):
        return f"{self.account_number} {self.display_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        return self.company_name or self.full_name

    @property
    def is_business(self) -> bool:
        return self.account_type == self.AccountType.BUSINESS

    @property
    def billing_address(self) -> str:
        parts = [self.address_line1, self.address_line2, self.city, self.province, self.postal_code]
        return ", ".join(p for p in parts if p)


class BillingAccount(models.Model):
    """Per-customer billing settings and the cached balance.

    Invariant: `balance` (positive = the customer owes us) equals the sum of the customer's
    LedgerEntry amounts; it changes only with `F()` in the transaction that posts the entry, and
    `manage.py check_ledger` proves the two agree.
    """

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="billing_account")
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    auto_pay = models.BooleanField(default=False)
    preferred_billing_day = models.PositiveSmallIntegerField(default=1)
    notify_email = models.BooleanField(default=True)
    notify_sms = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(preferred_billing_day__in=[1, 5, 25, 30]),
                                   name="billingaccount_billing_day_valid"),
            models.CheckConstraint(condition=models.Q(credit_limit__gte=0), name="billingaccount_credit_limit_gte_0"),
        ]

    def __str__(self):
        return f"Billing account of {self.customer.account_number}"


class Order(models.Model):
    """A consumer order (from the website or a legacy export), linked to a customer once matched."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        SCHEDULED = "scheduled", "Scheduled"
        INSTALLED = "installed", "Installed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=16, blank=True)
    package = models.CharField(max_length=100)
    installation_address = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW, db_index=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    external_ref = models.CharField(max_length=64, unique=True, null=True, blank=True,
                                    help_text="Reference in the source system (import key).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(Lower("email"), name="order_email_lower_idx")]

    def __str__(self):
        return f"Order #{self.pk} {self.name} ({self.package})"


class OrderIssue(models.Model):
    """A validation error found while importing or linking orders, kept for staff to resolve."""

    class Source(models.TextChoices):
        IMPORT = "import", "Import"
        LINK = "link", "Link"

    source = models.CharField(max_length=10, choices=Source.choices)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="issues")
    row_ref = models.CharField(max_length=100, blank=True, help_text="File and row, or order id.")
    reason = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "row_ref", "reason"], name="orderissue_unique_per_row_reason"),
        ]

    def __str__(self):
        return f"{self.source} {self.row_ref}: {self.reason[:60]}"
