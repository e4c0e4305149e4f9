"""Payments: transactions and the shared webhook event store.

The payments owner extends this module (payment methods, refunds, receipts, mandates, debit-order
runs, idempotency keys).
"""

from decimal import Decimal

from django.db import models

from billing.models import Customer, Invoice
from zoho_sync.models import ZohoSyncMixin

MONEY = {"max_digits": 12, "decimal_places": 2}


class PaymentTransaction(ZohoSyncMixin):
    """A payment attempt or a received payment.

    Invariants: (provider, provider_transaction_id) is unique when set, and so is `reference`;
    a completed payment never moves back to pending/failed; its ledger entry is posted in the same
    transaction that completes it.
    """

    class Method(models.TextChoices):
        CARD = "card"
        DEBIT_ORDER = "debit_order"
        EFT = "eft"
        INSTANT_EFT = "instant_eft"
        STRIPE = "stripe"
        PAYPAL = "paypal"
        CASH = "cash"

    class Provider(models.TextChoices):
        NETCASH = "netcash"
        STRIPE = "stripe"
        PAYPAL = "paypal"
        SANDBOX = "sandbox"
        MANUAL = "manual"

    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        FAILED = "failed"
        REFUNDED = "refunded"
        PARTIALLY_REFUNDED = "partially_refunded"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="ZAR")
    method = models.CharField(max_length=12, choices=Method.choices)
    provider = models.CharField(max_length=10, choices=Provider.choices)
    provider_transaction_id = models.CharField(max_length=100, null=True, blank=True)
    reference = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    raw_response = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    amount_refunded = models.DecimalField(**MONEY, default=Decimal("0.00"))
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(ZohoSyncMixin.Meta):
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_transaction_id"],
                                    condition=models.Q(provider_transaction_id__isnull=False),
                                    name="payment_unique_provider_txn"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(condition=models.Q(amount_refunded__gte=0) & models.Q(amount_refunded__lte=models.F("amount")),
                                   name="payment_refunded_within_amount"),
        ]
        indexes = [
            *ZohoSyncMixin.Meta.indexes,
            models.Index(fields=["customer", "-created_at"], name="payment_customer_created_idx"),
            models.Index(fields=["status", "-created_at"], name="payment_status_created_idx"),
        ]

    def __str__(self):
        return f"{self.reference} R {self.amount} ({self.status})"


class WebhookEvent(models.Model):
    """Every provider's raw webhook event, stored before it is processed.

    Invariant: unique on (provider, event_id): a redelivered event finds its row and changes
    nothing. The row is committed before processing, so a processing error stays visible here
    and the event can be reprocessed.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_unique_provider_event")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookevent_status_next_idx"),
            models.Index(fields=["provider", "-received_at"], name="webhookevent_provider_recv_idx"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.event_id} ({self.status})"
