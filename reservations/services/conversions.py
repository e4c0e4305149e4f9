"""Send server-side conversion events for a paid deposit (runs in a task, never in the webhook)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from reservations.clients import analytics
from reservations.models import Reservation
from reservations.serializers import normalise_email, normalise_phone


def _purchase(r: Reservation) -> analytics.Purchase:
    paid_at = r.paid_at or r.updated_at
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return analytics.Purchase(
        transaction_id=r.reference, value=r.amount_paid or r.deposit_amount, currency=r.currency,
        item_id=f"puppy-{r.puppy_id}", item_name=f"Deposit: {r.puppy.name}", item_category=r.puppy.breed,
        email=r.buyer_email, phone=r.buyer_phone, event_time=int(paid_at.timestamp()),
        # GA4 needs a client id: the browser's _ga id when we captured it, else one stable per reservation.
        client_id=r.ga_client_id or f"{r.pk}.{int(r.created_at.timestamp())}",
        client_ip=r.client_ip, client_user_agent=r.client_user_agent,
        event_source_url=f"{base}/puppies/{r.puppy.slug}/" if base else "",
    )


def reservation_send_conversions(*, reservation_id: int) -> list[str]:
    """Send GA4 `purchase` and Meta `Purchase` once per paid reservation. Returns what was sent."""
    r = Reservation.objects.select_related("puppy").get(pk=reservation_id)
    if r.status != Reservation.Status.PAID or r.conversions_sent_at:
        return []
    purchase = _purchase(r)
    sent = []
    if analytics.ga4_enabled():
        analytics.ga4_send_purchase(purchase)
        sent.append("ga4")
    if analytics.meta_enabled():
        analytics.meta_send_purchase(purchase, normalised_email=normalise_email(r.buyer_email),
                                     normalised_phone=normalise_phone(r.buyer_phone))
        sent.append("meta")
    Reservation.objects.filter(pk=r.pk, conversions_sent_at__isnull=True).update(conversions_sent_at=timezone.now())
    return sent
