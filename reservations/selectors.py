"""Reads for pages, API and admin."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from reservations.models import Puppy, Reservation

ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=12, decimal_places=2))


def puppy_list(*, breed: str = "", status: str = "") -> QuerySet[Puppy]:
    qs = Puppy.objects.all().order_by("status", "-created_at", "pk")
    if breed:
        qs = qs.filter(breed__iexact=breed)
    if status in Puppy.Status.values:
        qs = qs.filter(status=status)
    return qs


def puppy_breeds() -> list[str]:
    return list(Puppy.objects.order_by("breed").values_list("breed", flat=True).distinct())


def puppy_summaries(queryset: QuerySet[Puppy] | None = None) -> QuerySet[Puppy]:
    """Puppies annotated with reservation counts by status and deposit totals."""
    qs = queryset if queryset is not None else Puppy.objects.all()
    S = Reservation.Status
    counts = {f"n_{s}": Count("reservations", filter=Q(reservations__status=s)) for s in S.values}
    return qs.annotate(
        n_total=Count("reservations"), **counts,
        deposits_paid=Coalesce(Sum("reservations__amount_paid", filter=Q(reservations__status=S.PAID)), ZERO),
        deposits_refunded=Coalesce(Sum("reservations__amount_paid", filter=Q(reservations__status=S.REFUNDED)), ZERO),
        deposits_requested=Coalesce(Sum("reservations__deposit_amount"), ZERO),
    )


def puppy_summary(*, puppy_id: int) -> dict:
    p = puppy_summaries(Puppy.objects.filter(pk=puppy_id)).get()
    return {
        "puppy": p.name, "total": p.n_total,
        "by_status": {s: getattr(p, f"n_{s}") for s in Reservation.Status.values},
        "deposits_paid": p.deposits_paid, "deposits_refunded": p.deposits_refunded,
        "deposits_requested": p.deposits_requested,
    }


def reservation_by_reference(reference: str) -> Reservation | None:
    return Reservation.objects.select_related("puppy").filter(reference=reference).first()
