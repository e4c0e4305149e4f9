"""PayPal (Orders v2) for invoices: create an order, capture it, and the webhook effects.

The pending PaymentTransaction (reference `INV-...-XXXXXX`, sent as the order's `custom_id`) holds
the PayPal order id in `provider_transaction_id` until the capture completes; completion (through
`payment_complete`) replaces it with the capture id, which refunds use. The buyer's capture call and
the `PAYMENT.CAPTURE.COMPLETED` webhook may both arrive: whichever is second finds the payment
completed and changes nothing. Denied / declined captures fail a pending payment and never move a
completed one back.

One PayPal order per invoice and amount: create-order reuses the invoice's pending PayPal payment
(and its order) while the amount due is unchanged and the order is young enough; otherwise that
payment is closed out as failed with the reason and a new one is made. The invoice row is locked
while deciding, so two concurrent requests cannot both make a pending payment.

The public endpoints (`/api/paypal/create-order` and `/capture`, anyone can call them) go through
`paypal_order_create_for_payer` and `paypal_capture_for_payer`: the payer proves what the public
/pay/ page asks for (invoice number + the customer's account number) or is the invoice's customer
signed in. Every refusal there is the one `InvoiceOrderRefused` (404, the same words, no extra),
whatever the reason (no such invoice, wrong account number, someone else's, paid, void, nothing
due, an order that is not that invoice's), so the answers reveal nothing about an invoice; and a
provider's decline is answered without our payment id or reference.

Currency (issue 15, CONTRACTS 4 "Currency (2026-12)"): PayPal takes no ZAR. The order is made in
`PAYPAL_CURRENCY` at `PAYPAL_ZAR_RATE` (`payments.services.paypal_currency.paypal_quote`); the quote
(currency, rate, converted amount, our ZAR amount) is written to the payment's
`raw_response["paypal_quote"]` before the order is created, returned to the payer with the order
(`paypal`: amount, currency, rate and the words to show before approval) and put in the order's
description, which PayPal shows on its approval page. The payment's `amount`/`currency` stay the
invoice's ZAR: the ledger never sees the converted figure. A capture in another currency or for
another amount than the quote is refused (`CaptureMismatch`), the payment is flagged for staff and
ops are alerted, because PayPal may hold money we have not booked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from billing.models import Invoice
from circletel.http import ProviderError
from inbox.errors import IgnoreEvent
from payments.clients import paypal as paypal_client
from payments.errors import PaymentError, PaymentNotFound
from payments.models import PaymentTransaction
from payments.provider_errors import classify, info_for
from payments.services.payments import payment_complete, payment_fail
from payments.services.paypal_currency import (
    PayPalQuote,
    PayPalUnavailable,
    ledger_amount,
    paypal_quote,
    quote_from_record,
    quote_matches,
    zar_conversion_configured,
)
from payments.services.references import invoice_payment_reference
from payments.services.stripe_payments import PaymentDeclined

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
PROVIDER = PaymentTransaction.Provider.PAYPAL


class InvoiceNotPayable(PaymentError):
    """The invoice is paid, void or has nothing due (the signed-in dashboard shows these words)."""

    def __init__(self, invoice: Invoice):
        super().__init__("This invoice has nothing left to pay.", {"invoice": invoice.number})


INVOICE_REFUSED_MESSAGE = "We could not find an open invoice with those details."
UNAVAILABLE_MESSAGE = "PayPal payments are not available right now."


class CaptureMismatch(PaymentError):
    """PayPal captured another currency or amount than the order we created: not booked (409); the
    payment is flagged for staff and ops are alerted."""

    status_code = 409


def _invoice_quote(amount: Decimal) -> PayPalQuote:
    """The PayPal quote for an invoice amount (ZAR); unavailable is the same plain answer for everyone."""
    try:
        return paypal_quote(amount=amount, currency="ZAR")
    except PayPalUnavailable:
        logger.error("PayPal invoice order refused: PAYPAL_CURRENCY/PAYPAL_ZAR_RATE cannot convert ZAR "
                     "(system check payments.E001)")
        raise PaymentError(UNAVAILABLE_MESSAGE) from None


class InvoiceOrderRefused(PaymentNotFound):
    """The one answer of the public PayPal endpoints to every payer they refuse: 404 and the same
    words for an unknown invoice, a wrong account number, someone else's invoice, a paid, void or
    nothing-due invoice, and an order that is not the invoice's, so it reveals none of these."""

    def __init__(self):
        super().__init__(INVOICE_REFUSED_MESSAGE, {})


def _pending_order_age_limit() -> timedelta:
    # PayPal lets an unapproved order lapse after about 3 hours [UNCONFIRMED: CONTRACTS.md only gives the
    # 3 h default for an approval that is not captured]; PayPal-Request-Id replays are kept for 6 hours.
    return timedelta(seconds=settings.PAYPAL_ORDER_REUSE_SECONDS)


def _reserve_payment(*, invoice: Invoice) -> PaymentTransaction:
    """The pending PayPal payment for the invoice's amount due, under the invoice's row lock.

    Mirrors Stripe's `_reserve_payment`: the newest pending PayPal payment for the same amount is
    reused, so a repeated click (or two tabs at once: the second waits for the lock) gets the same
    PayPal order. Pending payments for another amount (the amount due changed since) or older than
    the order's lifetime are closed out as failed with the reason, so their orders can no longer be
    captured through us (`paypal_capture_for_invoice` only captures a pending payment). No
    `payment_failed` email for those: the customer did not fail to pay, the order was replaced.
    """
    with transaction.atomic():
        # Lock order as in payment_complete: the invoice first, then its payment rows.
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)  # no join: lock only the invoice row
        if not invoice.is_open or invoice.amount_due <= 0:
            raise InvoiceNotPayable(invoice)
        amount = invoice.amount_due
        fresh_after = timezone.now() - _pending_order_age_limit()
        reuse = None
        for pending in (PaymentTransaction.objects.select_for_update()
                        .filter(invoice=invoice, provider=PROVIDER, status=Status.PENDING).order_by("-pk")):
            if pending.amount == amount and pending.created_at >= fresh_after and reuse is None:
                reuse = pending
                continue
            if pending.amount != amount:
                reason = f"Replaced: the amount due changed from R {pending.amount} to R {amount} before payment."
            elif pending.created_at < fresh_after:
                reason = "Replaced: the PayPal order expired before payment."
            else:
                continue  # an older duplicate for the same amount (made before orders were reused): leave it
            PaymentTransaction.objects.filter(pk=pending.pk, status=Status.PENDING).update(
                status=Status.FAILED, failure_reason=reason, updated_at=timezone.now())
        if reuse is not None:
            return reuse
        return PaymentTransaction.objects.create(
            customer_id=invoice.customer_id, invoice=invoice, amount=amount, method=PaymentTransaction.Method.PAYPAL,
            provider=PROVIDER, reference=invoice_payment_reference(invoice), status=Status.PENDING)


def paypal_order_create_for_invoice(*, invoice: Invoice, build_url: Callable[[str], str]) -> dict:
    """Create (or reuse) the PayPal order for the invoice's amount due. Returns {order_id, approve_url,
    reference, status}.

    A pending payment that already has its order answers with it and calls PayPal not at all. One
    without an order yet (a concurrent request is creating it, or the last call timed out) calls
    PayPal again with the same `PayPal-Request-Id` (`payment-{pk}`), which replays the same order.
    """
    if not paypal_client.is_configured():
        raise PaymentError(UNAVAILABLE_MESSAGE)
    invoice.refresh_from_db(fields=["status", "amount_paid", "amount_due"])
    if not invoice.is_open or invoice.amount_due <= 0:  # checked again under the lock
        raise InvoiceNotPayable(invoice)
    _invoice_quote(invoice.amount_due)  # before any row: no pending payment for an order we cannot make
    payment = _reserve_payment(invoice=invoice)
    raw = payment.raw_response or {}
    quote = quote_from_record(raw.get("paypal_quote"))
    if raw.get("order_id") and raw.get("approve_url") and quote is not None:
        return {"order_id": raw["order_id"], "approve_url": raw["approve_url"], "reference": payment.reference,
                "status": raw.get("order_status", ""), "paypal": quote.for_payer()}
    if quote is None:
        # Recorded before the call: a replay of the same PayPal-Request-Id (after a timeout) must be
        # checked against the quote the first request carried, even if the rate changed meanwhile.
        quote = _invoice_quote(payment.amount)
        raw = {**raw, "paypal_quote": quote.as_record()}
        PaymentTransaction.objects.filter(pk=payment.pk).update(raw_response=raw)
    result_url = build_url(f"/payments/result/{payment.reference}")
    try:
        # The description is shown on PayPal's approval page: the payer sees the rand amount and rate there too.
        order = paypal_client.order_create(amount=quote.amount, currency=quote.currency, reference=payment.reference,
                                           description=f"CircleTel invoice {invoice.number}: {quote.describe()}",
                                           return_url=result_url, cancel_url=result_url,
                                           request_id=f"payment-{payment.pk}")
    except ProviderError as exc:
        info = classify(exc)
        if not info.retryable:  # a retryable error keeps it pending: the next click replays the same request id
            PaymentTransaction.objects.filter(pk=payment.pk, status=Status.PENDING).update(
                status=Status.FAILED, failure_reason=info.message)
        raise PaymentDeclined(info, payment=payment) from exc
    with transaction.atomic():
        PaymentTransaction.objects.filter(pk=payment.pk).update(
            provider_transaction_id=order.id,
            raw_response={"order_id": order.id, "approve_url": order.approve_url, "order_status": order.status,
                          "paypal_quote": quote.as_record()})
    return {"order_id": order.id, "approve_url": order.approve_url, "reference": payment.reference,
            "status": order.status, "paypal": quote.for_payer()}


# --- the public endpoints: the payer proves the invoice is theirs ----------------------------------------
def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def _payer_may_pay(invoice: Invoice, *, invoice_number: str, account_number: str, user) -> bool:
    """The public /pay/ page's proof (both numbers; compared in constant time, the account number
    being the secret half), or the invoice's own customer signed in. Staff get no way around it:
    they are not the payer."""
    if _signed_in(user) and invoice.customer.user_id == user.pk:
        return True
    return bool(account_number) and constant_time_compare(invoice_number, invoice.number) and constant_time_compare(
        account_number, invoice.customer.account_number)


def paypal_invoice_for_payer(*, invoice_number: str, account_number: str = "", user=None) -> Invoice:
    """The open invoice with something due that this payer may pay (the `_payer_may_pay` rule, as
    one query), else `InvoiceOrderRefused`."""
    proofs = [Q(customer__account_number=account_number)] if account_number else []
    if _signed_in(user):
        proofs.append(Q(customer__user_id=user.pk))
    if not proofs:
        raise InvoiceOrderRefused()
    invoice = Invoice.objects.select_related("customer").filter(reduce(or_, proofs), number=invoice_number).first()
    if invoice is None or not invoice.is_open or invoice.amount_due <= 0:
        raise InvoiceOrderRefused()
    return invoice


def _without_our_ids(exc: PaymentDeclined) -> PaymentDeclined:
    """The same decline (customer words, code, retryable) minus our payment id and reference."""
    return PaymentDeclined(exc.info)


def paypal_order_create_for_payer(*, invoice_number: str, account_number: str = "", user=None,
                                  build_url: Callable[[str], str]) -> dict:
    """`paypal_order_create_for_invoice` for the public endpoint: the payer's proof first
    (`paypal_invoice_for_payer`), every refusal `InvoiceOrderRefused`, declines without our ids."""
    if not paypal_client.is_configured():  # before the lookup: the same answer for every invoice
        raise PaymentError(UNAVAILABLE_MESSAGE)
    if not zar_conversion_configured():  # invoices are in ZAR: the same answer for every invoice too
        raise PaymentError(UNAVAILABLE_MESSAGE)
    invoice = paypal_invoice_for_payer(invoice_number=invoice_number, account_number=account_number, user=user)
    try:
        return paypal_order_create_for_invoice(invoice=invoice, build_url=build_url)
    except InvoiceNotPayable:  # paid meanwhile (under the invoice lock)
        raise InvoiceOrderRefused() from None
    except PaymentDeclined as exc:
        raise _without_our_ids(exc) from exc


def paypal_capture_for_payer(*, order_id: str, invoice_number: str = "", account_number: str = "",
                             user=None) -> PaymentTransaction:
    """Capture an invoice order for the public endpoint: only the order we created for the invoice
    the payer proves (`_payer_may_pay`); every refusal `InvoiceOrderRefused`, declines without our
    ids. The invoice need not be open any more: a repeat after the capture answers the payment's
    status from our row."""
    payment = paypal_payment_for_order(order_id)
    if payment is None or payment.invoice is None:
        raise InvoiceOrderRefused()
    invoice = Invoice.objects.select_related("customer").get(pk=payment.invoice_id)
    if not _payer_may_pay(invoice, invoice_number=invoice_number, account_number=account_number, user=user):
        raise InvoiceOrderRefused()
    try:
        return paypal_capture_for_invoice(order_id=order_id)
    except PaymentDeclined as exc:
        raise _without_our_ids(exc) from exc


def paypal_payment_for_order(order_id: str) -> PaymentTransaction | None:
    return (PaymentTransaction.objects.select_related("customer", "invoice")
            .filter(provider=PROVIDER, raw_response__order_id=order_id).first())


def paypal_capture_for_invoice(*, order_id: str) -> PaymentTransaction:
    """Capture an approved order (no transaction open during the call) and apply the result."""
    payment = paypal_payment_for_order(order_id)
    if payment is None:
        raise PaymentNotFound("No invoice payment for this PayPal order.")
    if payment.status != Status.PENDING:
        return payment
    try:
        capture = paypal_client.order_capture(order_id=order_id, request_id=f"capture-{payment.pk}")
    except ProviderError as exc:
        info = classify(exc)
        if not info.retryable:
            _fail(payment, info.message, raw={"order_id": order_id, "error_code": info.code, "provider_error": info.raw})
        raise PaymentDeclined(info, payment=payment) from exc
    return paypal_apply_capture(payment=payment, capture_id=capture.capture_id, status=capture.capture_status,
                                amount=capture.amount, currency=capture.currency, order_id=order_id)


def _capture_mismatch(payment: PaymentTransaction, *, quote: PayPalQuote | None, amount: Decimal | None,
                      currency: str, capture_id: str) -> CaptureMismatch:
    """Flag the payment for staff and alert ops once: PayPal says it took money we did not ask for."""
    from payments.services.payments import _alert_ops

    expected = f"{quote.currency} {quote.amount}" if quote else "no recorded quote"
    said = f"PayPal capture {capture_id or '-'} was {currency or '?'} {amount if amount is not None else '?'}"
    note = f"{timezone.now():%Y-%m-%d %H:%M} {said}, the order was for {expected}; not booked."
    with transaction.atomic():
        locked = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
        if said not in locked.review_note:  # the same capture reported again (webhook and return) notes once
            locked.needs_review = True
            locked.review_note = f"{locked.review_note}\n{note}".strip()
            locked.save(update_fields=["needs_review", "review_note", "updated_at"])
            _alert_ops(payment=locked, note=note, trace=f"capture-mismatch:{capture_id or '-'}")
    logger.error("payment %s: %s", payment.reference, note)
    return CaptureMismatch("The PayPal capture does not match the order we created; it was not booked.",
                           {"expected": expected})


def paypal_apply_capture(*, payment: PaymentTransaction, capture_id: str, status: str, amount: Decimal | None,
                         currency: str, order_id: str = "") -> PaymentTransaction:
    recorded = (payment.raw_response or {}).get("paypal_quote")
    raw = {"order_id": order_id or payment.raw_response.get("order_id", ""), "capture_id": capture_id,
           "capture_status": status, "paypal_quote": recorded}
    if status == "COMPLETED":
        # Only what we created: the quote's currency and amount (never ZAR; the order was never ZAR).
        quote = quote_from_record(recorded)
        if quote is None or not quote_matches(quote, amount=amount, currency=currency):
            raise _capture_mismatch(payment, quote=quote, amount=amount, currency=currency, capture_id=capture_id)
        # The invoice gets our ZAR amount (the payment's), never the converted figure.
        return payment_complete(reference=payment.reference, amount=payment.amount,
                                customer=payment.customer, method=payment.method, provider=PROVIDER,
                                invoice=payment.invoice, provider_transaction_id=capture_id, provider_method="PayPal",
                                raw=raw)
    if status in ("DECLINED", "FAILED", "DENIED"):
        return _fail(payment, info_for("card_declined").message, raw=raw)
    return payment  # PENDING: wait for PAYMENT.CAPTURE.COMPLETED


def _fail(payment: PaymentTransaction, reason: str, *, raw: dict) -> PaymentTransaction:
    if payment.status not in (Status.PENDING, Status.FAILED):
        return payment  # never move a completed payment back
    # Keep the order and its quote: a later COMPLETED capture of the same order is still checked against it.
    kept = {k: v for k, v in (payment.raw_response or {}).items() if k in ("order_id", "paypal_quote")}
    raw = {**kept, **raw}
    return payment_fail(reference=payment.reference, amount=payment.amount, customer=payment.customer,
                        method=payment.method, provider=PROVIDER, reason=reason, invoice=payment.invoice, raw=raw)


# --- webhook effects (inside webhook_process's transaction) ---------------------------------------------
def _payment_for_reference(reference: str) -> PaymentTransaction:
    payment = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(reference=reference, provider=PROVIDER).first())
    if payment is None:
        raise IgnoreEvent(f"no PayPal invoice payment {reference}")
    return payment


def paypal_webhook_capture_completed(resource: dict, event) -> None:
    payment = _payment_for_reference(resource.get("custom_id", ""))
    amount = resource.get("amount") or {}
    try:
        paypal_apply_capture(payment=payment, capture_id=resource["id"], status=resource.get("status", "COMPLETED"),
                             amount=Decimal(amount["value"]) if amount.get("value") else None,
                             currency=amount.get("currency_code", ""))
    except CaptureMismatch as exc:
        # Not booked: the payment is flagged for staff and ops alerted (that is this event's effect, kept
        # with the event processed); processing it again could not make it match.
        logger.warning("paypal webhook %s: %s", getattr(event, "event_id", "-"), exc.message)


def paypal_webhook_capture_denied(resource: dict, event) -> None:
    payment = _payment_for_reference(resource.get("custom_id", ""))
    if payment.status not in (Status.PENDING, Status.FAILED):
        raise IgnoreEvent(f"payment {payment.reference} is already {payment.status}; late denial ignored")
    _fail(payment, info_for("card_declined").message, raw={"capture_id": resource.get("id"),
                                                           "capture_status": resource.get("status")})


def paypal_webhook_capture_refunded(resource: dict, capture_id: str) -> bool:
    """A refund resource for one of our invoice captures; False when the capture is not ours."""
    from payments.services.refunds import refund_record_from_provider

    payment = (PaymentTransaction.objects.select_related("customer", "invoice")
               .filter(provider=PROVIDER, provider_transaction_id=capture_id).first())
    if payment is None:
        return False
    amount = resource.get("amount") or {}
    value = Decimal(amount["value"]) if amount.get("value") else payment.amount
    quote = quote_from_record((payment.raw_response or {}).get("paypal_quote"))
    if quote is not None and amount.get("value"):
        # PayPal refunds in the capture's currency; our ledger books rands at the rate recorded on the payment.
        booked = ledger_amount(quote, amount=value, currency=amount.get("currency_code", ""))
        if booked is None:
            raise PaymentError("The PayPal refund is not in the currency of the capture.",
                               {"reference": payment.reference, "currency": amount.get("currency_code", "")})
        value = booked
    refund_record_from_provider(payment=payment, provider_refund_id=resource["id"], amount=value,
                                raw={"id": resource["id"], "status": resource.get("status"),
                                     "amount": amount or None})
    return True
