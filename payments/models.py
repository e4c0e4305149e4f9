"""Payments: transactions and the shared webhook event store.

The payments owner extends this module (payment methods, refunds, receipts, mandates, debit-order
runs, idempotency keys).
"""

from decimal import Decimal

from django.db import models

from billing.models import Customer, Invoice
from circletel.money import format_zar
from zoho_sync.models import ZohoSyncMixin

MONEY = {"max_digits": 12, "decimal_places": 2}


class PaymentTransaction(ZohoSyncMixin):
    """A payment attempt or a received payment.

    Invariants: (provider, provider_transaction_id) is unique when set, and so is `reference`;
    a completed payment never moves back to pending/failed; its ledger entry is posted in the same
    transaction that completes it.
    """

    # Labels follow the house wording (circletel.money.PAYMENT_METHOD_WORDS), capitalised for lists.
    class Method(models.TextChoices):
        CARD = "card", "Card"
        DEBIT_ORDER = "debit_order", "Debit order"
        EFT = "eft", "EFT"
        INSTANT_EFT = "instant_eft", "Instant EFT"
        STRIPE = "stripe", "Card (Stripe)"
        PAYPAL = "paypal", "PayPal"
        CASH = "cash", "Cash"

    class Provider(models.TextChoices):
        NETCASH = "netcash", "NetCash"
        STRIPE = "stripe", "Stripe"
        PAYPAL = "paypal", "PayPal"
        SANDBOX = "sandbox", "Sandbox"
        MANUAL = "manual", "Manual"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REVERSED = "reversed", "Reversed"  # a settled debit order later returned unpaid

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
    payment_method = models.ForeignKey("PaymentMethod", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="payments")
    provider_method = models.CharField(max_length=40, blank=True,
                                       help_text="The provider's own method code/name, e.g. NetCash Method=4.")
    needs_review = models.BooleanField(default=False, help_text="A later provider message contradicted this payment.")
    review_note = models.TextField(blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversal_reason = models.TextField(blank=True)
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
        return f"{self.reference} {format_zar(self.amount)} ({self.get_status_display().lower()})"


class PaymentAllocation(models.Model):
    """How much of a payment went to which invoice.

    Invariant: one row per (payment, invoice); the sum over a payment's rows never exceeds its
    amount (the rest is credit on the account). Written only by `payment_allocate`; a reversal
    reads these rows to reopen exactly what the payment paid.
    """

    payment = models.ForeignKey(PaymentTransaction, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payment_allocations")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="allocation_unique_payment_invoice"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="allocation_amount_gt_0"),
        ]

    def __str__(self):
        return f"{format_zar(self.amount)} of payment #{self.payment_id} to invoice #{self.invoice_id}"


class PaymentMethod(models.Model):
    """A customer's saved way to pay, shown only masked ("Bank ***1234", "Visa ***4242").

    Invariants: at most one primary among a customer's non-deleted methods (partial unique
    constraint); bank details live only in `bank_details_encrypted` (a Fernet token, see
    payments/crypto.py), never in plaintext, logs, admin lists or API output; a full card number
    or CVV is never accepted (only the last four digits and the expiry); removal is a soft delete.
    """

    class Type(models.TextChoices):
        DEBIT_ORDER = "debit_order", "Debit order"
        CARD = "card", "Card"
        EFT = "eft", "EFT"

    class MandateStatus(models.TextChoices):
        NONE = "none"
        PENDING = "pending"
        ACTIVE = "active"
        DECLINED = "declined"
        CANCELLED = "cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_methods")
    method_type = models.CharField(max_length=12, choices=Type.choices)
    display_name = models.CharField(max_length=60)
    last_four = models.CharField(max_length=4, blank=True)
    card_expiry_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_expiry_year = models.PositiveSmallIntegerField(null=True, blank=True)
    provider_token = models.CharField(max_length=200, blank=True, help_text="Provider card token (never a PAN).")
    bank_details_encrypted = models.TextField(blank=True, editable=False)
    mandate_reference = models.CharField(max_length=22, blank=True)
    mandate_status = models.CharField(max_length=10, choices=MandateStatus.choices, default=MandateStatus.NONE)
    is_primary = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "-is_primary", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["customer"], condition=models.Q(is_primary=True, deleted_at__isnull=True),
                                    name="paymentmethod_one_primary_per_customer"),
            models.CheckConstraint(condition=models.Q(last_four="") | models.Q(last_four__regex=r"^[0-9]{4}$"),
                                   name="paymentmethod_last_four_digits"),
            models.CheckConstraint(
                condition=models.Q(card_expiry_month__isnull=True)
                | models.Q(card_expiry_month__gte=1, card_expiry_month__lte=12),
                name="paymentmethod_expiry_month_valid"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def masked(self) -> str:
        return self.display_name

    @property
    def bank_details(self) -> dict:
        """Decrypted bank details (for the debit-order batch only; never render or log)."""
        from payments.crypto import decrypt_json

        return decrypt_json(self.bank_details_encrypted)


class Mandate(models.Model):
    """A NetCash eMandate request for a debit-order payment method and its outcome.

    Invariant: `account_reference` (NetCash field 101, 2-22 chars) is unique; status moves
    pending -> active | declined, and active -> cancelled; the payment method mirrors it.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        DECLINED = "declined"
        CANCELLED = "cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="mandates")
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="mandates")
    account_reference = models.CharField(max_length=22, unique=True)
    agreement_reference = models.CharField(max_length=40, blank=True)
    mandate_amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    mandate_url = models.URLField(max_length=500, blank=True)
    pdf_link = models.URLField(max_length=500, blank=True)
    decline_reason = models.TextField(blank=True)
    raw_response = models.JSONField(default=dict, blank=True)
    commencement_day = models.CharField(max_length=4, blank=True,
                                        help_text="CommencementDay sent to NetCash: the day collections run.")
    last_checked_at = models.DateTimeField(null=True, blank=True,
                                           help_text="Last RequestMandateData check while pending.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="mandate_status_created_idx")]

    def __str__(self):
        return f"{self.account_reference} ({self.status})"


class DebitOrderRun(models.Model):
    """One debit-order batch for an action date (a run with nothing to collect still leaves a row).

    Invariant: items are unique per (invoice, action date) across runs, so re-running a day
    collects nothing twice; held (over-limit) items are kept and reported, never dropped.
    Lifecycle as NetCash runs it (CONTRACTS 2.2): prepared -> submitted (uploaded, load report
    awaited) -> awaiting_authorisation (by `authorise_by`) | authorised -> processed; or rejected
    (load report UNSUCCESSFUL), failed (upload failed), expired (not authorised by the cut-off).
    A run's status never settles money: items settle only from statement lines.
    """

    class Status(models.TextChoices):
        PREPARED = "prepared", "Prepared"
        SUBMITTED = "submitted", "Uploaded (load report awaited)"
        AWAITING_AUTHORISATION = "awaiting_authorisation", "Awaiting authorisation"
        AUTHORISED = "authorised", "Authorised"
        PROCESSED = "processed", "Processed by NetCash"
        REJECTED = "rejected", "Rejected (load report)"
        EXPIRED = "expired", "Not authorised by the cut-off"
        FAILED = "failed", "Upload failed"
        EMPTY = "empty", "Nothing to collect"

    action_date = models.DateField()
    batch_name = models.CharField(max_length=60)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PREPARED)
    file_token = models.CharField(max_length=100, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    held_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY, default=Decimal("0.00"))
    job_run = models.ForeignKey("circletel.JobRun", null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    load_report = models.TextField(blank=True)
    load_status = models.CharField(max_length=30, blank=True, help_text="The load report's status line.")
    rejected_count = models.PositiveIntegerField(default=0)
    authorise_by = models.DateTimeField(null=True, blank=True,
                                        help_text="Cut-off: 23:59 two business days before the action date.")
    authorised_at = models.DateTimeField(null=True, blank=True)
    netcash_batch_id = models.CharField(max_length=64, blank=True)
    batch_status = models.CharField(max_length=30, blank=True, help_text="Last RetrieveBatchStatus answer.")
    batch_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-action_date", "-pk"]

    def __str__(self):
        return f"{self.batch_name} {self.action_date} ({self.status})"


class DebitOrderItem(models.Model):
    """One invoice to collect by debit order on one action date.

    Invariant: unique (invoice, action_date); amounts in Rands here (cents only in the batch file).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTED = "submitted", "Submitted (awaiting the statement)"
        HELD = "held", "Held"
        SETTLED = "settled", "Settled (statement)"
        REJECTED = "rejected", "Rejected in the load report"
        FAILED = "failed", "Failed"
        RETURNED = "returned", "Returned unpaid (statement)"

    run = models.ForeignKey(DebitOrderRun, on_delete=models.PROTECT, related_name="items")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="debit_order_items")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="debit_order_items")
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="debit_order_items")
    payment = models.OneToOneField(PaymentTransaction, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="debit_order_item")
    action_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    account_reference = models.CharField(max_length=22)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    hold_reason = models.CharField(max_length=200, blank=True, help_text="Why held, rejected, failed or returned.")
    line_number = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="The item's line in the batch file (the load report's Line :n).")
    unpaid_code = models.CharField(max_length=10, blank=True, help_text="The bank's unpaid reason code (statement).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "action_date"], name="debitorderitem_unique_invoice_date"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="debitorderitem_amount_gt_0"),
        ]
        indexes = [models.Index(fields=["account_reference", "status"], name="debitorderitem_ref_status_idx")]

    def __str__(self):
        return (f"invoice #{self.invoice_id} on {self.action_date}: {format_zar(self.amount)} "
                f"({self.get_status_display().lower()})")


# --- NetCash merchant statement and reconciliation -------------------------------------------------------
class NetcashStatement(models.Model):
    """One pull of the NetCash merchant statement (CONTRACTS 2.5): requested (polling id kept, so the
    next run polls with the same id while NetCash answers FILE NOT READY), then retrieved.

    Invariant: one daily statement per date (the interim ones may repeat); the text is kept as NetCash
    sent it; its lines are stored once each (`NetcashStatementLine.line_key`).
    """

    class Kind(models.TextChoices):
        DAILY = "daily", "Full daily (08:30, previous day)"
        INTERIM = "interim", "Interim (Pay Now EFT and cash, today)"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (polling)"
        RETRIEVED = "retrieved", "Retrieved"
        NO_CHANGE = "no_change", "No change"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    statement_date = models.DateField()
    polling_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    line_count = models.PositiveIntegerField(default=0)
    new_line_count = models.PositiveIntegerField(default=0)
    raw_text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    retrieved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-statement_date", "-pk"]
        verbose_name = "NetCash statement"
        constraints = [models.UniqueConstraint(fields=["statement_date"], condition=models.Q(kind="daily"),
                                               name="netcashstatement_one_daily_per_date")]

    def __str__(self):
        return f"{self.get_kind_display()} statement {self.statement_date} ({self.get_status_display().lower()})"


class NetcashStatementLine(models.Model):
    """One line of NetCash's statement, stored once and applied once.

    Invariants: `line_key` (a hash of the line's fields and its ordinal among identical lines of that
    date) is unique, so a statement read twice, or its interim and full versions, store each line
    once; `processed_at` is set in the transaction that applies the line's effect, under the line's
    row lock, so a line changes money at most once. A line that matches nothing of ours changes
    nothing and is listed for staff (`outcome` unmatched).
    """

    class Kind(models.TextChoices):
        DEBIT_SUCCESS = "debit_success", "Debit order paid"
        DEBIT_UNPAID = "debit_unpaid", "Debit order unpaid"
        PAYNOW_RECEIPT = "paynow_receipt", "Pay Now receipt"
        PAYNOW_REVERSAL = "paynow_reversal", "Pay Now unpaid / recall / dispute"
        BALANCE = "balance", "Opening / closing balance"
        OTHER = "other", "Other (fees, transfers, unknown codes)"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Not applied yet"
        SETTLED = "settled", "Settled a debit order"
        RETURNED = "returned", "Returned a debit order"
        FAILED_ITEM = "failed_item", "Failed a debit order not yet settled"
        CONFIRMED = "confirmed", "Confirmed a payment"
        UNMATCHED = "unmatched", "Matches nothing of ours"
        IGNORED = "ignored", "No effect (balance, fee, unknown code)"

    statement = models.ForeignKey(NetcashStatement, on_delete=models.PROTECT, related_name="lines")
    line_key = models.CharField(max_length=64, unique=True)
    line_date = models.DateField()
    code = models.CharField(max_length=6)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=300, blank=True)
    amount = models.DecimalField(**MONEY)
    effect = models.CharField(max_length=1)
    reference = models.CharField(max_length=100, blank=True)
    account_reference = models.CharField(max_length=100, blank=True)
    unpaid_code = models.CharField(max_length=10, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.PENDING)
    note = models.CharField(max_length=300, blank=True)
    debit_order_item = models.ForeignKey(DebitOrderItem, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="statement_lines")
    payment = models.ForeignKey(PaymentTransaction, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="statement_lines")
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["line_date", "pk"]
        verbose_name = "NetCash statement line"
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="statementline_amount_gte_0"),
                       models.CheckConstraint(condition=models.Q(effect__in=["+", "-"]),
                                              name="statementline_effect_sign")]
        indexes = [models.Index(fields=["processed_at", "line_date"], name="statementline_todo_idx"),
                   models.Index(fields=["line_date", "outcome"], name="statementline_date_outcome_idx"),
                   models.Index(fields=["reference"], name="statementline_reference_idx")]

    def __str__(self):
        return f"{self.line_date} {self.code} {self.effect}{format_zar(self.amount)} {self.account_reference or self.reference}"


class ReconciliationIssue(models.Model):
    """Something the statement and our books disagree on, for staff: a Pay Now payment we applied from a
    notify that no statement line confirmed within `NETCASH["STATEMENT_CONFIRM_HOURS"]`, or a statement
    receipt/reversal we never applied.

    Invariant: one open issue per payment and per line (partial unique constraints); ops are alerted
    once per issue (`alerted_at`, and the notification's idempotency key); resolving is recorded, the
    row is never deleted.
    """

    class Kind(models.TextChoices):
        UNCONFIRMED_PAYMENT = "unconfirmed_payment", "Applied from a notify, not on the statement"
        UNAPPLIED_RECEIPT = "unapplied_receipt", "On the statement, never applied by us"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    payment = models.ForeignKey(PaymentTransaction, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="reconciliation_issues")
    line = models.ForeignKey(NetcashStatementLine, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="issues")
    amount = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=300, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "reconciliation difference"
        constraints = [
            models.UniqueConstraint(fields=["kind", "payment"], condition=models.Q(payment__isnull=False),
                                    name="reconissue_one_per_payment"),
            models.UniqueConstraint(fields=["kind", "line"], condition=models.Q(line__isnull=False),
                                    name="reconissue_one_per_line"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.reference} {format_zar(self.amount)}"


class ReconciliationReport(models.Model):
    """The statement against our books for one day (rebuilt by every reconciliation run for that day).

    matched = statement lines that settled, returned, failed or confirmed something of ours;
    unmatched theirs = lines that matched nothing; unmatched ours = debit orders due on or before the
    day still waiting for a line, and Pay Now payments of that day flagged unconfirmed.
    statement total = matched + theirs, our total = matched + ours (signed Rands).
    """

    day = models.DateField(unique=True)
    matched_count = models.PositiveIntegerField(default=0)
    matched_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    unmatched_ours_count = models.PositiveIntegerField(default=0)
    unmatched_ours_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    unmatched_theirs_count = models.PositiveIntegerField(default=0)
    unmatched_theirs_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    statement_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    our_total = models.DecimalField(**MONEY, default=Decimal("0.00"))
    totals_equal = models.BooleanField(default=False)
    generated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        return f"Reconciliation {self.day}: {'equal' if self.totals_equal else 'DIFFERENT'}"


# --- Stripe customers, refunds, receipts, API idempotency keys --------------------------------------------
class StripeCustomer(models.Model):
    """Our customer's Stripe Customer object (saved cards are attached to it).

    Invariant: one per customer, and the Stripe id is unique.
    """

    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="stripe_customer")
    stripe_customer_id = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.customer_id} -> {self.stripe_customer_id}"


class Refund(models.Model):
    """Money paid back on a completed payment, through the payment's provider.

    Invariants: the provider's refund id is unique per provider when known (a `charge.refunded`
    webhook and our own API call find the same row); a refund is reserved `pending` before the
    provider is called and finalised afterwards (succeeded / failed / manual); a Stripe refund the
    provider has not finished stays `pending` (reserved, not booked) until its refund events say how
    it ended. States only move forward (pending -> succeeded -> failed, or pending -> failed); the
    sum of a payment's non-failed refunds never exceeds its amount (`payment.amount_refunded` moves
    under the payment's row lock). Its ledger entry is `refund:{pk}`; a booked refund that later
    fails is reversed once by `refund-reversal:{pk}` (`payments.services.refunds.refund_fail`).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        MANUAL = "manual"  # NetCash / sandbox: recorded, paid back by hand by finance
        FAILED = "failed"

    payment = models.ForeignKey(PaymentTransaction, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(max_length=10)
    provider_refund_id = models.CharField(max_length=100, null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    raw_response = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=150, default="system")
    source = models.CharField(max_length=10, default="api", help_text="api (we asked) or webhook (provider told us).")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_refund_id"],
                                    condition=models.Q(provider_refund_id__isnull=False),
                                    name="refund_unique_provider_refund"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_gt_0"),
        ]

    def __str__(self):
        return f"refund {self.pk} of payment #{self.payment_id}: {format_zar(self.amount)} ({self.get_status_display().lower()})"


class Receipt(models.Model):
    """The receipt for a completed payment: own number (`RCT-YYYY-NNNNN`) and its stored PDF.

    Invariant: one per payment (issued idempotently after the payment commits); numbers are unique
    and gap-free (circletel.sequences).
    """

    payment = models.OneToOneField(PaymentTransaction, on_delete=models.PROTECT, related_name="receipt")
    number = models.CharField(max_length=20, unique=True)
    pdf = models.FileField(upload_to="receipts/%Y/%m/", blank=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self):
        return self.number


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` for one of our POST endpoints and the response it got.

    Invariant: unique (user, key): the row is inserted before the request executes (state
    `locked`), so two concurrent requests with one key never both run; the finished response is
    stored (`complete`) and replayed until `expires_at`.
    """

    class State(models.TextChoices):
        LOCKED = "locked"
        COMPLETE = "complete"

    key = models.CharField(max_length=255)
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="idempotency_keys")
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method + path + body")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.LOCKED)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_user_key")]

    def __str__(self):
        return f"{self.key} ({self.state})"
