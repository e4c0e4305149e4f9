"""Ops console: puppies (listings, mark sold, reservation summary) and reservations (a view-only log
with cancel / refund actions that ask for a reason, call services and report each row's outcome).
Money reads in its own currency: "R 1,234.56" in rand, "USD 150.00" on a listing priced in USD
(`format_money`; PayPal is offered only on such listings, ADR 0014)."""

from django.contrib import admin, messages
from django.db.models import Q

from circletel.admin_tools import ConsoleModelAdmin, MoneyColumnsMixin, ReadOnlyInline, reason_action
from circletel.errors import ApplicationError
from circletel.money import format_money, format_zar
from reservations import selectors, services
from reservations.models import ConversionSend, Puppy, Reservation, UnmatchedPayment


@admin.register(Puppy)
class PuppyAdmin(MoneyColumnsMixin, ConsoleModelAdmin):
    list_display = ("name", "breed", "sex", "price_money", "deposit_money", "status", "n_pending", "n_paid",
                    "n_expired", "n_refunded", "deposits_paid")
    list_filter = ("status", "currency", "breed", "sex")
    search_fields = ("name", "slug", "breed")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("status", "reservation_summary", "created_at", "updated_at")
    actions = ["mark_sold"]

    def get_queryset(self, request):
        return selectors.puppy_summaries(super().get_queryset(request))

    # In the listing's own currency ("R 12,500.00", "USD 950.00"): PayPal is offered only on listings not
    # priced in rand (ADR 0014), so staff see at a glance which ones.
    @admin.display(description="price", ordering="price")
    def price_money(self, obj):
        return obj.price_text

    @admin.display(description="deposit", ordering="deposit_amount")
    def deposit_money(self, obj):
        return obj.deposit_text

    @admin.display(description="pending", ordering="n_pending")
    def n_pending(self, obj):
        return obj.n_pending

    @admin.display(description="paid", ordering="n_paid")
    def n_paid(self, obj):
        return obj.n_paid

    @admin.display(description="expired", ordering="n_expired")
    def n_expired(self, obj):
        return obj.n_expired

    @admin.display(description="refunded", ordering="n_refunded")
    def n_refunded(self, obj):
        return obj.n_refunded

    @admin.display(description="deposits paid", ordering="deposits_paid")
    def deposits_paid(self, obj):
        return format_money(obj.deposits_paid, obj.currency)

    @admin.display(description="Reservation summary")
    def reservation_summary(self, obj):
        if not obj.pk:
            return "-"
        s = selectors.puppy_summary(puppy_id=obj.pk)
        counts = ", ".join(f"{k}: {v}" for k, v in s["by_status"].items())
        return (f"{s['total']} reservation(s) ({counts}); deposits paid {format_money(s['deposits_paid'], obj.currency)}, "
                f"refunded {format_money(s['deposits_refunded'], obj.currency)}")

    @admin.action(description="Mark selected puppies as sold")
    def mark_sold(self, request, queryset):
        done = 0
        for puppy in queryset:
            try:
                services.puppy_mark_sold(puppy_id=puppy.pk)
                done += 1
            except ApplicationError as exc:
                messages.error(request, f"{puppy.name}: {exc.message}")
        if done:
            messages.success(request, f"{done} puppy/puppies marked sold.")


class RefundOwedFilter(admin.SimpleListFilter):
    title = "refund owed"
    parameter_name = "refund_owed"

    def lookups(self, request, model_admin):
        return [("yes", "Refund owed (requested / failed)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Q(refund_state="requested") | Q(refund_state="failed"))
        return queryset


class ConversionSendInline(ReadOnlyInline, admin.TabularInline):
    """One row per conversion destination with its outcome (sent once; failures retried by the sweep)."""

    model = ConversionSend
    fields = ("destination", "status", "attempts", "sent_at", "last_error", "updated_at")
    readonly_fields = fields


def _money_column(field_name: str, description: str):
    """A reservation's money in its own currency ("R 1,234.56"; "USD 150.00" on a listing priced in
    USD, where PayPal is offered, ADR 0014), sortable by the field."""

    @admin.display(description=description, ordering=field_name)
    def column(obj):
        return format_money(getattr(obj, field_name), obj.currency)

    column.__name__ = f"{field_name}_money"
    return column


# Read-only money on the view page and in the list, in the reservation's currency.
_MONEY_FIELDS = {"deposit_amount": _money_column("deposit_amount", "deposit amount"),
                 "amount_paid": _money_column("amount_paid", "amount paid")}


@admin.register(Reservation)
class ReservationAdmin(MoneyColumnsMixin, ConsoleModelAdmin):
    """View-only change page (no Save buttons): reservations change only through services, here the
    actions, which need the real change permission (`has_lifecycle_permission`)."""

    list_display = ("reference", "puppy", "buyer_name", "buyer_email", _MONEY_FIELDS["deposit_amount"],
                    _MONEY_FIELDS["amount_paid"], "provider", "status", "refund_state", "sandbox", "expires_at",
                    "created_at")
    list_filter = ("status", "provider", "refund_state", RefundOwedFilter, "sandbox", "currency", "puppy__breed")
    search_fields = ("reference", "buyer_name", "buyer_email", "buyer_phone", "external_payment_id", "checkout_id",
                     "puppy__name")
    list_select_related = ("puppy",)
    raw_id_fields = ("puppy", "webhook_event")
    date_hierarchy = "created_at"
    actions = ["cancel_pending", "refund_deposit"]
    inlines = [ConversionSendInline]

    def get_fields(self, request, obj=None):
        return [_MONEY_FIELDS.get(f.name, f.name) for f in self.model._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False  # reservations are made by buyers through `reserve`

    def has_change_permission(self, request, obj=None):
        return False  # nothing on the page is editable: Django then shows it view-only, without Save buttons

    def has_delete_permission(self, request, obj=None):
        return False

    def has_lifecycle_permission(self, request):
        """Cancel / refund: staff who hold the model's change permission."""
        return super().has_change_permission(request)

    @admin.action(description="Cancel selected pending reservations (frees the puppy)…", permissions=["lifecycle"])
    def cancel_pending(self, request, queryset):
        def apply(r, data):
            # The service leaves anything but a pending reservation alone: say so instead of "done".
            if r.status == Reservation.Status.PENDING:
                r = services.reservation_cancel(reservation_id=r.pk,
                                                reason=f"cancelled by {request.user}: {data['reason']}")
                if r.status == Reservation.Status.CANCELLED:
                    return f"cancelled; {r.puppy.name} can be reserved again"
            raise services.InvalidTransition(
                f"Only a pending reservation can be cancelled (this one is {r.get_status_display().lower()}).")

        return reason_action(
            self, request, queryset, title="Cancel these pending reservations?", apply=apply,
            intro="No money has been paid on a pending reservation; cancelling frees the puppy for other buyers.")

    @admin.action(description="Refund selected paid deposits…", permissions=["lifecycle"])
    def refund_deposit(self, request, queryset):
        def apply(r, data):
            services.reservation_request_refund(reservation_id=r.pk, reason=f"{data['reason']} (by {request.user})")
            return "deposit refund requested; the sweep pays it back through the provider"

        return reason_action(
            self, request, queryset, title="Refund these deposits?", apply=apply,
            intro="The money goes back to the buyer through the provider (sent in the background); the puppy "
                  "becomes available once the refund succeeds.")


class OpenFilter(admin.SimpleListFilter):
    title = "needs staff"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open (staff review, or a refund refused)"), ("no", "Closed")]

    def queryset(self, request, queryset):
        needs = (Q(outcome=UnmatchedPayment.Outcome.STAFF, refund_state="")
                 | Q(refund_state=UnmatchedPayment.RefundState.REFUSED))
        if self.value() == "yes":
            return queryset.filter(needs, resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.exclude(Q(needs, resolved_at__isnull=True))
        return queryset


@admin.register(UnmatchedPayment)
class UnmatchedPaymentAdmin(ConsoleModelAdmin):
    """The staff list of deposit payments that match no reservation we can book them on (ADR 0013).
    View-only; the actions refund (through the one refund engine) or close a row with a note."""

    list_display = ("created_at", "provider", "external_payment_id", "kind", "outcome", "money", "reference",
                    "payer_email", "refund_state", "resolved_at")
    list_filter = (OpenFilter, "kind", "outcome", "refund_state", "provider")
    search_fields = ("external_payment_id", "reference", "payer_email", "checkout_id", "refund_id")
    list_select_related = ("reservation",)
    raw_id_fields = ("reservation", "webhook_event")
    date_hierarchy = "created_at"
    actions = ["refund_payment", "resolve"]

    def get_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description="amount", ordering="amount")
    def money(self, obj):
        # In the payment's own currency: a PayPal deposit may be in USD.
        return format_zar(obj.amount) if obj.currency == "ZAR" else f"{obj.currency} {obj.amount:,.2f}"

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_lifecycle_permission(self, request):
        return super().has_change_permission(request)

    @admin.action(description="Refund selected payments to the payer…", permissions=["lifecycle"])
    def refund_payment(self, request, queryset):
        def apply(u, data):
            services.unmatched_payment_request_refund(unmatched_id=u.pk, reason=f"{data['reason']} (by {request.user})")
            return "refund requested; the sweep pays it back through the provider"

        return reason_action(self, request, queryset, title="Refund these payments?", apply=apply,
                             intro="The whole payment goes back to the payer through the provider.")

    @admin.action(description="Close selected as resolved by hand…", permissions=["lifecycle"])
    def resolve(self, request, queryset):
        def apply(u, data):
            services.unmatched_payment_resolve(unmatched_id=u.pk, note=f"{data['reason']} (by {request.user})")
            return "closed"

        return reason_action(self, request, queryset, title="Close these payments as resolved?", apply=apply,
                             intro="Say how it was resolved (booked by hand, paid back by bank transfer ...).")
