"""Reads for pages, API and admin."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from circletel.sandbox import sandbox_gateway_active
from payments.clients import paypal as paypal_client
from payments.clients import stripe as stripe_client
from reservations.models import Puppy, Reservation, UnmatchedPayment

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


def puppy_active_reservation(puppy_id: int) -> Reservation | None:
    """The puppy's one active (pending or paid) reservation, if any."""
    return Reservation.objects.filter(puppy_id=puppy_id, status__in=Reservation.ACTIVE).first()


def reservation_returned_payment(reservation_id: int) -> UnmatchedPayment | None:
    """The latest payment on this reservation we are sending back (underpaid or a second payment)."""
    return (UnmatchedPayment.objects.filter(reservation_id=reservation_id, outcome=UnmatchedPayment.Outcome.REFUND)
            .order_by("-pk").first())


def deposit_provider_offered(provider: str, *, currency: str) -> bool:
    """THE rule for which provider may take a deposit in `currency` (issue 15, ADR 0014). The puppy
    page, the reservations API (`reserve`) and the checkout service all ask this, nothing else.

    PayPal only for a PayPal currency: PayPal takes no ZAR (CONTRACTS 4 "Currency (2026-12)";
    developer.paypal.com/reference/currency-codes, `payments.clients.paypal.CURRENCIES`), and a
    deposit has nowhere to record a conversion rate, so a rand deposit is never offered PayPal
    (the same rule as `payments.services.paypal_currency.paypal_direct_quote`). Stripe takes every
    currency a listing may be priced in (`Puppy.Currency`; docs.stripe.com/currencies)."""
    if provider == Reservation.Provider.PAYPAL:
        return paypal_client.supports_currency(currency)
    return provider == Reservation.Provider.STRIPE and currency in Puppy.Currency.values


def deposit_provider_available(provider: str) -> bool:
    """The provider can take a payment now: configured, or the local sandbox gateway stands in."""
    configured = stripe_client.is_configured() if provider == Reservation.Provider.STRIPE else (
        paypal_client.is_configured())
    return configured or sandbox_gateway_active()


def puppy_payment_options(puppy: Puppy) -> list[tuple[str, str]]:
    """The (provider, label) choices the puppy's page offers: available now and allowed for the
    listing's currency (`deposit_provider_offered`). On a rand listing that is never PayPal."""
    return [(value, label) for value, label in Reservation.Provider.choices
            if deposit_provider_offered(value, currency=puppy.currency) and deposit_provider_available(value)]
