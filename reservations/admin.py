"""Ops console: puppies (listings, mark sold, reservation summary) and reservations (a view-only log
with cancel / refund actions that ask for a reason, call services and report each row's outcome).
Money reads "R 1,234.56" (list columns through `MoneyColumnsMixin`, the rest through `format_zar`)."""

from django.contrib import admin, messages
from django.db.models import Q

from circletel.admin_tools import ConsoleModelAdmin, MoneyColumnsMixin, reason_action, zar_column
from circletel.errors import ApplicationError
from circletel.money import format_zar
from reservations import selectors, services
from reservations.models import Puppy, Reservation


@admin.register(Puppy)
class PuppyAdmin(MoneyColumnsMixin, ConsoleModelAdmin):
    list_display = ("name", "breed", "sex", "price", "deposit_amount", "status", "n_pending", "n_paid", "n_expired",
                    "n_refunded", "deposits_paid")
    list_filter = ("status", "breed", "sex")
    search_fields = ("name", "slug", "breed")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("status", "reservation_summary", "created_at", "updated_at")
    actions = ["mark_sold"]

    def get_queryset(self, request):
        return selectors.puppy_summaries(super().get_queryset(request))

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
        return format_zar(obj.deposits_paid)

    @admin.display(description="Reservation summary")
    def reservation_summary(self, obj):
        if not obj.pk:
            return "-"
        s = selectors.puppy_summary(puppy_id=obj.pk)
        counts = ", ".join(f"{k}: {v}" for k, v in s["by_status"].items())
        return (f"{s['total']} reservation(s) ({counts}); deposits paid {format_zar(s['deposits_paid'])}, "
                f"refunded {format_zar(s['deposits_refunded'])}")

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


# Read-only money on the view page, as "R 1,234.56".
_MONEY_FIELDS = {"deposit_amount": zar_column("deposit_amount", "deposit amount"),
                 "amount_paid": zar_column("amount_paid", "amount paid")}


@admin.register(Reservation)
class ReservationAdmin(MoneyColumnsMixin, ConsoleModelAdmin):
    """View-only change page (no Save buttons): reservations change only through services, here the
    actions, which need the real change permission (`has_lifecycle_permission`)."""

    list_display = ("reference", "puppy", "buyer_name", "buyer_email", "deposit_amount", "amount_paid", "provider",
                    "status", "refund_state", "sandbox", "expires_at", "created_at")
    list_filter = ("status", "provider", "refund_state", RefundOwedFilter, "sandbox", "puppy__breed")
    search_fields = ("reference", "buyer_name", "buyer_email", "buyer_phone", "external_payment_id", "checkout_id",
                     "puppy__name")
    list_select_related = ("puppy",)
    raw_id_fields = ("puppy", "webhook_event")
    date_hierarchy = "created_at"
    actions = ["cancel_pending", "refund_deposit"]

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
