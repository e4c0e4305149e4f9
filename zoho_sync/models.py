"""ZOHO sync state: the mixin carried by every mirrored entity, the per-attempt SyncLog, and the
refunds sent to ZOHO (RefundPush) and those staff must enter by hand (RefundManualEntry)."""

from django.db import models
from django.db.models import F, Q

from circletel.money import format_zar


class SyncStatus(models.TextChoices):
    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    FAILED = "failed"
    RETRYING = "retrying"


class ZohoSyncMixin(models.Model):
    """Sync fields on Customer, CustomerService, Invoice and PaymentTransaction.

    Invariant: the row is marked `pending` in the same transaction as the change ZOHO must mirror;
    only the zoho_sync worker moves it on. Domain code never reads these to decide anything.
    """

    zoho_id = models.CharField(max_length=64, blank=True, db_index=True)
    zoho_sync_status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    zoho_last_synced_at = models.DateTimeField(null=True, blank=True)
    zoho_last_error = models.TextField(blank=True)
    zoho_attempts = models.PositiveSmallIntegerField(default=0)
    zoho_next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        indexes = [
            models.Index(fields=["zoho_sync_status", "zoho_next_attempt_at"], name="%(class)s_zsync"),
        ]


class SyncLog(models.Model):
    """One sync attempt for one entity. Append-only; no secrets or bank data in the summaries."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        LINK = "link"
        DELETE = "delete"
        SKIP = "skip"

    class Status(models.TextChoices):
        SUCCESS = "success"
        FAILED = "failed"
        SKIPPED = "skipped"

    entity_type = models.CharField(max_length=20)
    entity_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    zoho_id = models.CharField(max_length=64, blank=True)
    request_summary = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["entity_type", "entity_id", "-created_at"], name="synclog_entity_idx"),
            models.Index(fields=["status", "-created_at"], name="synclog_status_idx"),
        ]

    def __str__(self):
        return f"{self.entity_type}#{self.entity_id} {self.action} {self.status}"


class RefundManualEntryQuerySet(models.QuerySet):
    def awaiting(self):
        """Rows for a payment's current refunded total that staff have not yet marked entered in ZOHO
        (at most one per payment: the total is unique per payment)."""
        return self.filter(entered_at__isnull=True, refunded_total=F("payment__amount_refunded"))


class RefundManualEntry(models.Model):
    """A payment's refunded total that ZOHO must show but that the sync cannot send.

    Refunds go to ZOHO through `POST /payments/{payment_id}/refunds` (RefundPush). What that endpoint
    cannot do comes here for staff to enter by hand (`reason`): our total went *down* (a refund that
    failed later: ZOHO has no documented way to reduce a refund), ZOHO shows more refunded than we
    do, ZOHO refused the refund, or ZOHO confirmed a refund its payment does not show. The payment
    sync writes one row per (payment, refunded total) and alerts ops once for it; the unique
    constraint makes a re-run add nothing. The row for the payment's current total is "awaiting"
    until staff mark it entered (`entered_*`); rows for other totals are history.
    """

    class Reason(models.TextChoices):
        DECREASED = "decreased", "our refunded total went down"
        ZOHO_ABOVE = "zoho_above", "ZOHO shows more refunded than we do"
        REFUSED = "refused", "ZOHO refused the refund"
        UNCONFIRMED = "unconfirmed", "ZOHO confirmed a refund its payment does not show"
        NO_ENDPOINT = "no_endpoint", "entered by hand (before refunds were sent)"

    payment = models.ForeignKey("payments.PaymentTransaction", on_delete=models.PROTECT,
                                related_name="zoho_refund_entries")
    refunded_total = models.DecimalField("refunded in total", max_digits=12, decimal_places=2)
    # The total of the previous alert (else the total entered in ZOHO, else 0): "new since the last alert".
    previous_total = models.DecimalField("total at the previous alert", max_digits=12, decimal_places=2)
    zoho_payment_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=12, choices=Reason.choices, default=Reason.NO_ENDPOINT)
    # ZOHO's `amount_refunded` on the payment when the row was written (None: not read).
    zoho_total = models.DecimalField("refunded in ZOHO", max_digits=12, decimal_places=2, null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    alert_error = models.TextField(blank=True)
    entered_at = models.DateTimeField(null=True, blank=True)
    entered_by = models.CharField(max_length=150, blank=True)
    entered_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RefundManualEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "refund to enter in ZOHO"
        verbose_name_plural = "refunds to enter in ZOHO"
        constraints = [
            models.UniqueConstraint(fields=["payment", "refunded_total"], name="zoho_refund_entry_once_per_total"),
            models.CheckConstraint(condition=Q(refunded_total__gte=0) & Q(previous_total__gte=0),
                                   name="zoho_refund_entry_non_negative"),
        ]

    def __str__(self):
        payment = self.payment
        return (f"{format_zar(self.refunded_total)} refunded in total on payment {payment.reference} "
                f"({format_zar(payment.amount)})")


class RefundPush(models.Model):
    """One refund we sent to ZOHO: `POST /payments/{payment_id}/refunds` ("Refund a payment",
    Letstream/zoho-billing-python-sdk specs/refunds.yml @2bf0952194ce95f8645f7ad6da35021cfbb92fe8;
    ZOHO makes a credit note for the amount and refunds it).

    Written (state `sent`) before the POST, with ZOHO's `amount_refunded` read just before it
    (`zoho_total_before`, GET /payments/{id}, specs/payments.yml) and our refunded total it brings
    ZOHO to (`target_total`). ZOHO has no idempotency key, so a `sent` row whose answer we never saw
    is settled by the next read of ZOHO's total: at or above `target_total` it landed (`found`),
    else it did not (`not_saved`). Invariants: at most one `sent` row per payment (a partial unique
    constraint: never a second POST while an outcome is unknown); `amount` > 0; rows are history,
    only `state`, the answer fields and `answered_at` change, once.
    """

    class State(models.TextChoices):
        SENT = "sent", "sent, outcome unknown"
        SAVED = "saved", "saved (ZOHO answered)"
        FOUND = "found", "saved (seen in ZOHO's total after no answer)"
        NOT_SAVED = "not_saved", "not saved (ZOHO's total did not move)"
        REFUSED = "refused", "refused by ZOHO"

    payment = models.ForeignKey("payments.PaymentTransaction", on_delete=models.PROTECT,
                                related_name="zoho_refund_pushes")
    zoho_payment_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    zoho_total_before = models.DecimalField("refunded in ZOHO before", max_digits=12, decimal_places=2)
    target_total = models.DecimalField("our refunded total", max_digits=12, decimal_places=2)
    description = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENT)
    zoho_refund_id = models.CharField(max_length=64, blank=True)
    zoho_creditnote_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "refund sent to ZOHO"
        verbose_name_plural = "refunds sent to ZOHO"
        constraints = [
            models.UniqueConstraint(fields=["payment"], condition=Q(state="sent"), name="zoho_refund_push_one_unknown"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="zoho_refund_push_amount_gt_0"),
        ]

    def __str__(self):
        return f"{format_zar(self.amount)} refund on ZOHO payment {self.zoho_payment_id} ({self.state})"


class ApiCallCounter(models.Model):
    """Calls made to ZOHO per time window, shared by every worker process.

    `window` is `m:<epoch window index>` for the rate-limit window (per minute in production) or
    `d:YYYY-MM-DD` for the daily total. Invariant: `count` only grows, with a conditional
    `UPDATE ... SET count = count + 1 WHERE count < limit`, so two processes can never both take
    the last slot of a window.
    """

    window = models.CharField(max_length=40, unique=True)
    count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.window}: {self.count}"


class ConcurrencySlot(models.Model):
    """One of ZOHO's in-flight request slots (`CONCURRENCY_LIMIT` rows are used).

    A slot is leased with a conditional update (free or lease expired) and released after the
    call; a crashed worker's lease expires by itself, so no slot is lost for good.
    """

    slot = models.PositiveSmallIntegerField(primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"slot {self.slot} ({self.holder or 'free'})"


class SyncDashboard(SyncLog):
    """Proxy that gives the admin its "ZOHO sync" operations page (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "ZOHO sync dashboard"
        verbose_name_plural = "ZOHO sync dashboard"


class SyncWait(models.Model):
    """A mirrored row that is *waiting* for ZOHO, not failing: a recurring invoice ZOHO has not
    generated yet, or a payment applied to one (CONTRACTS 1.8a: ZOHO generates recurring invoices on
    its own schedule, days after ours).

    Invariant: one row per (entity_type, entity_id) while the entity waits; the entity itself stays
    `pending` with `zoho_next_attempt_at` at the next check and its attempt count untouched; the row
    is deleted when the entity syncs. `alerted_at` is set once, when it is still missing
    `WAIT_ALERT_DAYS` after `due_on` (the period start).
    """

    entity_type = models.CharField(max_length=20)
    entity_id = models.BigIntegerField()
    reason = models.TextField()
    due_on = models.DateField(null=True, blank=True, help_text="When ZOHO should have made it (period start).")
    since = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["since", "pk"]
        constraints = [models.UniqueConstraint(fields=["entity_type", "entity_id"], name="zoho_wait_once")]

    def __str__(self):
        return f"{self.entity_type}#{self.entity_id} waiting since {self.since:%Y-%m-%d}"


class OutboundIntent(models.Model):
    """A create POST that was sent and has not answered yet (or whose answer we never saw).

    Written right before the POST and deleted once ZOHO's id is saved on our row (or ZOHO refused
    the body). A row still here on the next attempt means the outcome is unknown: the sync looks the
    record up through documented reads before it posts again (CONTRACTS 1.8a).
    """

    entity_type = models.CharField(max_length=20)
    entity_id = models.BigIntegerField()
    reference = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity_type", "entity_id"], name="zoho_intent_once")]

    def __str__(self):
        return f"{self.entity_type}#{self.entity_id} {self.reference}"


class CircuitBreaker(models.Model):
    """Stops every worker from calling ZOHO until `open_until` (shared in the database).

    `daily`: ZOHO answered with its daily limit; open until the next day starts. `minute`: a 429 asked us to wait longer than a worker may sleep.
    Rows wait while it is open; they are never failed for it. It closes by itself (time passes).
    """

    name = models.CharField(max_length=20, unique=True)
    open_until = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    trips = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} breaker (open until {self.open_until})" if self.open_until else f"{self.name} breaker"


class CreditApplication(models.Model):
    """How much of one of our credit notes we have applied to one invoice in ZOHO.

    Invariant: unique per (credit note, invoice); `amount` only follows our own allocation and is
    written after ZOHO accepted the application, so a re-run applies only the difference.
    """

    credit_note_id = models.BigIntegerField()
    invoice_id = models.BigIntegerField()
    zoho_creditnote_id = models.CharField(max_length=64)
    zoho_invoice_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["credit_note_id", "invoice_id"], name="zoho_credit_applied_once"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="zoho_credit_applied_non_negative"),
        ]

    def __str__(self):
        return f"{format_zar(self.amount)} of credit note #{self.credit_note_id} on invoice #{self.invoice_id}"


class ManualEntry(models.Model):
    """Something ZOHO must show that the sync cannot send through a documented endpoint, for staff
    to enter in ZOHO by hand (refunds have their own list: RefundManualEntry).

    Invariant: `key` is unique (one row per fact, e.g. `unapply:payment:7:invoice:3:100.00`), so a
    re-run adds nothing and ops are alerted once (`alerted_at`).
    """

    class Kind(models.TextChoices):
        UNAPPLY = "unapply", "reduce an amount applied in ZOHO"
        REVERSAL = "reversal", "remove a reversed payment"
        OTHER = "other", "other"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True)
    entity_type = models.CharField(max_length=20)
    entity_id = models.BigIntegerField()
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    alert_error = models.TextField(blank=True)
    entered_at = models.DateTimeField(null=True, blank=True)
    entered_by = models.CharField(max_length=150, blank=True)
    entered_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "entry to make in ZOHO by hand"
        verbose_name_plural = "entries to make in ZOHO by hand"

    def __str__(self):
        return self.summary[:120]
