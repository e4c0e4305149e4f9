"""Payments that do not match a reservation we can book them on (ADR 0013): never failed, never lost.

`unmatched_payment_record` is called by `reservation_confirm_payment` (inside the webhook handler's
transaction, or the success page's / PayPal capture's) instead of raising, so the event is processed
once instead of failing and being retried 8 times:

- underpaid (less than the deposit, or another currency) and duplicate (a second payment on a
  reservation that already has one) are refunded automatically, in full, through the one refund
  engine (`payments.services.refund_engine`), and the buyer is told why at once;
- unknown_reservation (no reservation with the reference the payment names) and wrong_provider go on
  the staff list (admin: Reservations > Unmatched payments) with ONE ops alert: we cannot tell whose
  money it is (another environment on the same provider account, a deleted test reservation), so a
  person decides; the admin's refund action sends it back through the same engine.

The refund follows the engine's policy as deposit refunds do: a retryable failure (unknown outcome) is
asked again by the 5-minute sweep with the same key while the provider keeps it; a permanent refusal,
`MAX_REFUND_ATTEMPTS` refunds that failed, or no answer past the key's lifetime is refused for good
(`refund_refused_for_good`: ops alerted once, the payer told once). Stripe may answer `pending`: its
refund events (metadata kind `reservation_unmatched_payment`) finish it.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.follow_ups import follow_up
from circletel.http import ProviderError
from circletel.money import format_zar
from inbox.models import WebhookEvent
from notifications.services import notify, notify_ops
from payments.services import refund_engine
from reservations.errors import InvalidTransition, ReservationError, ReservationNotFound
from reservations.models import Reservation, UnmatchedPayment

logger = logging.getLogger(__name__)

Kind = UnmatchedPayment.Kind
Outcome = UnmatchedPayment.Outcome
RefundState = UnmatchedPayment.RefundState
OWED = (RefundState.REQUESTED, RefundState.FAILED)
UNMATCHED_REFUND_KIND = "reservation_unmatched_payment"

# What the buyer is told, per kind (the refund email's "why").
WHY = {
    Kind.UNDERPAID: "it did not cover the deposit of {deposit}, so it cannot hold the reservation.",
    Kind.DUPLICATE: "the deposit for this reservation had already been paid, so this second payment is not needed.",
}
TRY_AGAIN = {
    Kind.UNDERPAID: "If your reservation is still on hold you can pay the full deposit from the puppy's page.",
    Kind.DUPLICATE: "Your reservation and its first deposit payment are not affected.",
}


def _amount_text(amount: Decimal, currency: str) -> str:
    return format_zar(amount) if currency.upper() == "ZAR" else f"{currency.upper()} {amount:.2f}"


def _admin_url(u: UnmatchedPayment) -> str:
    from django.conf import settings
    from django.urls import reverse

    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{base}{reverse('admin:reservations_unmatchedpayment_change', args=[u.pk])}"


def _buyer(u: UnmatchedPayment) -> tuple[str, str]:
    r = u.reservation
    return (r.buyer_email, r.buyer_name) if r else (u.payer_email, u.payer_name or "there")


def _payer_context(u: UnmatchedPayment) -> dict:
    r = u.reservation
    email, name = _buyer(u)
    item = f"{r.puppy.name} ({r.puppy.breed})" if r else ""
    deposit = _amount_text(r.deposit_amount, r.currency) if r else ""
    return {"buyer_name": name, "reference": u.reference or "-", "item_name": item, "amount": u.amount,
            "amount_text": _amount_text(u.amount, u.currency), "currency": u.currency,
            "provider": u.get_provider_display(), "why": WHY.get(u.kind, "").format(deposit=deposit),
            "try_again": TRY_AGAIN.get(u.kind, "")}


def unmatched_payment_record(*, provider: str, external_payment_id: str, kind: str, reference: str,
                             amount: Decimal, currency: str, detail: str, reservation: Reservation | None = None,
                             payer_email: str = "", payer_name: str = "", checkout_id: str = "",
                             webhook_event: WebhookEvent | None = None) -> UnmatchedPayment:
    """Record a proven payment that matches no reservation we can book it on, and start its outcome
    (module docstring). Idempotent on (provider, payment id): a repeat returns the first row."""
    outcome = Outcome.REFUND if kind in UnmatchedPayment.AUTO_REFUND else Outcome.STAFF
    try:
        with transaction.atomic():
            u, created = UnmatchedPayment.objects.get_or_create(
                provider=provider, external_payment_id=external_payment_id,
                defaults={"kind": kind, "outcome": outcome, "reference": (reference or "")[:64],
                          "reservation": reservation, "amount": amount, "currency": currency.upper()[:3],
                          "payer_email": (payer_email or "")[:254], "payer_name": (payer_name or "")[:150],
                          "checkout_id": (checkout_id or "")[:255], "detail": detail[:300],
                          "webhook_event": webhook_event, "sandbox": bool(reservation and reservation.sandbox),
                          "refund_state": RefundState.REQUESTED if outcome == Outcome.REFUND else ""})
    except IntegrityError:  # recorded at the same moment by another worker
        return UnmatchedPayment.objects.get(provider=provider, external_payment_id=external_payment_id)
    if not created:
        return u
    logger.warning("unmatched %s payment %s (%s): %s", provider, external_payment_id, kind, detail)
    if outcome == Outcome.REFUND:
        email, _ = _buyer(u)
        if email:
            notify(event="deposit_payment_returned", email=email, context=_payer_context(u),
                   idempotency_key=f"deposit_payment_returned:{u.pk}")
        follow_up("reservations.tasks.refund_unmatched_payment", u.pk)  # durable: rung on commit, again by the sweep
    else:
        notify_ops(event="ops_alert", idempotency_key=f"unmatched_payment:{u.pk}", context={
            "title": f"Deposit payment matches no reservation: {u.get_provider_display()} {external_payment_id}",
            "message": (f"A payment of {_amount_text(amount, currency)} was received for reference "
                        f"{reference or '(none)'} but {detail}. It is on the staff list (Unmatched payments): check "
                        "whose money it is, then refund it there or book it by hand."),
            "severity": "warning",
            "fields": {"provider": provider, "payment": external_payment_id, "reference": reference or "",
                       "payer": payer_email or "", "kind": kind, "admin": _admin_url(u)}})
    return u


def _lock(unmatched_id: int) -> UnmatchedPayment:
    return (UnmatchedPayment.objects.select_for_update(of=("self",)).select_related("reservation__puppy")
            .get(pk=unmatched_id))


def _refuse(u: UnmatchedPayment, *, reason: str) -> None:
    """Refused for good (u is locked): never retried; ops alerted once, the payer told once."""
    u.refund_state, u.refund_error, u.refund_unanswered_since = RefundState.REFUSED, reason[:2000], None
    u.save(update_fields=["refund_state", "refund_error", "refund_unanswered_since", "updated_at"])
    email, _ = _buyer(u)
    ctx = _payer_context(u)
    refund_engine.refund_refused_for_good(
        key=f"unmatched_refund_refused:{u.pk}",
        title=f"Refund of an unmatched payment refused: {u.external_payment_id}",
        message=(f"{u.get_provider_display()} will not refund {ctx['amount_text']} ({u.get_kind_display().lower()}, "
                 f"reference {u.reference or '-'}). Pay it back by hand and close the row with a note."),
        fields={"payment": u.external_payment_id, "payer": email, "reason": reason[:300], "admin": _admin_url(u)},
        payer_event="deposit_refund_refused" if email else None, payer_email=email or None, payer_context=ctx)


def _apply_answer(u: UnmatchedPayment, *, refund_id: str, word: str) -> None:
    """The provider's word on our refund (u is locked)."""
    outcome = refund_engine.outcome_of("sandbox" if u.sandbox else u.provider, word)
    u.refund_unanswered_since = None
    if outcome == refund_engine.SUCCEEDED:
        u.refund_state, u.refund_id, u.refunded_at, u.refund_error = (
            RefundState.SUCCEEDED, refund_id, timezone.now(), "")
    elif outcome == refund_engine.FAILED:
        u.refund_state, u.refund_id = RefundState.FAILED, refund_id
        u.refund_error = f"the provider answered the refund {refund_id} {word}"
        u.refund_attempts += 1
    else:
        u.refund_state, u.refund_id, u.refund_error = RefundState.PENDING, refund_id, ""
    u.save()
    if u.refund_state == RefundState.FAILED and u.refund_attempts >= refund_engine.MAX_REFUND_ATTEMPTS:
        _refuse(u, reason=f"{u.refund_attempts} refunds failed at the provider; last: {u.refund_error}")


def unmatched_payment_request_refund(*, unmatched_id: int, reason: str) -> UnmatchedPayment:
    """Staff: send a payment on the staff list back to the payer (through the same engine)."""
    if not reason.strip():
        raise ReservationError("A reason is required for a refund.")
    with transaction.atomic():
        u = _lock(unmatched_id)
        if u.refund_state or u.resolved_at:
            state = u.get_refund_state_display().lower() if u.refund_state else "closed"
            raise InvalidTransition(f"{u.external_payment_id} is already {state}.")
        u.refund_state, u.resolution = RefundState.REQUESTED, f"refund requested: {reason}"[:300]
        u.save(update_fields=["refund_state", "resolution", "updated_at"])
        follow_up("reservations.tasks.refund_unmatched_payment", u.pk)  # durable: rung on commit, again by the sweep
    return u


def unmatched_payment_resolve(*, unmatched_id: int, note: str) -> UnmatchedPayment:
    """Staff: close a reviewed row (booked or paid back by hand) with a note."""
    if not note.strip():
        raise ReservationError("Say how it was resolved.")
    with transaction.atomic():
        u = _lock(unmatched_id)
        if u.refund_state in OWED + (RefundState.PENDING,):
            raise InvalidTransition(f"The refund of {u.external_payment_id} is under way; wait for it.")
        u.resolved_at, u.resolution = timezone.now(), note[:300]
        u.save(update_fields=["resolved_at", "resolution", "updated_at"])
    return u


def unmatched_payment_refund(*, unmatched_id: int) -> UnmatchedPayment:
    """Carry out a requested refund: one provider call (outside any transaction), then its answer."""
    from reservations.services.deposits import KEY_LIFETIME

    try:
        u = UnmatchedPayment.objects.select_related("reservation__puppy").get(pk=unmatched_id)
    except UnmatchedPayment.DoesNotExist:
        raise ReservationNotFound(f"No unmatched payment {unmatched_id}.")
    if u.refund_state not in OWED:
        return u  # done, pending at the provider, refused, or never asked for
    after = u.refund_id
    if u.sandbox:
        refund_id, word = f"re_sandbox_unmatched_{u.pk}", refund_engine.SUCCEEDED
    else:
        if u.provider == Reservation.Provider.STRIPE:
            key = f"unmatched:{u.pk}:refund" + (f":after:{after}" if after else "")
            metadata = {"kind": UNMATCHED_REFUND_KIND, "unmatched": str(u.pk), "after": after}
        else:
            key, metadata = f"unmatched-{u.pk}-refund" + (f"-after-{after}" if after else ""), {}
        try:
            answer = refund_engine.provider_refund(provider=u.provider, payment_id=u.external_payment_id, amount=None,
                                                   currency=u.currency, key=key, metadata=metadata,
                                                   note="Payment returned")
        except ProviderError as exc:
            failure = refund_engine.call_failure(exc)
            now = timezone.now()
            with transaction.atomic():
                locked = (UnmatchedPayment.objects.select_for_update(of=("self",)).select_related("reservation__puppy")
                          .filter(pk=u.pk, refund_state__in=OWED, refund_id=after).first())
                if locked is not None:
                    since = locked.refund_unanswered_since or now
                    if failure.outcome == refund_engine.REFUSED:
                        _refuse(locked, reason=f"the provider refused the refund: {failure.detail}")
                    elif u.provider in KEY_LIFETIME and now - since > KEY_LIFETIME[u.provider]:
                        _refuse(locked, reason=f"no answer from the provider since {since:%Y-%m-%d %H:%M}: "
                                               f"{failure.detail}")
                    else:
                        locked.refund_state, locked.refund_unanswered_since = RefundState.FAILED, since
                        locked.refund_error = f"outcome unknown, asked again by the sweep: {failure.detail}"[:2000]
                        locked.save(update_fields=["refund_state", "refund_error", "refund_unanswered_since",
                                                   "updated_at"])
            raise
        refund_id, word = answer.refund_id, answer.word
    with transaction.atomic():
        u = _lock(unmatched_id)
        if u.refund_state in OWED and u.refund_id == after:
            _apply_answer(u, refund_id=refund_id, word=word)
    return u


def unmatched_refund_update(*, provider_refund_id: str, status: str, raw: dict) -> bool:
    """Stripe's refund events for a refund of ours on an unmatched payment. False when not ours."""
    meta = raw.get("metadata") or {}
    with transaction.atomic():
        rows = UnmatchedPayment.objects.select_for_update(of=("self",)).select_related("reservation__puppy").filter(
            provider=Reservation.Provider.STRIPE)
        u = rows.filter(refund_id=provider_refund_id).first()
        if u is None and meta.get("kind") == UNMATCHED_REFUND_KIND and str(meta.get("unmatched", "")).isdigit():
            u = rows.filter(pk=int(meta["unmatched"])).first()
            # an answer not saved yet: only for the attempt the row is waiting for
            if u is not None and not (u.refund_state in OWED and u.refund_id == meta.get("after", "")):
                return True
        if u is None:
            return False
        if u.refund_id == provider_refund_id and u.refund_state not in (RefundState.PENDING, *OWED):
            return True  # already final: a late or repeated word changes nothing
        if u.refund_id == provider_refund_id and u.refund_state in OWED:
            return True  # this refund failed before
        _apply_answer(u, refund_id=provider_refund_id, word=status)
    return True


def unmatched_payments_retry_refunds(*, limit: int = 50) -> tuple[int, int]:
    """Sweep refunds still owed. Returns (succeeded, failed)."""
    ok = failed = 0
    for pk in (UnmatchedPayment.objects.filter(refund_state__in=OWED).order_by("updated_at")
               .values_list("pk", flat=True)[:limit]):
        try:
            state = unmatched_payment_refund(unmatched_id=pk).refund_state
        except ProviderError:
            failed += 1
            continue
        ok += state == RefundState.SUCCEEDED
        failed += state == RefundState.FAILED
    return ok, failed
