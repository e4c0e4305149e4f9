"""Send server-side conversion events for a paid deposit (runs in a task, never in the webhook).

One `ConversionSend` row per destination (GA4, Meta) and reservation, each sent on its own:
- a destination is claimed with a conditional UPDATE (pending/failed -> sending) before its call, and
  marked `sent` after it, so a task re-run, a retry or a second worker never sends a destination that
  was sent (or is being sent) again;
- one destination failing (a `ProviderError`) is recorded on its row (`failed`, the error, attempts)
  and the others are still sent; the 5-minute sweep (`reservations_retry_conversions`, from
  `expire_reservations_job`) retries failed rows and sends only what is still owed; after
  `MAX_ATTEMPTS` failures a row is `gave_up` (logged, not retried).
- a row stuck in `sending` (a crash between the call and the record) is taken up again after
  `STALE_SENDING_AFTER`; both destinations dedupe a repeat on our reference (GA4 transaction_id, Meta
  event_id, CONTRACTS 6), so the rare double send cannot count twice.
`Reservation.conversions_sent_at` is set once every enabled destination is sent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from circletel.http import ProviderError
from reservations.clients import analytics
from reservations.models import ConversionSend, Reservation
from reservations.serializers import normalise_email, normalise_phone

logger = logging.getLogger(__name__)

Destination = ConversionSend.Destination
SendStatus = ConversionSend.Status
MAX_ATTEMPTS = 5
STALE_SENDING_AFTER = timedelta(minutes=15)


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


def _enabled() -> list[str]:
    return [d for d, on in ((Destination.GA4, analytics.ga4_enabled()), (Destination.META, analytics.meta_enabled()))
            if on]


def _claim(r: Reservation, destination: str, now) -> bool:
    """Take the destination's row for one send (creating it the first time). True when ours to send."""
    try:
        with transaction.atomic():
            ConversionSend.objects.get_or_create(reservation=r, destination=destination)
    except IntegrityError:
        pass  # another worker created it at the same moment: the claim below decides
    claimable = (Q(status__in=[SendStatus.PENDING, SendStatus.FAILED])
                 | Q(status=SendStatus.SENDING, claimed_at__lt=now - STALE_SENDING_AFTER))
    return bool(ConversionSend.objects.filter(claimable, reservation=r, destination=destination)
                .update(status=SendStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now))


def _send(destination: str, r: Reservation, purchase: analytics.Purchase) -> None:
    if destination == Destination.GA4:
        analytics.ga4_send_purchase(purchase)
    else:
        analytics.meta_send_purchase(purchase, normalised_email=normalise_email(r.buyer_email),
                                     normalised_phone=normalise_phone(r.buyer_phone))


def reservation_send_conversions(*, reservation_id: int) -> list[str]:
    """Send GA4 `purchase` and Meta `Purchase` once each per paid reservation. Returns the destinations
    sent this time (a failed one is on its row, for the sweep)."""
    r = Reservation.objects.select_related("puppy").get(pk=reservation_id)
    if r.status != Reservation.Status.PAID or r.conversions_sent_at:
        return []
    purchase = _purchase(r)
    sent = []
    for destination in _enabled():
        now = timezone.now()
        if not _claim(r, destination, now):
            continue  # sent already, being sent, or given up
        rows = ConversionSend.objects.filter(reservation=r, destination=destination)
        try:
            _send(destination, r, purchase)
        except ProviderError as exc:
            row = rows.get()
            status = SendStatus.GAVE_UP if row.attempts >= MAX_ATTEMPTS else SendStatus.FAILED
            rows.update(status=status, last_error=str(exc)[:2000], updated_at=timezone.now())
            logger.warning("conversion %s for %s failed (attempt %s): %s", destination, r.reference, row.attempts, exc)
            continue
        rows.update(status=SendStatus.SENT, sent_at=timezone.now(), last_error="", updated_at=timezone.now())
        sent.append(destination)
    enabled = _enabled()
    if ConversionSend.objects.filter(reservation=r, destination__in=enabled, status=SendStatus.SENT).count() == len(
            enabled):  # every enabled destination sent (none enabled: nothing to send)
        Reservation.objects.filter(pk=r.pk, conversions_sent_at__isnull=True).update(conversions_sent_at=timezone.now())
    return sent


def reservations_retry_conversions(*, limit: int = 50, now=None) -> int:
    """Retry destinations that failed (backoff: 5 minutes per attempt so far) or were left `sending`.
    Returns how many destinations were sent."""
    now = now or timezone.now()
    due = Q(status=SendStatus.SENDING, claimed_at__lt=now - STALE_SENDING_AFTER)
    for attempts in range(1, MAX_ATTEMPTS):
        due |= Q(status=SendStatus.FAILED, attempts=attempts, updated_at__lte=now - timedelta(minutes=5 * attempts))
    ids = dict.fromkeys(ConversionSend.objects.filter(due, reservation__status=Reservation.Status.PAID)
                        .order_by("updated_at").values_list("reservation_id", flat=True)[:limit])
    return sum(len(reservation_send_conversions(reservation_id=pk)) for pk in ids)
