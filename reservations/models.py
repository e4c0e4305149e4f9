"""Reservations: listed puppies and the deposits that reserve them.

Races are settled by the database: a puppy moves available -> reserved only through a conditional
UPDATE (see `reservations.services.reserve`), and a partial unique constraint allows at most one
active (pending or paid) reservation per puppy.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from circletel.money import format_money
from inbox.models import WebhookEvent

MONEY = {"max_digits": 12, "decimal_places": 2}


def new_reference() -> str:
    return f"RSV-{uuid.uuid4().hex[:12].upper()}"


class Puppy(models.Model):
    """A listed puppy. Invariant: 0 <= deposit_amount <= price; status changes only in services."""

    class Sex(models.TextChoices):
        MALE = "male", "Male"
        FEMALE = "female", "Female"

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        RESERVED = "reserved", "Reserved"
        SOLD = "sold", "Sold"

    class Currency(models.TextChoices):
        """What a listing is priced in; the deposit is charged in it. Rands by default. Stripe takes all
        of these (docs.stripe.com/currencies, "Supported presentment currencies"); PayPal takes no ZAR
        (CONTRACTS 4 "Currency (2026-12)"), so PayPal is offered only on listings priced in another
        (`reservations.selectors.deposit_provider_offered`, ADR 0014)."""

        ZAR = "ZAR", "South African rand (ZAR)"
        USD = "USD", "US dollar (USD)"
        EUR = "EUR", "Euro (EUR)"
        GBP = "GBP", "Pound sterling (GBP)"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    breed = models.CharField(max_length=100, db_index=True)
    sex = models.CharField(max_length=6, choices=Sex.choices)
    date_of_birth = models.DateField()
    price = models.DecimalField(**MONEY)
    deposit_amount = models.DecimalField(**MONEY)
    currency = models.CharField(
        max_length=3, choices=Currency.choices, default=Currency.ZAR,
        help_text="Price and deposit are in this currency. PayPal is offered only for listings not priced in "
                  "rand (PayPal takes no ZAR); card payments are offered for all.")
    photos = models.JSONField(default=list, blank=True, help_text="List of static paths, e.g. img/puppies/bella.jpg")
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        verbose_name_plural = "puppies"
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="puppy_price_gte_0"),
            models.CheckConstraint(condition=Q(deposit_amount__gte=0), name="puppy_deposit_gte_0"),
            models.CheckConstraint(condition=Q(deposit_amount__lte=F("price")), name="puppy_deposit_lte_price",
                                   violation_error_message="The deposit may not exceed the price."),
            models.CheckConstraint(condition=Q(currency__in=["ZAR", "USD", "EUR", "GBP"]), name="puppy_currency_known",
                                   violation_error_message="Choose a listed currency."),
        ]
        indexes = [models.Index(fields=["status", "breed"], name="puppy_status_breed_idx")]

    def __str__(self):
        return f"{self.name} ({self.breed})"

    @property
    def is_available(self) -> bool:
        return self.status == self.Status.AVAILABLE

    @property
    def price_text(self) -> str:
        return format_money(self.price, self.currency)

    @property
    def deposit_text(self) -> str:
        return format_money(self.deposit_amount, self.currency)


class Reservation(models.Model):
    """A buyer's deposit on a puppy.

    Invariants (in the database): at most one active (pending or paid) reservation per puppy;
    (provider, external_payment_id) unique when set; `reference` unique (sent to the provider as
    client_reference_id / custom_id and used to find the row from a webhook).
    `refund_state` tracks a refund owed to the buyer (a late payer, or a staff refund); the
    provider call happens outside any transaction and is swept until it succeeds. States:
    requested / failed = owed (the sweep calls the provider); pending = Stripe accepted the refund
    (`refund_id`) but has not finished it: nothing claims the money is back until Stripe says
    succeeded (status refunded, `refunded_at`, the refunded emails); succeeded = the money is back;
    refused = the provider refused it for good (a permanent error, `MAX_REFUND_ATTEMPTS` failed
    refunds, or no answer for as long as the provider keeps our idempotency key): never retried,
    ops alerted and the buyer told once; staff pay it back by hand and record it.
    While owed, a non-blank `refund_id` is a Stripe refund that failed (`refund_error` says why).
    """

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Card (Stripe)"
        PAYPAL = "paypal", "PayPal"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    class RefundState(models.TextChoices):
        NONE = "", "No refund"
        REQUESTED = "requested", "Requested"
        FAILED = "failed", "Failed (will retry)"
        PENDING = "pending", "Pending at provider"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUSED = "refused", "Refused by the provider (pay back by hand)"

    ACTIVE = (Status.PENDING, Status.PAID)

    reference = models.CharField(max_length=32, unique=True, default=new_reference, editable=False)
    puppy = models.ForeignKey(Puppy, on_delete=models.PROTECT, related_name="reservations")
    buyer_name = models.CharField(max_length=150)
    buyer_email = models.EmailField()
    buyer_phone = models.CharField(max_length=20)
    deposit_amount = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default="ZAR", help_text="The listing's currency when it was reserved")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    sandbox = models.BooleanField(default=False, help_text="Paid through the local sandbox gateway (no real money)")
    checkout_id = models.CharField(max_length=100, blank=True, help_text="Stripe Checkout Session id / PayPal order id")
    external_payment_id = models.CharField(max_length=100, null=True, blank=True,
                                           help_text="Stripe PaymentIntent id / PayPal capture id")
    webhook_event = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="reservations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    refund_state = models.CharField(max_length=10, choices=RefundState.choices, default="", blank=True)
    refund_id = models.CharField(max_length=100, blank=True)
    refund_error = models.TextField(blank=True)
    # The one refund engine's retry policy (payments/services/refund_engine.py): refunds the provider
    # took and then failed, and since when the current idempotency key has had no answer.
    refund_attempts = models.PositiveSmallIntegerField(default=0)
    refund_unanswered_since = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    conversions_sent_at = models.DateTimeField(null=True, blank=True)
    # Captured at reservation time for server-side conversion events (GA4 / Meta CAPI).
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    client_user_agent = models.CharField(max_length=400, blank=True)
    ga_client_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["puppy"], condition=Q(status__in=["pending", "paid"]),
                                    name="reservation_one_active_per_puppy"),
            models.UniqueConstraint(fields=["provider", "external_payment_id"],
                                    condition=Q(external_payment_id__isnull=False),
                                    name="reservation_unique_provider_payment"),
            models.CheckConstraint(condition=Q(deposit_amount__gte=0), name="reservation_deposit_gte_0"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="reservation_amount_paid_gte_0"),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="reservation_status_exp_idx"),
            models.Index(fields=["refund_state"], name="reservation_refund_state_idx"),
        ]

    def __str__(self):
        # "RSV-2026-00002 Bella R 2,000.00 (paid)": what staff read in admin messages and the action pages.
        status = self.get_status_display().lower()
        return f"{self.reference} {self.puppy.name} {format_money(self.deposit_amount, self.currency)} ({status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def deposit_text(self) -> str:
        return format_money(self.deposit_amount, self.currency)

    @property
    def amount_paid_text(self) -> str:
        return format_money(self.amount_paid, self.currency)


class ConversionSend(models.Model):
    """One conversion destination (GA4, Meta) for one paid reservation: sent at most once.

    Invariant: unique on (reservation, destination). A destination is sent only while its row is not
    `sent`, and the row is claimed (`sending`) with a conditional UPDATE before the call, so a task re-run
    or two workers never send one destination twice; each destination is sent and recorded on its
    own, so one failing never stops another. A `sending` row left by a crash is taken up again after
    `STALE_SENDING_AFTER` (the destinations dedupe on transaction_id / event_id).
    """

    class Destination(models.TextChoices):
        GA4 = "ga4", "Google Analytics 4"
        META = "meta", "Meta Conversions API"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"
        GAVE_UP = "gave_up", "Gave up"

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="conversion_sends")
    destination = models.CharField(max_length=10, choices=Destination.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reservation_id", "destination"]
        constraints = [models.UniqueConstraint(fields=["reservation", "destination"],
                                               name="conversion_send_once_per_destination")]
        indexes = [models.Index(fields=["status", "updated_at"], name="conversion_send_status_idx")]

    def __str__(self):
        return f"{self.destination} for reservation {self.reservation_id} ({self.status})"


class UnmatchedPayment(models.Model):
    """A deposit payment the provider proved but that does not match a reservation we can book it on.

    Kinds (ADR 0013): `underpaid` (less than the deposit, or another currency) and `duplicate` (a
    second payment on a reservation already paid) are refunded automatically through the one refund
    engine, and the buyer is told why; `unknown_reservation` (no reservation with that reference) and
    `wrong_provider` are put on the staff list with one ops alert, because we cannot say whose money
    it is. Never deleted: staff close a reviewed row with a note (`resolved_at`).

    Invariant: unique on (provider, external_payment_id): a redelivered event or a repeated success
    page finds its row and changes nothing. Refund states as on Reservation (requested / failed = owed,
    swept; pending = Stripe has it; succeeded; refused = pay back by hand).
    """

    class Kind(models.TextChoices):
        UNDERPAID = "underpaid", "Does not cover the deposit"
        DUPLICATE = "duplicate", "Second payment on a paid reservation"
        UNKNOWN_RESERVATION = "unknown_reservation", "No such reservation"
        WRONG_PROVIDER = "wrong_provider", "Paid through another provider"

    class Outcome(models.TextChoices):
        REFUND = "refund", "Refunded automatically"
        STAFF = "staff", "Staff review"

    class RefundState(models.TextChoices):
        NONE = "", "No refund"
        REQUESTED = "requested", "Requested"
        FAILED = "failed", "Failed (will retry)"
        PENDING = "pending", "Pending at provider"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUSED = "refused", "Refused by the provider (pay back by hand)"

    AUTO_REFUND = (Kind.UNDERPAID, Kind.DUPLICATE)

    provider = models.CharField(max_length=10, choices=Reservation.Provider.choices)
    external_payment_id = models.CharField(max_length=100, help_text="Stripe PaymentIntent id / PayPal capture id")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reference = models.CharField(max_length=64, blank=True, help_text="The reservation reference the payment named")
    reservation = models.ForeignKey(Reservation, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="unmatched_payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    payer_email = models.EmailField(blank=True)
    payer_name = models.CharField(max_length=150, blank=True)
    checkout_id = models.CharField(max_length=255, blank=True)
    sandbox = models.BooleanField(default=False, help_text="Paid through the local sandbox gateway (no real money)")
    detail = models.CharField(max_length=300, help_text="Why it did not match")
    webhook_event = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="unmatched_payments")
    refund_state = models.CharField(max_length=10, choices=RefundState.choices, default="", blank=True)
    refund_id = models.CharField(max_length=100, blank=True)
    refund_error = models.TextField(blank=True)
    refund_attempts = models.PositiveSmallIntegerField(default=0)
    refund_unanswered_since = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_payment_id"],
                                    name="unmatched_unique_provider_payment"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="unmatched_amount_gte_0"),
        ]
        indexes = [models.Index(fields=["refund_state"], name="unmatched_refund_state_idx"),
                   models.Index(fields=["outcome", "resolved_at"], name="unmatched_outcome_open_idx")]

    def __str__(self):
        return f"{self.get_provider_display()} {self.external_payment_id} {self.currency} {self.amount} ({self.kind})"
