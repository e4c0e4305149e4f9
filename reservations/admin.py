"""Ops console: puppies (listings, mark sold, reservation summary) and reservations (read-only log
with cancel / refund actions that call services)."""

from django.contrib import admin, messages
from django.db.models import Q

from circletel.admin_tools import reason_action
from circletel.errors import ApplicationError
from reservations import selectors, services
from reservations.models import Puppy, Reservation


@admin.register(Puppy)
class PuppyAdmin(admin.ModelAdmin):
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

    @admin.display(description="deposits paid (R)", ordering="deposits_paid")
    def deposits_paid(self, obj):
        return obj.deposits_paid

    @admin.display(description="Reservation summary")
    def reservation_summary(self, obj):
        if not obj.pk:
            return "-"
        s = selectors.puppy_summary(puppy_id=obj.pk)
        counts = ", ".join(f"{k}: {v}" for k, v in s["by_status"].items())
        return f"{s['total']} reservation(s) ({counts}); deposits paid R {s['deposits_paid']}, refunded R {s['deposits_refunded']}"

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


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("reference", "puppy", "buyer_name", "buyer_email", "deposit_amount", "amount_paid", "provider",
                    "status", "refund_state", "sandbox", "expires_at", "created_at")
    list_filter = ("status", "provider", "refund_state", RefundOwedFilter, "sandbox", "puppy__breed")
    search_fields = ("reference", "buyer_name", "buyer_email", "buyer_phone", "external_payment_id", "checkout_id",
                     "puppy__name")
    list_select_related = ("puppy",)
    raw_id_fields = ("puppy", "webhook_event")
    date_hierarchy = "created_at"
    actions = ["cancel_pending", "refund_deposit"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False  # reservations are made by buyers through `reserve`

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected pending reservations (frees the puppy)")
    def cancel_pending(self, request, queryset):
        n = 0
        for r in queryset.filter(status=Reservation.Status.PENDING):
            services.reservation_cancel(reservation_id=r.pk, reason=f"cancelled by {request.user}")
            n += 1
        messages.success(request, f"{n} reservation(s) cancelled.")

    @admin.action(description="Refund selected paid deposits…")
    def refund_deposit(self, request, queryset):
        def apply(r, data):
            services.reservation_request_refund(reservation_id=r.pk, reason=f"{data['reason']} (by {request.user})")

        return reason_action(
            self, request, queryset, title="Refund these deposits?", apply=apply,
            intro="The money goes back to the buyer through the provider (sent in the background); the puppy "
                  "becomes available once the refund succeeds.")
