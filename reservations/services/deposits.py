"""Reserve, confirm, cancel, expire and refund deposits.

Concurrency: `reserve` moves a puppy available -> reserved with one conditional UPDATE; the
database decides the winner, and the partial unique constraint (one pending/paid reservation per
puppy) backs it. Confirmation locks the reservation row; a payment arriving for a reservation that
lost its puppy (hold expired and someone else reserved) is refunded automatically. Refunds call
the provider outside any transaction and are swept until they succeed.

Finality rule (Stripe deposit refunds, as for invoice refunds in payments/services/refunds.py): a
deposit counts as refunded (status refunded, `refunded_at`, the deposit_refunded emails, the puppy
freed) only once Stripe says `succeeded`. A create call answered `pending` / `requires_action` (or
any other non-final word) leaves `refund_state` pending with its `re_` id; Stripe's refund events
then reach `deposit_refund_update`: `succeeded` books it once, `failed` / `canceled` puts it back
to `failed` with the reason in `refund_error`, where the sweep tries a new refund. States only move
forward (pending -> succeeded -> failed, pending -> failed); a late or repeated word changes nothing.
A retry after a Stripe refund `re_X` failed is a new request: idempotency key
`reservation:{pk}:refund:after:re_X` and metadata `after=re_X` (the first attempt keeps
`reservation:{pk}:refund`), so Stripe does not replay the failed attempt's answer, and an event for
the new refund that arrives before its create call's answer is saved is still recognised. PayPal
and sandbox answers are booked at once, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.follow_ups import follow_up
from circletel.http import ProviderError
from inbox.models import WebhookEvent
from notifications.services import notify
from payments.services import refund_engine
from reservations.errors import (
    AlreadyReserved,
    InvalidReservation,
    InvalidTransition,
    ProviderNotOffered,
    PuppyNotFound,
    ReservationError,
    ReservationNotFound,
)
from reservations.models import Puppy, Reservation, UnmatchedPayment

logger = logging.getLogger(__name__)

Status = Reservation.Status
RefundState = Reservation.RefundState
REFUND_OWED = (RefundState.REQUESTED, RefundState.FAILED)  # the sweep calls the provider
REFUND_LIVE = (RefundState.PENDING, RefundState.SUCCEEDED)  # the provider holds `refund_id`
REFUND_SUCCEEDED = refund_engine.SUCCEEDED
DEPOSIT_REFUND_KIND = "reservation_deposit"
# How long each provider keeps our idempotency key (CONTRACTS 3.4: Stripe 24 h; 4: PayPal 6 h), less a
# margin: a refund call with no answer is asked again with the same key only within it.
KEY_LIFETIME = {Reservation.Provider.STRIPE: timedelta(hours=23), Reservation.Provider.PAYPAL: timedelta(hours=5)}


def hold_minutes() -> int:
    return int(settings.RESERVATIONS.get("HOLD_MINUTES", 30))


def _validate_request(**data) -> dict:
    from reservations.serializers import ReserveRequestSerializer

    serializer = ReserveRequestSerializer(data=data)
    if not serializer.is_valid():
        raise InvalidReservation("Please correct the highlighted fields.", {"fields": serializer.errors})
    return serializer.validated_data


def reserve(puppy_id: int, *, name: str, email: str, phone: str, provider: str, client_ip: str | None = None,
            client_user_agent: str = "", ga_client_id: str = "") -> Reservation:
    """Reserve a puppy for a buyer: returns the pending Reservation or raises `AlreadyReserved`.
    The reservation takes the listing's currency; a provider the listing does not offer (PayPal on a
    rand listing) is `ProviderNotOffered` and nothing is held.

    One transaction: the conditional UPDATE takes the puppy; if anything after it fails the
    puppy goes back to available with the rest of the transaction.
    """
    data = _validate_request(name=name, email=email, phone=phone, provider=provider)
    # A provider the listing does not offer (PayPal on a rand listing) is refused before anything is held.
    listed_in = Puppy.objects.filter(pk=puppy_id).values_list("currency", flat=True).first()
    _check_provider_offered(data["provider"], listed_in)
    now = timezone.now()
    with transaction.atomic():
        taken = Puppy.objects.filter(pk=puppy_id, status=Puppy.Status.AVAILABLE).update(
            status=Puppy.Status.RESERVED, updated_at=now)
        if not taken:
            if not Puppy.objects.filter(pk=puppy_id).exists():
                raise PuppyNotFound("That puppy does not exist.")
            raise AlreadyReserved()
        puppy = Puppy.objects.get(pk=puppy_id)
        _check_provider_offered(data["provider"], puppy.currency)  # repriced meanwhile: rolls the hold back
        try:
            with transaction.atomic():
                reservation = Reservation.objects.create(
                    puppy=puppy, buyer_name=data["name"], buyer_email=data["email"], buyer_phone=data["phone"],
                    deposit_amount=puppy.deposit_amount, currency=puppy.currency, provider=data["provider"],
                    expires_at=now + timedelta(minutes=hold_minutes()), client_ip=client_ip or None,
                    client_user_agent=(client_user_agent or "")[:400], ga_client_id=(ga_client_id or "")[:100],
                )
        except IntegrityError:
            # Another active reservation exists although the puppy said available: the data
            # was inconsistent; refuse (and roll back our UPDATE) rather than double-book.
            raise AlreadyReserved()
    return reservation


def _check_provider_offered(provider: str, currency: str | None) -> None:
    """`ProviderNotOffered` (400, nothing held) unless the listing's currency allows `provider`
    (`selectors.deposit_provider_offered`, the one rule). None: no such puppy (reported elsewhere)."""
    from reservations.selectors import deposit_provider_offered

    if currency is not None and not deposit_provider_offered(provider, currency=currency):
        offered = [p for p in Reservation.Provider.values if deposit_provider_offered(p, currency=currency)]
        raise ProviderNotOffered(provider=provider, currency=currency, offered=offered)


def _lock(reservation_id: int) -> Reservation:
    return Reservation.objects.select_for_update().select_related("puppy").get(pk=reservation_id)


def _free_puppy(puppy_id: int) -> int:
    return Puppy.objects.filter(pk=puppy_id, status=Puppy.Status.RESERVED).update(
        status=Puppy.Status.AVAILABLE, updated_at=timezone.now())


def _context(r: Reservation) -> dict:
    """Context for the deposit_* notification events (keys per notifications/events.py)."""
    from django.urls import reverse

    puppy = r.puppy
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return {
        "reference": r.reference, "buyer_name": r.buyer_name, "buyer_email": r.buyer_email,
        "buyer_phone": r.buyer_phone, "item_name": f"{puppy.name} ({puppy.breed})",
        "amount": r.amount_paid or r.deposit_amount, "deposit_amount": r.deposit_amount,
        "balance_due": puppy.price - r.deposit_amount, "price": puppy.price,
        "currency": r.currency, "provider": r.get_provider_display(), "late_payment": r.status_reason.startswith("paid after the puppy"),
        "admin_url": f"{base}{reverse('admin:reservations_reservation_change', args=[r.pk])}",
    }


def _on_paid(r: Reservation) -> None:
    ctx = _context(r)
    notify(event="deposit_confirmed", email=r.buyer_email, context=ctx, idempotency_key=f"deposit_confirmed:{r.pk}")
    owner = settings.RESERVATIONS.get("OWNER_EMAIL")
    if owner:
        notify(event="deposit_new_owner", email=owner, context=ctx, idempotency_key=f"deposit_new_owner:{r.pk}")
    pk = r.pk
    follow_up("reservations.tasks.send_conversions", pk)  # durable: rung on commit, again by the recovery sweep



def reservation_confirm_payment(*, reference: str, provider: str, external_payment_id: str, amount: Decimal,
                                currency: str = "ZAR", webhook_event: WebhookEvent | None = None,
                                checkout_id: str = "", payer_email: str = "",
                                payer_name: str = "") -> Reservation | None:
    """Record a completed deposit payment for the reservation `reference`. Idempotent.

    - pending -> paid (emails to buyer and owner, conversion events after commit);
    - already recorded with this payment id (duplicate / replayed event) -> returned unchanged;
    - expired or cancelled -> paid again if the puppy is still free, otherwise the deposit is
      marked for refund (a task refunds it through the provider and tells both sides);
    - a payment that cannot be booked (ADR 0013) is recorded as an `UnmatchedPayment` instead of
      failing the event: one that does not cover the deposit, or a second payment on a reservation
      that has one, is refunded automatically (the buyer told why; the reservation is returned
      unchanged); one naming no reservation (returns None) or paid through the other provider goes
      on the staff list with one alert.
    """
    from reservations.services.unmatched import unmatched_payment_record

    if provider not in Reservation.Provider.values:
        raise ReservationError(f"unknown provider {provider!r}")
    unmatched = {"provider": provider, "external_payment_id": external_payment_id, "reference": reference,
                 "amount": amount, "currency": currency, "payer_email": payer_email, "payer_name": payer_name,
                 "checkout_id": checkout_id, "webhook_event": webhook_event}
    with transaction.atomic():
        r = Reservation.objects.select_for_update().filter(reference=reference).first()
        if r is None:
            unmatched_payment_record(kind=UnmatchedPayment.Kind.UNKNOWN_RESERVATION,
                                     detail=f"no reservation has the reference {reference!r}"[:300], **unmatched)
            return None
        if r.external_payment_id == external_payment_id and r.provider == provider:
            return r  # this payment is already recorded: duplicate or replayed event
        if r.external_payment_id:
            unmatched_payment_record(
                kind=UnmatchedPayment.Kind.DUPLICATE, reservation=r,
                detail=f"{reference} already has payment {r.external_payment_id}; this is a second one", **unmatched)
            return r
        if r.provider != provider:
            unmatched_payment_record(kind=UnmatchedPayment.Kind.WRONG_PROVIDER, reservation=r,
                                     detail=f"{reference} expects {r.provider}, was paid through {provider}",
                                     **unmatched)
            return r
        if currency.upper() != r.currency or amount < r.deposit_amount:
            unmatched_payment_record(
                kind=UnmatchedPayment.Kind.UNDERPAID, reservation=r,
                detail=(f"{currency.upper()} {amount} does not cover the deposit {r.currency} {r.deposit_amount} "
                        f"of {reference}"), **unmatched)
            return r
        now = timezone.now()
        r.external_payment_id, r.amount_paid, r.webhook_event = external_payment_id, amount, webhook_event
        if checkout_id:
            r.checkout_id = checkout_id
        if r.status == Status.PENDING:
            r.status, r.paid_at, r.status_reason = Status.PAID, now, ""
        elif r.status in (Status.EXPIRED, Status.CANCELLED):
            regained = Puppy.objects.filter(pk=r.puppy_id, status=Puppy.Status.AVAILABLE).update(
                status=Puppy.Status.RESERVED, updated_at=now)
            if regained:
                r.status, r.paid_at, r.status_reason = Status.PAID, now, "paid after the hold lapsed; puppy was free"
            else:
                r.paid_at = now
                r.refund_state = RefundState.REQUESTED
                r.status_reason = "paid after the puppy was taken: deposit refunded automatically"
        else:  # refunded without a payment id cannot happen; keep the row as it is
            raise InvalidTransition(f"Reservation {reference} is {r.status}.")
        r.save()
        r = Reservation.objects.select_related("puppy").get(pk=r.pk)
        if r.status == Status.PAID:
            _on_paid(r)
        else:
            pk = r.pk
            follow_up("reservations.tasks.refund_reservation", pk)  # durable: rung on commit, again by the recovery sweep
    return r


def reservation_cancel(*, reservation_id: int, reason: str, status: str = Status.CANCELLED) -> Reservation:
    """Cancel (or expire) a pending reservation and free its puppy. Other states are left alone."""
    with transaction.atomic():
        r = _lock(reservation_id)
        if r.status != Status.PENDING:
            return r
        r.status, r.status_reason = status, reason[:200]
        r.save(update_fields=["status", "status_reason", "updated_at"])
        _free_puppy(r.puppy_id)
    return r


@dataclass
class ExpiryResult:
    expired: int = 0
    skipped: int = 0


def expire_reservations(*, now=None, batch_size: int = 500) -> ExpiryResult:
    """Expire pending reservations whose hold has passed (`expires_at`) and free their puppies.

    Each reservation is claimed with `select_for_update(skip_locked=True)`, so concurrent runs
    (or a confirmation in flight) never double-handle a row.
    """
    now = now or timezone.now()
    result = ExpiryResult()
    ids = list(Reservation.objects.filter(status=Status.PENDING, expires_at__lte=now)
               .order_by("expires_at").values_list("pk", flat=True)[:batch_size])
    for pk in ids:
        with transaction.atomic():
            r = (Reservation.objects.select_for_update(skip_locked=True)
                 .filter(pk=pk, status=Status.PENDING, expires_at__lte=now).first())
            if r is None:
                result.skipped += 1
                continue
            r.status, r.status_reason = Status.EXPIRED, f"hold of {hold_minutes()} minutes passed without payment"
            r.save(update_fields=["status", "status_reason", "updated_at"])
            _free_puppy(r.puppy_id)
            result.expired += 1
    return result


def reservation_request_refund(*, reservation_id: int, reason: str) -> Reservation:
    """Staff: refund a paid deposit (the puppy is freed once the refund succeeds)."""
    if not reason.strip():
        raise InvalidReservation("A reason is required for a refund.")
    with transaction.atomic():
        r = _lock(reservation_id)
        if r.refund_state == RefundState.PENDING:
            raise InvalidTransition(f"The refund of {r.reference} ({r.refund_id}) is waiting for the provider.")
        if r.status != Status.PAID or r.refund_state in (RefundState.REQUESTED, RefundState.SUCCEEDED):
            raise InvalidTransition(f"Only a paid deposit can be refunded ({r.reference} is {r.status}).")
        window = int(settings.RESERVATIONS.get("REFUND_WINDOW_DAYS", 90))
        if window and r.paid_at and r.paid_at < timezone.now() - timedelta(days=window):
            raise InvalidTransition(f"{r.reference} was paid more than {window} days ago "
                                    "(DEPOSIT_REFUND_WINDOW_DAYS): pay the buyer back by hand.")
        r.refund_state, r.status_reason = RefundState.REQUESTED, f"refund requested: {reason}"[:200]
        r.save(update_fields=["refund_state", "status_reason", "updated_at"])
        pk = r.pk
        follow_up("reservations.tasks.refund_reservation", pk)  # durable: rung on commit, again by the recovery sweep
    return r


def _provider_refund(r: Reservation) -> tuple[str, str]:
    """Call the provider through the one refund engine (never inside a transaction). Returns
    (refund id, status word); sandbox answers succeed.

    A non-blank `refund_id` here is a refund that failed: this is a new attempt after it, under a new
    idempotency key (the old one would replay the failed answer).
    """
    if r.sandbox:
        return f"re_sandbox_{r.reference}", REFUND_SUCCEEDED
    if r.provider == Reservation.Provider.STRIPE:
        metadata = {"kind": DEPOSIT_REFUND_KIND, "reference": r.reference}
        key = f"reservation:{r.pk}:refund"
        if r.refund_id:
            metadata["after"], key = r.refund_id, f"{key}:after:{r.refund_id}"
    else:
        metadata, key = {}, f"reservation-{r.pk}-refund" + (f"-after-{r.refund_id}" if r.refund_id else "")
    answer = refund_engine.provider_refund(provider=r.provider, payment_id=r.external_payment_id, amount=None,
                                           currency=r.currency, key=key, metadata=metadata, note="Deposit refund")
    return answer.refund_id, answer.word


def _refuse(r: Reservation, *, reason: str) -> None:
    """The refund will not go through automatically (r is locked): refused, never retried; ops are
    alerted and the buyer told once (the one engine's "refused for good" path)."""
    r.refund_state, r.refund_error, r.refund_unanswered_since = RefundState.REFUSED, reason[:2000], None
    r.save(update_fields=["refund_state", "refund_error", "refund_unanswered_since", "updated_at"])
    logger.warning("refund of reservation %s refused for good: %s", r.reference, reason[:200])
    ctx = _context(r)
    refund_engine.refund_refused_for_good(
        key=f"deposit_refund_refused:{r.pk}", title=f"Deposit refund refused: {r.reference}",
        message=(f"{r.get_provider_display()} will not refund the deposit of {ctx['amount']} for {ctx['item_name']}. "
                 "Pay the buyer back by hand (bank transfer) and record it on the reservation. The buyer has been "
                 "told we will contact them."),
        fields={"reservation": r.reference, "buyer": r.buyer_email, "reason": reason[:300], "admin": ctx["admin_url"]},
        payer_event="deposit_refund_refused", payer_email=r.buyer_email, payer_context=ctx)


def _refunded(r: Reservation, *, refund_id: str) -> None:
    """Book the deposit as refunded (r is locked): status, `refunded_at`, puppy, buyer and owner told once."""
    was_paid = r.status == Status.PAID
    r.status, r.refund_state, r.refund_id, r.refunded_at, r.refund_error = (
        Status.REFUNDED, RefundState.SUCCEEDED, refund_id, timezone.now(), "")
    r.save()
    if was_paid:
        _free_puppy(r.puppy_id)
    ctx = _context(r)
    notify(event="deposit_refunded", email=r.buyer_email, context=ctx, idempotency_key=f"deposit_refunded:{r.pk}")
    owner = settings.RESERVATIONS.get("OWNER_EMAIL")
    if owner:
        notify(event="deposit_refunded_owner", email=owner, context=ctx,
               idempotency_key=f"deposit_refunded_owner:{r.pk}")


def _refund_seen(r: Reservation, *, refund_id: str, status: str, reason: str, after: str | None) -> str:
    """Apply the provider's word on refund `refund_id` to r (locked). Returns "" if r changed, else why not.

    `after` is the failed refund the attempt that made `refund_id` came after ("" for the first
    attempt), or None when unknown: an unknown refund is taken on only as the answer to the attempt
    r is waiting for (still owed, and `refund_id` still the one that attempt followed).
    """
    outcome = refund_engine.outcome_of("sandbox" if r.sandbox else r.provider, status)
    if r.refund_id == refund_id and r.refund_state in REFUND_LIVE:
        if outcome == refund_engine.SUCCEEDED and r.refund_state == RefundState.PENDING:
            _refunded(r, refund_id=refund_id)
            return ""
        if outcome == refund_engine.FAILED:
            # pending -> failed, or succeeded -> failed (Stripe can fail a refund it reported
            # succeeded): owed again. A refunded status stays (the puppy may be gone).
            r.refund_state, r.refunded_at, r.refund_error = RefundState.FAILED, None, reason[:2000]
            r.refund_attempts += 1
            r.save(update_fields=["refund_state", "refunded_at", "refund_error", "refund_attempts", "updated_at"])
            logger.warning("refund %s of reservation %s: %s", refund_id, r.reference, reason)
            _refuse_after_too_many_failures(r)
            return ""
        return f"refund {refund_id} of {r.reference} is already {r.refund_state}; {status!r} changes nothing"
    if r.refund_id == refund_id:
        return f"refund {refund_id} of {r.reference} failed before; {status!r} changes nothing"
    if after is None or r.refund_id != after or r.refund_state not in REFUND_OWED:
        return f"refund {refund_id} is not the refund {r.reference} is waiting for"
    r.refund_unanswered_since = None  # the provider answered this key
    if outcome == refund_engine.SUCCEEDED:
        _refunded(r, refund_id=refund_id)
    elif outcome == refund_engine.FAILED:
        r.refund_state, r.refund_id, r.refund_error = RefundState.FAILED, refund_id, reason[:2000]
        r.refund_attempts += 1
        r.save(update_fields=["refund_state", "refund_id", "refund_error", "refund_attempts",
                              "refund_unanswered_since", "updated_at"])
        logger.warning("refund %s of reservation %s: %s", refund_id, r.reference, reason)
        _refuse_after_too_many_failures(r)
    else:  # pending / requires_action / anything not final: wait for Stripe's refund events
        r.refund_state, r.refund_id, r.refund_error = RefundState.PENDING, refund_id, ""
        r.save(update_fields=["refund_state", "refund_id", "refund_error", "refund_unanswered_since", "updated_at"])
        logger.info("refund %s of reservation %s is %s at the provider", refund_id, r.reference, status)
    return ""


def _refuse_after_too_many_failures(r: Reservation) -> None:
    if r.refund_attempts >= refund_engine.MAX_REFUND_ATTEMPTS:
        _refuse(r, reason=f"{r.refund_attempts} refunds failed at the provider; last: {r.refund_error}")


def reservation_refund(*, reservation_id: int) -> Reservation:
    """Carry out a requested refund: provider call, then apply its answer (module docstring, "Finality rule")."""
    try:
        r = Reservation.objects.select_related("puppy").get(pk=reservation_id)
    except Reservation.DoesNotExist:
        raise ReservationNotFound(f"No reservation {reservation_id}.")
    if r.refund_state in REFUND_LIVE:
        return r  # done, or waiting for the provider's refund events
    if r.refund_state not in REFUND_OWED or not r.external_payment_id:
        raise InvalidTransition(f"No refund is due on {r.reference}.")
    after = r.refund_id
    try:
        refund_id, status = _provider_refund(r)
    except ProviderError as exc:
        _call_failed(r, after=after, failure=refund_engine.call_failure(exc))
        raise
    with transaction.atomic():
        r = _lock(reservation_id)
        note = _refund_seen(r, refund_id=refund_id, status=status, after=after,
                            reason=f"the provider answered the refund {refund_id} {status}")
        if note:
            logger.info("refund answer for reservation %s: %s", r.reference, note)
    return r


def _call_failed(r: Reservation, *, after: str, failure) -> None:
    """The one engine's retry policy for a refund call that failed. Only if nothing moved meanwhile
    (a refund event may already have taken the new refund on)."""
    now = timezone.now()
    with transaction.atomic():
        locked = (Reservation.objects.select_for_update().select_related("puppy")
                  .filter(pk=r.pk, refund_state__in=REFUND_OWED, refund_id=after).first())
        if locked is None:
            return
        if failure.outcome == refund_engine.REFUSED:
            _refuse(locked, reason=f"the provider refused the refund: {failure.detail}")
            return
        # Unknown outcome: the refund may have happened; the sweep asks again with the same key while
        # the provider still keeps it, then hands it to staff.
        since = locked.refund_unanswered_since or now
        if r.provider in KEY_LIFETIME and now - since > KEY_LIFETIME[r.provider]:
            _refuse(locked, reason=f"no answer from the provider since {since:%Y-%m-%d %H:%M}; check its dashboard "
                                   f"before paying back: {failure.detail}")
            return
        locked.refund_state, locked.refund_error, locked.refund_unanswered_since = (
            RefundState.FAILED, f"outcome unknown, asked again by the sweep: {failure.detail}"[:2000], since)
        locked.save(update_fields=["refund_state", "refund_error", "refund_unanswered_since", "updated_at"])


def deposit_refund_update(*, provider_refund_id: str, status: str, raw: dict) -> bool:
    """Stripe's refund events (`refund.updated`, `refund.failed`, `charge.refund.updated`) for a deposit.

    Returns True when the refund belongs to a reservation (found by `refund_id`, or by our own
    metadata `kind`/`reference` for an attempt whose answer is not saved yet), False otherwise so the
    caller can go on. Applies `status` by the finality rule (module docstring): idempotent by state,
    never moves back; a duplicate or out-of-order word changes nothing (logged).
    """
    if not provider_refund_id:
        raise ReservationError("A refund event without a refund id.")
    meta = raw.get("metadata") or {}
    ours = meta.get("kind") == DEPOSIT_REFUND_KIND and meta.get("reference")
    with transaction.atomic():
        stripe_rows = Reservation.objects.select_for_update().select_related("puppy").filter(
            provider=Reservation.Provider.STRIPE)
        r = stripe_rows.filter(refund_id=provider_refund_id).first()
        if r is None and ours:
            r = stripe_rows.filter(reference=meta["reference"]).first()
        if r is None:
            return False
        intent = raw.get("payment_intent")
        same_payment = not intent or intent == r.external_payment_id
        after = meta.get("after", "") if ours == r.reference and same_payment else None
        # `failure_reason` on a Refund (e.g. expired_or_canceled_card) is UNCONFIRMED: not in CONTRACTS 3.3.
        why = raw.get("failure_reason") or "no reason given"
        note = _refund_seen(r, refund_id=provider_refund_id, status=status or "", after=after,
                            reason=f"Stripe reports the refund {provider_refund_id} {status} ({why}); "
                                   "the sweep tries a new refund")
    if note:
        logger.info("stripe refund event for reservation %s: %s", r.reference, note)
    return True


def reservations_retry_refunds(*, limit: int = 50) -> tuple[int, int]:
    """Sweep refunds still owed (requested or failed). Returns (succeeded, failed); a refund the
    provider answered pending counts as neither (its events finish it)."""
    ok = failed = 0
    for pk in (Reservation.objects.filter(refund_state__in=REFUND_OWED)
               .order_by("updated_at").values_list("pk", flat=True)[:limit]):
        try:
            state = reservation_refund(reservation_id=pk).refund_state
        except ProviderError:
            logger.warning("refund of reservation %s failed; will retry", pk)
            failed += 1
            continue
        if state == RefundState.SUCCEEDED:
            ok += 1
        elif state == RefundState.FAILED:
            failed += 1
    return ok, failed


def puppy_mark_sold(*, puppy_id: int) -> Puppy:
    """Mark a puppy sold: from available (sold privately) or reserved with a paid deposit."""
    with transaction.atomic():
        try:
            puppy = Puppy.objects.select_for_update().get(pk=puppy_id)
        except Puppy.DoesNotExist:
            raise PuppyNotFound("That puppy does not exist.")
        if puppy.status == Puppy.Status.SOLD:
            return puppy
        pending = puppy.reservations.filter(status=Status.PENDING).exists()
        if pending:
            raise InvalidTransition(f"{puppy.name} has a deposit awaiting payment; wait for it or cancel it first.")
        puppy.status = Puppy.Status.SOLD
        puppy.save(update_fields=["status", "updated_at"])
    return puppy


def deposit_charge_refunded(*, external_payment_id: str, refund_id: str) -> bool:
    """Stripe reports the deposit's charge fully refunded with every listed refund succeeded
    (`charge.refunded`), e.g. a refund staff made in Stripe's dashboard. Marks the deposit refunded
    once, so the sweep never pays it back a second time. Returns False when no reservation holds
    that payment intent. A refund of ours still pending at Stripe is left to its own refund events
    (`deposit_refund_update`)."""
    with transaction.atomic():
        r = (Reservation.objects.select_for_update().select_related("puppy")
             .filter(provider=Reservation.Provider.STRIPE, external_payment_id=external_payment_id).first())
        if r is None:
            return False
        if r.status == Status.REFUNDED or r.refund_state == RefundState.PENDING:
            return True
        _refunded(r, refund_id=refund_id)
    return True


def reservation_mark_refunded(*, provider: str, external_payment_id: str, refund_id: str) -> Reservation | None:
    """A provider reports a refund of a deposit (ours, or one made in its dashboard). Idempotent.

    Returns None when no reservation holds that payment.
    """
    with transaction.atomic():
        r = (Reservation.objects.select_for_update().select_related("puppy")
             .filter(provider=provider, external_payment_id=external_payment_id).first())
        if r is None:
            return None
        if r.status == Status.REFUNDED:
            return r
        _refunded(r, refund_id=r.refund_id or refund_id)
    return r
