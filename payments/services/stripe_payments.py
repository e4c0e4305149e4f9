"""Stripe invoice payments: payment intents, saved cards, and the webhook effects.

Flow for an invoice: `payment_intent_create_for_invoice` reserves a pending PaymentTransaction
(our reference `INV-...-XXXXXX`) in one transaction, calls Stripe with the idempotency key
`payment:{pk}` outside any transaction, then stores the intent id. The browser confirms with the
client secret through the Payment Element (the invoice's pay page, static/payments/card_pay.js), or,
for a saved card, we confirm at once, on-session: a bank that wants 3-D Secure answers
`requires_action` and Stripe.js finishes it in the page. Completion always goes
through `payments.services.payments.payment_complete` (allocation, ledger, receipt, ZOHO) from
the `payment_intent.succeeded` webhook or the off-session answer, whichever comes first; the other
finds the payment completed and does nothing.

Saving a card while paying: the intent carries `setup_future_usage=off_session` and our customer, so
Stripe keeps the card on the Stripe customer once the payment succeeds; the success webhook writes a
follow-up (`stripe_card_save_after_payment`) that reads the card at Stripe and records it as a saved
method (brand, last four, expiry; never the number).

Ordering rule: a payment never moves backwards. `payment_intent.payment_failed` for a payment that
is already completed (an earlier attempt's decline delivered late) is ignored.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from billing.models import Customer, Invoice
from circletel.follow_ups import follow_up
from circletel.http import PermanentProviderError, ProviderError
from inbox.errors import IgnoreEvent
from payments.clients import stripe as stripe_client
from payments.errors import (
    AmountDueChanged,
    PaymentError,
    PaymentInProgress,
    PaymentMethodLimitReached,
    PaymentNotFound,
)
from payments.models import PaymentMethod, PaymentTransaction, StripeCustomer
from payments.provider_errors import ProviderErrorInfo, classify, classify_stripe_error
from payments.services.methods import STRIPE_DETACH, payment_method_create, payment_method_limit_check
from payments.services.payments import payment_complete, payment_fail, payment_flag_for_review
from payments.services.references import invoice_payment_reference

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
PROVIDER = PaymentTransaction.Provider.STRIPE
KIND = "invoice_payment"


class PaymentDeclined(PaymentError):
    """A provider refused the payment; `extra` carries our code, message and retryable flag only."""

    status_code = 402

    def __init__(self, info: ProviderErrorInfo, *, payment: PaymentTransaction | None = None):
        extra = info.as_dict() | ({"payment": payment.pk, "reference": payment.reference} if payment else {})
        super().__init__(info.message, extra)
        self.info = info


@dataclass(frozen=True)
class IntentResult:
    payment: PaymentTransaction
    intent: stripe_client.PaymentIntent
    return_url: str | None = None


def _invoice_amount_due(invoice: Invoice) -> Decimal:
    invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
    if not invoice.is_open or invoice.amount_due <= 0:
        raise PaymentError("This invoice has nothing left to pay.", {"invoice": invoice.number})
    return invoice.amount_due


def _reserve_payment(*, invoice: Invoice, amount: Decimal, payment_method: PaymentMethod | None,
                     save_card: bool = False, reuse: bool = True) -> PaymentTransaction:
    """A pending Stripe payment for the invoice: reuse the open one for the same amount, card and
    save choice (so a repeated click replays the same intent: one payment row never has two intents),
    else create one. The save choice is kept on the pending row (`raw_response.save_card`) because the
    intent's parameters differ with it and Stripe refuses a replayed idempotency key with new ones."""
    with transaction.atomic():
        existing = (PaymentTransaction.objects.select_for_update()
                    .filter(invoice=invoice, provider=PROVIDER, status=Status.PENDING, amount=amount,
                            payment_method=payment_method, raw_response__save_card=save_card)
                    .order_by("-pk").first()) if reuse else None
        if existing is not None:
            return existing
        return PaymentTransaction.objects.create(
            customer=invoice.customer, invoice=invoice, amount=amount, method=PaymentTransaction.Method.STRIPE,
            provider=PROVIDER, reference=invoice_payment_reference(invoice), status=Status.PENDING,
            payment_method=payment_method, raw_response={"save_card": save_card})


def _store_intent(payment: PaymentTransaction, intent: stripe_client.PaymentIntent) -> PaymentTransaction:
    with transaction.atomic():
        PaymentTransaction.objects.filter(pk=payment.pk, provider_transaction_id__isnull=True).update(
            provider_transaction_id=intent.id, updated_at=timezone.now())
    payment.refresh_from_db()
    return payment


def payment_intent_create_for_invoice(*, invoice: Invoice, payment_method: PaymentMethod | None = None,
                                      save_card: bool = False, build_url=None,
                                      expected_amount: Decimal | None = None, new_attempt: bool = False) -> IntentResult:
    """Create (or replay) the payment intent for the invoice's amount due.

    Without `payment_method` the caller hands `intent.client_secret` to Stripe.js (the Payment
    Element); `save_card` asks Stripe to keep the card for next time (refused up front when the
    customer already has the most saved methods allowed). With a saved card the intent is confirmed
    now, on-session: success completes the payment at once, `requires_action` goes back to the
    browser for 3-D Secure, a decline records a failed payment and raises `PaymentDeclined`
    (customer-safe message; raw text for staff in `raw_response`). `build_url(path)` makes the
    absolute return URL (our result page) a redirect-based authentication comes back to.
    `expected_amount`, the amount the customer saw and agreed to, refuses (AmountDueChanged, 409) when the
    invoice now owes something else: a saved card is charged at once, so it must be what they agreed to.
    `new_attempt` (the page, after Stripe declined the last one) never reuses the open attempt: a new row
    and intent, the old intent cancelled, so a late decline event for the old one cannot touch the new.
    """
    if not stripe_client.is_configured():
        # Checked before anything is reserved: no key means no card payments, never a 500.
        raise PaymentError("Card payments are not available right now.")
    amount = _invoice_amount_due(invoice)
    if expected_amount is not None and expected_amount != amount:
        raise AmountDueChanged(f"The amount due on invoice {invoice.number} is now R {amount:,.2f}; nothing was "
                               "charged. Check it and pay again.", {"amount_due": str(amount)})
    card_id = None
    stripe_customer_id = None
    if payment_method is not None:
        save_card = False  # it is saved already
        if payment_method.customer_id != invoice.customer_id or payment_method.deleted_at is not None:
            raise PaymentNotFound("No such payment method.")
        if payment_method.method_type != PaymentMethod.Type.CARD or not payment_method.provider_token.startswith("pm_"):
            raise PaymentError("This payment method cannot be charged by card.", {"payment_method": payment_method.pk})
        card_id = payment_method.provider_token
    if save_card:
        payment_method_limit_check(customer=invoice.customer)  # at the limit: say so now, not after the payment
    if card_id is not None or save_card:
        try:
            stripe_customer_id = stripe_customer_for(customer=invoice.customer)
        except ProviderError as exc:  # nothing reserved yet: the customer sees our words, staff the log
            info = classify(exc)
            logger.warning("stripe customer for %s failed: %s (%s)", invoice.number, info.code, info.raw[:200])
            raise PaymentDeclined(info) from exc
    payment = _reserve_payment(invoice=invoice, amount=amount, payment_method=payment_method, save_card=save_card,
                               reuse=not new_attempt)
    _cancel_older_attempts(payment)  # before a saved card is charged: one live card attempt per invoice
    return_url = build_url(reverse("payments:result", args=[payment.reference])) if build_url else None

    def create(customer_id: str | None, key: str):
        return stripe_client.payment_intent_create(
            amount=amount, reference=payment.reference, invoice_number=invoice.number,
            description=f"CircleTel invoice {invoice.number}", customer=customer_id, payment_method=card_id,
            confirm=card_id is not None, return_url=return_url if card_id is not None else None, save_card=save_card,
            receipt_email=invoice.customer.email or None, idempotency_key=key)

    try:
        try:
            intent = create(stripe_customer_id, f"payment:{payment.pk}")
        except PermanentProviderError as exc:
            gone = _stripe_does_not_know(exc)
            if gone is None:
                raise
            removed = _stripe_forgot(customer=invoice.customer, what=gone, card_id=card_id)
            if card_id is not None:  # the saved card went with it: nothing was charged
                _cancel_intent(payment, why="Not charged: the saved card is no longer available.")
                several = len(removed) > 1
                raise PaymentError(
                    f"{'Your saved cards are' if several else 'This saved card is'} no longer available at our card "
                    f"processor, so we removed {'them' if several else 'it'}. Please pay with another card.",
                    {"payment_method": payment_method.pk, "removed": removed}) from exc
            # A new card: a new Stripe customer to keep it on, once (parameters differ: a new key).
            intent = create(stripe_customer_for(customer=invoice.customer, replacing=stripe_customer_id or ""),
                            f"payment:{payment.pk}:again")
    except ProviderError as exc:
        info = classify(exc)
        if card_id is not None and not info.retryable:
            _fail(payment, info)
            if declined_intent := _intent_in_error(exc):
                follow_up(CANCEL_FAILED, declined_intent)
        logger.warning("stripe intent for %s failed: %s (%s)", payment.reference, info.code, info.raw[:200])
        raise PaymentDeclined(info, payment=payment) from exc
    payment = _store_intent(payment, intent)
    _give_way_to_newer_attempts(payment)
    if intent.status == "succeeded":
        payment = _complete_from_intent(payment=payment, intent_id=intent.id, amount_cents=intent.amount,
                                        raw={"payment_intent": intent.id, "latest_charge": intent.latest_charge})
    elif card_id is not None and intent.status in ("requires_payment_method", "canceled"):
        info = classify_stripe_error(intent.last_payment_error)
        _fail(payment, info)
        if intent.status != "canceled":
            follow_up(CANCEL_FAILED, intent.id)
        raise PaymentDeclined(info, payment=payment)
    return IntentResult(payment=payment, intent=intent, return_url=return_url)


# --- one live card attempt per invoice ---------------------------------------------------------------------
# Rule: the newest attempt wins. Each attempt (a payment row and its intent) cancels the invoice's older
# open intents before it can be charged, and an attempt that finds a newer one after storing its intent
# cancels itself. Whichever order two tabs run in, at most one intent stays payable; one that Stripe can
# no longer cancel (it succeeded meanwhile) pays the invoice, and the newer attempt is refused instead.
# A payment that still lands on an invoice owing less is flagged for staff (`stripe_intent_succeeded`).
SUPERSEDED = "superseded"


def _cancel_intent(payment: PaymentTransaction, *, why: str, reason: str = "abandoned") -> bool:
    """Cancel the payment's intent at Stripe and fail our pending row without telling the customer.
    True when it can no longer be charged; False when Stripe says it succeeded or is processing (its
    webhook books it). A Stripe outage raises (nothing changed here)."""
    if payment.provider_transaction_id:
        try:
            stripe_client.payment_intent_cancel(payment.provider_transaction_id, reason=reason,
                                                idempotency_key=f"cancel:{payment.pk}")
        except PermanentProviderError:
            status = stripe_client.payment_intent_retrieve(payment.provider_transaction_id).status
            if status != "canceled":
                logger.info("stripe intent %s of %s is %s: not cancelled", payment.provider_transaction_id,
                            payment.reference, status)
                return False
    payment_fail(reference=payment.reference, amount=payment.amount, customer=payment.customer,
                 method=payment.method, provider=PROVIDER, reason=why, invoice=payment.invoice,
                 provider_transaction_id=payment.provider_transaction_id,
                 raw={"error_code": SUPERSEDED, "payment_intent": payment.provider_transaction_id},
                 notify_customer=False)
    return True


def _open_attempts(payment: PaymentTransaction):
    return (PaymentTransaction.objects.select_related("customer", "invoice")
            .filter(invoice_id=payment.invoice_id, provider=PROVIDER, status=Status.PENDING).exclude(pk=payment.pk))


def _cancel_older_attempts(payment: PaymentTransaction) -> None:
    for older in _open_attempts(payment).filter(pk__lt=payment.pk, provider_transaction_id__isnull=False):
        if not _cancel_intent(older, why="Not charged: replaced by a newer attempt.",
                              reason="duplicate"):
            _cancel_intent(payment, why="Not charged: another payment for this invoice was going through.",
                           reason="duplicate")
            raise PaymentInProgress("A card payment for this invoice is already going through. Check your "
                                    "payments before paying again.", {"reference": older.reference})


def _give_way_to_newer_attempts(payment: PaymentTransaction) -> None:
    if _open_attempts(payment).filter(pk__gt=payment.pk).exists() and _cancel_intent(
            payment, why="Not charged: replaced by a newer attempt.", reason="duplicate"):
        # (Not cancelled: a saved card was charged already; it completes below and the newer attempt gives way.)
        raise PaymentInProgress("This invoice is being paid in another window or tab: please finish there.",
                                {"reference": payment.reference})


def stripe_open_intents_review(customer_id: int) -> int:
    """Follow-up of a payment that changed what the customer owes (`payment_complete`): their open card
    attempts for an amount that is no longer due (or for an invoice now paid) are cancelled, so a 3-D
    Secure challenge left open cannot charge the old amount. Returns how many were cancelled."""
    cancelled = 0
    open_attempts = (PaymentTransaction.objects.select_related("customer", "invoice")
                     .filter(customer_id=customer_id, provider=PROVIDER, status=Status.PENDING,
                             invoice__isnull=False, provider_transaction_id__isnull=False))
    for attempt in open_attempts:
        invoice = attempt.invoice
        invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
        owed = invoice.amount_due if invoice.is_open else Decimal("0.00")
        if attempt.amount != owed and _cancel_intent(
                attempt, why=f"Not charged: invoice {invoice.number} now owes {owed} (the attempt was for {attempt.amount}).",
                reason="abandoned"):
            cancelled += 1
    return cancelled


CANCEL_FAILED = "payments.services.stripe_payments.stripe_failed_intent_cancel"


def stripe_failed_intent_cancel(intent_id: str) -> None:
    """Follow-up of a declined card attempt (or a failed 3-D Secure step): cancel its intent at Stripe. Stripe
    leaves a declined intent open for another card; ours never reuses it (a retry is a new attempt), so left
    open it could still be charged later by whoever holds its client secret. An intent Stripe charged
    meanwhile, or already cancelled, is left as it is (its webhook books a charge); an outage raises, so the
    follow-up tries again."""
    try:
        stripe_client.payment_intent_cancel(intent_id, reason="abandoned", idempotency_key=f"cancel-failed:{intent_id}")
    except PermanentProviderError as exc:
        logger.info("declined intent %s not cancelled (%s): it is no longer open", intent_id, exc.http_status)


_ERROR_INTENT_ID = re.compile(r'"payment_intent"\s*:\s*\{\s*"id"\s*:\s*"(pi_[A-Za-z0-9_]+)"')


def _intent_in_error(exc: ProviderError) -> str | None:
    """The PaymentIntent id Stripe puts in a card error's body (`error.payment_intent`, whose first key is its
    `id`), read from the start of the body: `raw` is cut at 2,000 characters, a whole intent can be longer."""
    found = _ERROR_INTENT_ID.search(exc.raw or "")
    return found.group(1) if found else None


ASK_STRIPE_AFTER = timedelta(minutes=15)  # a webhook normally lands within seconds
ABANDONED_AFTER = timedelta(days=1)  # an attempt nobody finished in a day is cancelled


def stripe_pending_attempts_sweep(*, now=None, limit: int = 200) -> dict:
    """Card attempts still pending after ASK_STRIPE_AFTER: ask Stripe what became of each intent (its own
    statement, server to server) instead of waiting on a webhook that may never come. Succeeded -> booked
    exactly as the webhook would (`stripe_intent_succeeded`); cancelled at Stripe -> closed here; still open
    after ABANDONED_AFTER -> cancelled (never charged later); processing or younger -> left. Stripe
    unreachable for one -> left for the next run. Returns counts per outcome."""
    now = now or timezone.now()
    counts = {"booked": 0, "closed": 0, "cancelled": 0, "left": 0, "unreachable": 0}
    pending = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(provider=PROVIDER, status=Status.PENDING, provider_transaction_id__isnull=False,
                       created_at__lt=now - ASK_STRIPE_AFTER).order_by("created_at")[:limit])
    for payment in pending:
        try:
            intent = stripe_client.payment_intent_retrieve(payment.provider_transaction_id)
        except ProviderError as exc:
            logger.warning("pending card attempt %s: Stripe did not answer (%s)", payment.reference, exc.message)
            counts["unreachable"] += 1
            continue
        if intent.status == "succeeded":
            with transaction.atomic():
                stripe_intent_succeeded(intent={
                    "id": intent.id, "object": "payment_intent", "amount": intent.amount,
                    "amount_received": intent.amount, "currency": intent.currency.lower(),
                    "latest_charge": intent.latest_charge, "metadata": intent.metadata,
                    "payment_method": intent.payment_method})
            logger.warning("card payment %s booked from Stripe's answer: its webhook never came", payment.reference)
            counts["booked"] += 1
        elif intent.status == "canceled":
            _cancel_intent(payment, why="Not charged: cancelled at Stripe.")
            counts["closed"] += 1
        elif intent.status != "processing" and payment.created_at < now - ABANDONED_AFTER:
            counts["cancelled" if _cancel_intent(payment, why="Not charged: not finished within a day.")
                   else "left"] += 1
        else:
            counts["left"] += 1
    return counts


def _fail(payment: PaymentTransaction, info: ProviderErrorInfo, *, intent_id: str | None = None) -> PaymentTransaction:
    """A declined card attempt. No "payment failed" email: every Stripe attempt here is made with the
    customer on the pay page, which shows Stripe's answer at once and lets them try again."""
    return payment_fail(reference=payment.reference, amount=payment.amount, customer=payment.customer,
                        method=payment.method, provider=PROVIDER, reason=info.message, invoice=payment.invoice,
                        provider_transaction_id=intent_id, notify_customer=False,
                        raw={"error_code": info.code, "provider_error": info.raw, "payment_intent": intent_id})


def _complete_from_intent(*, payment: PaymentTransaction, intent_id: str, amount_cents: int, raw: dict):
    return payment_complete(reference=payment.reference, amount=stripe_client.from_cents(amount_cents),
                            customer=payment.customer, method=payment.method, provider=PROVIDER,
                            invoice=payment.invoice, provider_transaction_id=intent_id, provider_method="Card (Stripe)",
                            raw=raw, payment_method=payment.payment_method, expect_existing=True)


# --- customers and saved cards ----------------------------------------------------------------------------
def _stripe_does_not_know(exc: PermanentProviderError) -> str | None:
    """"customer" or "payment_method" when Stripe refused a request because it does not know the Stripe
    customer or the saved card we sent (error code `resource_missing` naming that parameter; Stripe's
    error-codes reference, docs.stripe.com/error-codes#resource-missing): deleted at Stripe, or our keys
    moved from test to live mode. None for any other refusal."""
    if exc.code != "resource_missing":
        return None
    try:
        error = (json.loads(exc.raw or "{}") or {}).get("error") or {}
    except ValueError:
        error = {}
    param, message = error.get("param") or "", error.get("message") or ""
    if param == "customer" or message.startswith("No such customer"):
        return "customer"
    if param == "payment_method" or message.startswith("No such PaymentMethod"):
        return "payment_method"
    return None


def _stripe_forgot(*, customer: Customer, what: str, card_id: str | None) -> list[int]:
    """Stripe no longer knows our customer's Stripe id (or one saved card): forget it, and remove the saved
    cards that went with it so they are no longer offered. A new Stripe customer is made when next needed."""
    from payments.services.methods import payment_method_remove

    cards = PaymentMethod.objects.filter(customer=customer, deleted_at__isnull=True, provider_token__startswith="pm_")
    if what == "customer":
        StripeCustomer.objects.filter(customer=customer).delete()
    else:
        cards = cards.filter(provider_token=card_id)
    cards = list(cards)
    removed = [card.pk for card in cards]
    for card in cards:
        payment_method_remove(method=card)
    logger.warning("stripe does not know the %s of %s (%s): forgotten, %d saved card(s) removed", what,
                   customer.account_number, card_id or "-", len(removed))
    return removed



def stripe_customer_for(*, customer: Customer, replacing: str = "") -> str:
    """The customer's Stripe Customer id, created once (idempotency key `customer:{pk}`). `replacing` is the
    id Stripe no longer knows: its replacement needs its own key (within 24 h Stripe would replay the first
    answer, the forgotten id)."""
    row = StripeCustomer.objects.filter(customer=customer).first()
    if row is not None:
        return row.stripe_customer_id
    key = f"customer:{customer.pk}" + (f":after:{replacing}" if replacing else "")
    stripe_id = stripe_client.customer_create(
        email=customer.email, name=f"{customer.first_name} {customer.last_name}".strip(),
        reference=customer.account_number, idempotency_key=key)
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(customer=customer, stripe_customer_id=stripe_id)
    except IntegrityError:
        pass  # a concurrent request stored it (the idempotency key made Stripe return the same id)
    return StripeCustomer.objects.get(customer=customer).stripe_customer_id


def stripe_card_attach(*, customer: Customer, payment_method_id: str, make_primary: bool = False) -> PaymentMethod:
    """Attach a Stripe.js PaymentMethod (pm_...) to the customer and save it: brand + last four only."""
    if not stripe_client.is_configured():  # no key: no cards to save (was a 500, ImproperlyConfigured)
        raise PaymentError("Card payments are not available right now.")
    if not payment_method_id.startswith("pm_") or len(payment_method_id) > 100:
        raise PaymentError("Give the card's Stripe payment method id (pm_...).", {"payment_method_id": "invalid"})
    existing = PaymentMethod.objects.filter(customer=customer, provider_token=payment_method_id,
                                            deleted_at__isnull=True).first()
    if existing is not None:
        return existing
    payment_method_limit_check(customer=customer)  # at the limit: do not attach the card at Stripe at all
    try:
        try:
            card = stripe_client.payment_method_attach(payment_method_id=payment_method_id,
                                                       customer=stripe_customer_for(customer=customer))
        except PermanentProviderError as exc:
            if _stripe_does_not_know(exc) != "customer":
                raise
            gone = StripeCustomer.objects.filter(customer=customer).values_list("stripe_customer_id", flat=True).first()
            _stripe_forgot(customer=customer, what="customer", card_id=None)
            card = stripe_client.payment_method_attach(payment_method_id=payment_method_id,
                                                       customer=stripe_customer_for(customer=customer,
                                                                                    replacing=gone or ""))
    except ProviderError as exc:
        raise PaymentDeclined(classify(exc)) from exc
    if not card.last4:
        raise PaymentError("Only cards can be saved here.", {"payment_method_id": payment_method_id})
    return _record_card(customer=customer, card=card, make_primary=make_primary)


def _record_card(*, customer: Customer, card: stripe_client.CardMethod, make_primary: bool) -> PaymentMethod:
    """Save a card Stripe holds for the customer as one of their methods (brand and last four only).
    At the limit (another add took the last place meanwhile) the card is detached at Stripe again,
    best effort, and `PaymentMethodLimitReached` raised. The same card saved again (same brand, last four
    and expiry: "save this card" ticked on every payment) is not listed twice: the one we have is returned
    and the new Stripe copy detached (a follow-up)."""
    display_name = f"{card.brand.title()[:20]} ***{card.last4}"
    same = PaymentMethod.objects.filter(
        customer=customer, deleted_at__isnull=True, method_type=PaymentMethod.Type.CARD, display_name=display_name,
        card_expiry_month=card.exp_month, card_expiry_year=card.exp_year, provider_token__startswith="pm_").first()
    if same is not None:
        if same.provider_token != card.id:
            follow_up(STRIPE_DETACH, card.id)
        return same
    try:
        return payment_method_create(
            customer=customer, make_primary=make_primary, method_type=PaymentMethod.Type.CARD,
            display_name=display_name, last_four=card.last4,
            card_expiry_month=card.exp_month, card_expiry_year=card.exp_year, provider_token=card.id)
    except PaymentMethodLimitReached:
        # Another add took the last place while we called Stripe: do not leave the card attached there.
        try:
            stripe_client.payment_method_detach(payment_method_id=card.id)
        except ProviderError as exc:
            logger.warning("card %s attached at Stripe but refused by the limit; detach failed: %s", card.id, exc)
        raise


def stripe_card_save_after_payment(payment_id: int, payment_method_id: str) -> PaymentMethod | None:
    """Follow-up of a card payment made with "save this card": record the card Stripe now keeps.

    Safe to run twice (a card already saved is returned). The card is read at Stripe (`GET
    /v1/payment_methods/{id}`) and saved only if Stripe holds it for this customer's Stripe customer;
    a card Stripe does not know (any more) or holds for someone else is logged and left. A temporary
    Stripe failure raises, so the follow-up is tried again later.
    """
    payment = PaymentTransaction.objects.select_related("customer").get(pk=payment_id)
    customer = payment.customer
    existing = PaymentMethod.objects.filter(customer=customer, provider_token=payment_method_id,
                                            deleted_at__isnull=True).first()
    if existing is not None:
        return existing
    ours = StripeCustomer.objects.filter(customer=customer).values_list("stripe_customer_id", flat=True).first()
    try:
        card = stripe_client.payment_method_retrieve(payment_method_id)
    except PermanentProviderError as exc:
        logger.warning("card %s of payment %s not saved: Stripe refused to read it (%s)", payment_method_id,
                       payment.reference, exc.http_status)
        return None
    if not ours or card.customer != ours or not card.last4:
        logger.warning("card %s of payment %s not saved: Stripe does not hold it for %s", payment_method_id,
                       payment.reference, customer.account_number)
        return None
    try:
        return _record_card(customer=customer, card=card, make_primary=False)
    except PaymentMethodLimitReached:
        logger.info("card %s of payment %s not saved: %s has the most saved methods allowed", payment_method_id,
                    payment.reference, customer.account_number)
        return None


def stripe_card_detach_at_stripe(payment_method_id: str) -> None:
    """Follow-up of removing a saved Stripe card (`payment_method_remove`): detach it at Stripe so it
    cannot be charged there either. Already detached or unknown at Stripe (400/404) is done; another
    refusal is logged for staff and left; a temporary failure raises, so the follow-up tries again."""
    if not stripe_client.is_configured():
        logger.warning("card %s removed here but not detached at Stripe: Stripe is not configured", payment_method_id)
        return
    try:
        stripe_client.payment_method_detach(payment_method_id=payment_method_id)
    except PermanentProviderError as exc:
        if exc.http_status not in (400, 404):
            logger.warning("card %s removed here; Stripe refused to detach it (%s): detach it in the Stripe "
                           "dashboard", payment_method_id, exc.http_status)


# --- webhook effects (run inside webhook_process's transaction) ------------------------------------------
def _payment_for_intent(intent: dict) -> PaymentTransaction | None:
    reference = (intent.get("metadata") or {}).get("reference") or ""
    payment = None
    if reference:
        payment = PaymentTransaction.objects.select_related("customer", "invoice").filter(reference=reference).first()
    if payment is None and intent.get("id"):
        payment = (PaymentTransaction.objects.select_related("customer", "invoice")
                   .filter(provider=PROVIDER, provider_transaction_id=intent["id"]).first())
    return payment


def _intent_is_ours(intent: dict) -> None:
    kind = (intent.get("metadata") or {}).get("kind", "")
    if kind != KIND:
        raise IgnoreEvent(f"payment intent kind {kind!r} is not an invoice payment")


def stripe_intent_succeeded(*, intent: dict) -> PaymentTransaction:
    _intent_is_ours(intent)
    payment = _payment_for_intent(intent)
    if payment is None:
        raise IgnoreEvent(f"no payment for intent {intent.get('id')}")
    if (intent.get("currency") or "zar").upper() != payment.currency:
        raise PaymentError("Currency does not match the payment.", {"intent": intent.get("id")})
    cents = intent.get("amount_received") or intent.get("amount") or 0
    latest = intent.get("latest_charge")
    was_completed = payment.status not in (Status.PENDING, Status.FAILED)
    owed = None
    if not was_completed and payment.invoice_id:
        invoice = payment.invoice
        invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
        owed = invoice.amount_due if invoice.is_open else Decimal("0.00")
    payment = _complete_from_intent(payment=payment, intent_id=intent["id"], amount_cents=int(cents),
                                    raw={"payment_intent": intent["id"],
                                         "latest_charge": latest if isinstance(latest, str) else None})
    if owed is not None and payment.amount > owed:
        # Paid twice (two windows), or something else paid the invoice while the customer was at the card
        # form: the money is booked (allocated to other invoices, the rest account credit); staff decide.
        payment_flag_for_review(payment=payment, trace=f"overpaid:{intent['id']}", note=(
            f"{timezone.now():%Y-%m-%d %H:%M} card payment of {payment.amount} arrived when invoice "
            f"{payment.invoice.number} owed {owed}: {payment.amount - owed} went to other invoices or account "
            "credit. Refund it if the customer did not mean to pay it."))
    card = intent.get("payment_method")
    if not was_completed and (intent.get("metadata") or {}).get("save_card") == "1" and isinstance(card, str):
        # In this transaction: the card is recorded once the payment is, or not at all.
        follow_up("payments.services.stripe_payments.stripe_card_save_after_payment", payment.pk, card)
    return payment


def stripe_intent_failed(*, intent: dict) -> PaymentTransaction:
    _intent_is_ours(intent)
    payment = _payment_for_intent(intent)
    if payment is None:
        raise IgnoreEvent(f"no payment for intent {intent.get('id')}")
    if payment.status not in (Status.PENDING, Status.FAILED):
        # Out of order: an earlier attempt's decline delivered after the success. Never move back.
        raise IgnoreEvent(f"payment {payment.reference} is already {payment.status}; late payment_failed ignored")
    failed = _fail(payment, classify_stripe_error(intent.get("last_payment_error")), intent_id=intent.get("id"))
    follow_up(CANCEL_FAILED, intent["id"])  # a declined attempt must never be payable later
    return failed


def stripe_charge_refunded(*, charge: dict) -> list:
    """`charge.refunded`: book each refund Stripe reports as succeeded that we have not booked yet.

    With `charge.refunds` expanded each refund is handled by its `re_` id (`_stripe_refund_seen`):
    succeeded ones are booked (our own pending ones included), failed / canceled ones fail ours,
    pending ones wait for the refund events. Without the list, the Charge's `amount_refunded` minus
    what we already hold for the payment (booked, plus pending refunds Stripe has accepted) is booked
    under the synthetic id `{charge}:{amount_refunded}` (unique per total).

    Invariant: a synthetic booking is never booked again under a `re_` id. A `re_` refund reported
    later first takes over an unlinked synthetic row of the same amount (so a later failure of it can
    be reversed); failing that, while synthetic rows exist it is booked only if what is booked for the
    payment stays within the Charge's `amount_refunded`.
    """
    from payments.services.refunds import refund_record_from_provider, refund_reserved_at_provider

    intent_id = charge.get("payment_intent")
    payment = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(provider=PROVIDER, provider_transaction_id=intent_id).first()) if intent_id else None
    if payment is None:
        raise IgnoreEvent(f"no invoice payment for charge {charge.get('id')}")
    cap = stripe_client.from_cents(int(charge.get("amount_refunded") or 0))
    listed = ((charge.get("refunds") or {}).get("data")) or []
    if listed:
        booked = []
        for refund in sorted(listed, key=lambda r: r.get("created") or 0):
            before = Refund.objects.filter(provider=PROVIDER, provider_refund_id=refund["id"],
                                           status=Refund.Status.SUCCEEDED).exists()
            row, _ = _stripe_refund_seen(payment=payment, obj=refund, cap=cap)
            if row is not None and row.status == Refund.Status.SUCCEEDED and not before:
                booked.append(row)
        return booked
    payment.refresh_from_db()
    # Pending refunds Stripe accepted are subtracted too: Stripe counts a refund in the Charge's
    # `amount_refunded` from its creation (UNCONFIRMED: CONTRACTS 3.3 does not say whether pending
    # refunds are included; counting them errs towards booking late, never twice).
    missing = cap - payment.amount_refunded - refund_reserved_at_provider(payment)
    if missing <= 0:
        return []
    row = refund_record_from_provider(payment=payment, provider_refund_id=f"{charge['id']}:{charge['amount_refunded']}",
                                      amount=missing, raw={"charge": charge.get("id"),
                                                           "amount_refunded": charge.get("amount_refunded")})
    return [row] if row else []


# --- refund lifecycle events: refund.updated | refund.failed | charge.refund.updated ----------------------
from payments.models import Refund  # noqa: E402

REFUND_SUCCEEDED = "succeeded"
REFUND_FAILED = ("failed", "canceled")


def stripe_refund_changed(*, refund: dict) -> Refund | None:
    """`refund.updated`, `refund.failed`, `charge.refund.updated` (data.object is a Refund).

    Moves the refund forward by its status (refunds.py "Finality rule"): `succeeded` books it (a
    refund made outside our API is booked here too), `failed` / `canceled` fails it (reversing a
    booked one once), `pending` / `requires_action` waits. Idempotent by state; anything that changes
    nothing (a duplicate, a late `pending` after `succeeded`) is ignored with the reason.
    """
    rid = refund.get("id")
    if not rid:
        raise IgnoreEvent("refund event without a refund id")
    row = Refund.objects.select_related("payment").filter(provider=PROVIDER, provider_refund_id=rid).first()
    payment = row.payment if row is not None else _payment_for_refund(refund)
    if payment is None:
        raise IgnoreEvent(f"no invoice payment for refund {rid}")
    result, note = _stripe_refund_seen(payment=payment, obj=refund, cap=None)
    if note:
        raise IgnoreEvent(note)
    return result


def _payment_for_refund(obj: dict) -> PaymentTransaction | None:
    payments = PaymentTransaction.objects.select_related("customer", "invoice").filter(provider=PROVIDER)
    if obj.get("payment_intent"):
        found = payments.filter(provider_transaction_id=obj["payment_intent"]).first()
        if found is not None:
            return found
    reference = (obj.get("metadata") or {}).get("reference")  # set by our own refund_create
    if reference:
        found = payments.filter(reference=reference).first()
        if found is not None:
            return found
    # CONTRACTS 3.3: `payment_intent` may be null on a Refund; the charge id is kept from the intent.
    return payments.filter(raw_response__latest_charge=obj["charge"]).first() if obj.get("charge") else None


def _synthetic_refunds(payment: PaymentTransaction):
    """Rows booked from a `charge.refunded` without the refund list (`{charge}:{amount_refunded}`)."""
    return Refund.objects.filter(payment=payment, provider=PROVIDER, provider_refund_id__contains=":")


def _stripe_refund_row(*, payment: PaymentTransaction, rid: str, amount: Decimal) -> Refund | None:
    """Our row for Stripe refund `rid`: by id, else a synthetic row of the same amount (linked now)."""
    row = Refund.objects.filter(provider=PROVIDER, provider_refund_id=rid).first()
    if row is not None:
        return row
    synthetic = _synthetic_refunds(payment).filter(amount=amount).order_by("pk").first()
    if synthetic is None:
        return None
    linked = Refund.objects.filter(pk=synthetic.pk, provider_refund_id=synthetic.provider_refund_id).update(
        provider_refund_id=rid, raw_response={**(synthetic.raw_response or {}),
                                              "synthetic_id": synthetic.provider_refund_id})
    logger.info("stripe refund %s linked to refund %s booked as %s", rid, synthetic.pk, synthetic.provider_refund_id)
    return Refund.objects.get(pk=synthetic.pk) if linked else None


def _stripe_refund_seen(*, payment: PaymentTransaction, obj: dict, cap: Decimal | None) -> tuple[Refund | None, str]:
    """Apply one Stripe Refund object's status. Returns (our row or None, why nothing changed or "").

    `cap` is the Charge's `amount_refunded` when known (from `charge.refunded`).
    """
    from payments.services.refunds import (
        refund_confirm,
        refund_fail,
        refund_record_from_provider,
        refund_reserved_at_provider,
    )

    rid, status = obj["id"], obj.get("status") or ""
    amount = stripe_client.from_cents(int(obj.get("amount") or 0))
    raw = {"id": rid, "status": status, "amount": obj.get("amount")}
    row = _stripe_refund_row(payment=payment, rid=rid, amount=amount)
    if status in REFUND_FAILED:
        if row is None:
            return None, f"refund {rid} is {status} and was never booked here"
        if row.status in (Refund.Status.FAILED, Refund.Status.MANUAL):
            return row, f"refund {rid} is already {row.status}"
        # `failure_reason` on a Refund (e.g. expired_or_canceled_card) is UNCONFIRMED: not in CONTRACTS 3.3.
        why = obj.get("failure_reason") or "no reason given"
        return refund_fail(refund_id=row.pk, reason=f"Stripe reports the refund {status} ({why})", raw=raw), ""
    if status != REFUND_SUCCEEDED:  # pending / requires_action: wait; never move a refund back
        if row is None or row.status == Refund.Status.PENDING:
            return row, f"refund {rid} is {status}; it is booked when Stripe reports it succeeded"
        return row, f"refund {rid} is already {row.status}; late {status!r} ignored"
    if row is not None:
        if row.status != Refund.Status.PENDING:
            return row, f"refund {rid} is already {row.status}"
        return refund_confirm(refund_id=row.pk, raw=raw), ""
    payment.refresh_from_db()
    if _synthetic_refunds(payment).exists() and (
            cap is None or payment.amount_refunded + refund_reserved_at_provider(payment) + amount > cap):
        logger.warning("stripe refund %s of %s (%s) not booked: covered by refunds booked without ids", rid,
                       payment.reference, amount)
        return None, (f"refund {rid} is not booked: refunds booked for {payment.reference} without Stripe ids may "
                      "already cover it; staff must compare with Stripe")
    return refund_record_from_provider(payment=payment, provider_refund_id=rid, amount=amount, raw=raw), ""


# --- route matches for the inbox (payments/webhook_handlers.py) -------------------------------------------
def stripe_intent_is_invoice_payment(intent: dict) -> bool:
    return (intent.get("metadata") or {}).get("kind", "") == KIND


def stripe_charge_is_invoice_payment(charge: dict) -> bool:
    intent_id = charge.get("payment_intent")
    return bool(intent_id) and PaymentTransaction.objects.filter(provider=PROVIDER,
                                                                 provider_transaction_id=intent_id).exists()


def stripe_refund_is_invoice_refund(refund: dict) -> bool:
    rid = refund.get("id")
    if rid and Refund.objects.filter(provider=PROVIDER, provider_refund_id=rid).exists():
        return True
    return _payment_for_refund(refund) is not None
