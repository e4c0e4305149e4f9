"""Invoices, their lines, credit notes and the ledger."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Value

from billing.models.customers import Customer
from billing.models.services import CustomerService
from circletel.money import format_zar
from zoho_sync.models import ZohoSyncMixin

MONEY = {"max_digits": 12, "decimal_places": 2}
HALF_MILLI = Value(Decimal("0.001"))


class Invoice(ZohoSyncMixin):
    """A tax invoice `INV-YYYY-NNNNN`.

    Invariants: numbers come gap-free from the `invoice` sequence; an issued invoice is never
    edited (void + reissue, or credit); total = subtotal + vat_amount, VAT rounded once per
    invoice; `amount_due` is a database-generated column (total - amount_paid), never out of step;
    one live recurring invoice per (service, period_start).
    """

    class InvoiceType(models.TextChoices):
        RECURRING = "recurring", "Recurring"
        PRO_RATA = "pro_rata", "Pro-rata"
        INSTALLATION = "installation", "Installation"
        EQUIPMENT = "equipment", "Equipment"
        ADJUSTMENT = "adjustment", "Adjustment"

    class Status(models.TextChoices):
        UNPAID = "unpaid", "Unpaid"
        PARTIAL = "partial", "Partial"
        PAID = "paid", "Paid"
        OVERDUE = "overdue", "Overdue"
        VOID = "void", "Void"

    OPEN_STATUSES = (Status.UNPAID, Status.PARTIAL, Status.OVERDUE)

    number = models.CharField(max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    service = models.ForeignKey(CustomerService, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="invoices")
    invoice_type = models.CharField(max_length=12, choices=InvoiceType.choices)
    issue_date = models.DateField()
    due_date = models.DateField()
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="Exclusive: the next billing date.")
    prices_include_vat = models.BooleanField()
    subtotal = models.DecimalField(**MONEY)
    vat_amount = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY, default=Decimal("0.00"))
    amount_due = models.GeneratedField(expression=F("total") - F("amount_paid"),
                                       output_field=models.DecimalField(**MONEY), db_persist=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNPAID)
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    pdf_generated_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    pre_due_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by",
                                    help_text="The void invoice this one was issued to replace.")
    notes = models.TextField(blank=True)
    bill_to_name = models.CharField(max_length=200, blank=True,
                                    help_text="The customer's name as issued (a tax invoice never changes).")
    customer_vat_number = models.CharField(max_length=20, blank=True,
                                           help_text="A business customer's VAT number as issued.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(ZohoSyncMixin.Meta):
        ordering = ["-issue_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "period_start"],
                condition=models.Q(invoice_type="recurring") & ~models.Q(status="void"),
                name="invoice_one_recurring_per_service_period",
            ),
            # Equality within a tenth of a cent: exact on PostgreSQL (numeric, 2 places), and robust on
            # SQLite, which stores decimals as binary floats (209.96 + 31.49 != 241.45 there).
            models.CheckConstraint(condition=models.Q(total__gte=F("subtotal") + F("vat_amount") - HALF_MILLI,
                                                      total__lte=F("subtotal") + F("vat_amount") + HALF_MILLI),
                                   name="invoice_total_is_subtotal_plus_vat"),
            models.CheckConstraint(condition=models.Q(amount_paid__gte=0), name="invoice_amount_paid_gte_0"),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="invoice_total_gte_0"),
        ]
        indexes = [
            *ZohoSyncMixin.Meta.indexes,
            models.Index(fields=["customer", "-issue_date"], name="invoice_customer_issue_idx"),
            models.Index(fields=["status", "due_date"], name="invoice_status_due_idx"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_subscription_invoice(self) -> bool:
        """ZOHO makes this invoice itself from the subscription (we link to it, never create it).

        True for a monthly invoice from the invoice run. A replacement for a voided monthly invoice
        is not: ZOHO's invoice for that period was voided with the original, so ZOHO gets ours as
        an invoice of its own, like every other type."""
        return self.invoice_type == self.InvoiceType.RECURRING and self.replaces_id is None


class InvoiceLine(models.Model):
    """One line of an invoice. Pro-rata lines keep the inputs that explain their amount."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    days_charged = models.PositiveSmallIntegerField(null=True, blank=True)
    days_in_period = models.PositiveSmallIntegerField(null=True, blank=True)
    unrounded_amount = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)

    class Meta:
        ordering = ["invoice_id", "position", "pk"]

    def __str__(self):
        return f"{self.description}: {format_zar(self.amount)}"


class CreditNote(models.Model):
    """A credit against an invoice `CN-YYYY-NNNNN`: a negative document with its own number."""

    number = models.CharField(max_length=20, unique=True, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    reason = models.TextField()
    subtotal = models.DecimalField(**MONEY)
    vat_amount = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    applied_amount = models.DecimalField(
        **MONEY, default=Decimal("0.00"),
        help_text="Part of the total applied to the invoice's paid amount; the rest is credit on the account.")
    issue_date = models.DateField()
    period_start = models.DateField(null=True, blank=True,
                                    help_text="First day this credit gives back (time-based credits only).")
    period_end = models.DateField(null=True, blank=True, help_text="Exclusive: the day after the last one.")
    created_by = models.CharField(max_length=150, default="system")
    zoho_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issue_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gt=0), name="creditnote_total_gt_0"),
            models.CheckConstraint(condition=models.Q(total__gte=F("subtotal") + F("vat_amount") - HALF_MILLI,
                                                      total__lte=F("subtotal") + F("vat_amount") + HALF_MILLI),
                                   name="creditnote_total_is_subtotal_plus_vat"),
            models.CheckConstraint(condition=models.Q(applied_amount__gte=0) & models.Q(applied_amount__lte=F("total")),
                                   name="creditnote_applied_within_total"),
        ]

    def __str__(self):
        return self.number


class LedgerEntry(models.Model):
    """One signed money movement on a customer's account. Append-only.

    Sign: positive = the customer owes more (invoice, refund paid out, reversal, fee), negative =
    the customer owes less (payment, credit note). Invariants: `reference` is unique and derived
    from the source row (`invoice:12`, `payment:7`, ...), so posting twice is impossible; the sum of
    a customer's entries equals `BillingAccount.balance`.
    """

    class EntryType(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        CREDIT_NOTE = "credit_note", "Credit note"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Reversal"
        VOID = "void", "Void"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="ledger_entries")
    entry_type = models.CharField(max_length=12, choices=EntryType.choices)
    amount = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=64, unique=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries")
    payment = models.ForeignKey("payments.PaymentTransaction", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="ledger_entries")
    credit_note = models.ForeignKey(CreditNote, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="ledger_entries")
    description = models.CharField(max_length=300)
    effective_date = models.DateField()
    created_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "pk"]
        verbose_name_plural = "ledger entries"
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="ledgerentry_amount_nonzero")]
        indexes = [models.Index(fields=["customer", "effective_date", "id"], name="ledger_customer_date_idx")]

    def __str__(self):
        return f"{self.reference}: {format_zar(self.amount)}"


class CreditNoteAllocation(models.Model):
    """The part of a credit note's remainder (its total less what it paid on its own invoice) that
    paid another invoice of the same customer. Written only by `billing.services.credit`.

    Invariant: a credit note's `applied_amount` plus its allocations never exceed its total.
    """

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_allocations")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["credit_note", "invoice"], name="cnallocation_unique_note_invoice"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="cnallocation_amount_gt_0"),
        ]

    def __str__(self):
        return f"{self.credit_note.number} -> {self.invoice.number}: {format_zar(self.amount)}"
