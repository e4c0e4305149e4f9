"""NetCash Pay Now: authenticate a notify, record it, apply it once.

    paynow_notify_receive(fields=..., body=..., headers=..., apply_inline=False)  # notify view, sandbox

0. Authenticity is the secret notify path, checked by the view before this runs
   (`payments.api.views.netcash_notify`, ADR 0010): NetCash does not sign notifies, and everything
   in the Pay Now form (m5/m6 included) has passed through the customer's browser.
1. `paynow_notify_authenticate` (a tamper check): fail closed without a secret; our HMAC of
   (reference, signed amount) in Extra3 must verify (constant-time); the amount must match what we
   signed; the reference must name one of our invoices (or a registered prefix such as deposits).
   Anything else raises `NotifyRejected` (4xx) and nothing is stored.
2. `webhook_accept` (payments/webhooks.py) records it under (netcash, "<RequestTrace>:<Reference>")
   (a redelivery is a no-op) and applies it with the handler for the outcome (accepted / pending /
   declined), which completes, records pending or fails the payment in one transaction:
   - deferred (the webhook's default, `WEBHOOK_APPLY_INLINE=false`): the view answers after the one
     INSERT; the task `payments.tasks.process_webhook_event` is queued on commit.
   - inline (`apply_inline=True`: the sandbox gateway, which plays NetCash server-side): applied
     before answering, so the result page shows the payment at once. The customer's return page
     never calls this: it only displays.
   The handler re-authenticates the stored body, so what is applied is exactly what was verified.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qsl

from billing.models import Invoice
from payments.clients import netcash
from payments.errors import NotifyRejected
from payments.models import PaymentTransaction, WebhookEvent
from payments.provider_errors import classify_netcash_reason
from payments.services.payments import payment_complete, payment_fail, payment_record_pending
from payments.services.references import (
    ReferenceHandler,
    handler_for,
    invoice_number_from_reference,
    register_reference_handler,
)
from payments.webhooks import webhook_accept

logger = logging.getLogger(__name__)
PROVIDER = "netcash"
SANDBOX_TRACE_PREFIX = "SANDBOX-"
REQUIRED = ("TransactionAccepted", "RequestTrace", "Reference", "Amount")


def parse_form(body: str) -> dict:
    """Parse an x-www-form-urlencoded body strictly (first value wins). Raises ValueError."""
    pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body), max_num_fields=100)
    fields: dict = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def paynow_notify_authenticate(*, fields: Mapping[str, str], validate_target: bool = True) -> netcash.PayNowNotify:
    """Verify a notify (pure, plus the target check). `validate_target=False` skips the reference
    handler's `validate` (a query) for handlers that check their target themselves when applying."""
    if not netcash.hmac_configured():
        raise NotifyRejected("NetCash notifications are not accepted: no HMAC secret is configured.", status_code=503)
    missing = [name for name in REQUIRED if not (fields.get(name) or "").strip()]
    if missing:
        raise NotifyRejected("Missing fields.", status_code=400, extra={"missing": missing})
    signature = (fields.get("Extra3") or "").strip()
    signed_raw = (fields.get("Extra2") or "").strip()
    if not signature or not signed_raw:
        raise NotifyRejected("Unsigned notification.", status_code=401)
    reference = fields["Reference"].strip()
    trace = fields["RequestTrace"].strip()
    if len(reference) > 64 or len(trace) > 100:
        raise NotifyRejected("Reference or trace too long.", status_code=400)
    try:
        signed_amount = netcash.parse_rands(signed_raw)
        amount = netcash.parse_rands(fields["Amount"])
    except ValueError as exc:
        raise NotifyRejected("Amount is not a Rand amount with two decimals.", status_code=400) from exc
    if not netcash.paynow_verify(reference=reference, amount=signed_amount, signature=signature):
        raise NotifyRejected("Bad signature.", status_code=403)
    accepted = fields["TransactionAccepted"].strip().lower() == "true"
    reason = (fields.get("Reason") or "").strip()[:300]
    method_code = (fields.get("Method") or "1").strip()[:3]
    pending = (not accepted and method_code in netcash.PENDING_METHODS and "pending" in reason.lower())
    if accepted and (amount <= 0 or amount != signed_amount):
        raise NotifyRejected("Amount does not match the amount requested.", status_code=400,
                             extra={"amount": str(amount), "expected": str(signed_amount)})
    if not accepted and amount not in (Decimal("0.00"), signed_amount):
        raise NotifyRejected("Amount does not match the amount requested.", status_code=400)
    kind = "accepted" if accepted else ("pending" if pending else "declined")
    raw = {k: v for k, v in fields.items() if k not in ("ccToken",)}
    notify = netcash.PayNowNotify(request_trace=trace, reference=reference, amount=amount,
                                  signed_amount=signed_amount, accepted=accepted, pending=pending, reason=reason,
                                  method_code=method_code, kind=kind, raw=raw)
    handler = handler_for(reference)
    if handler is None:
        raise NotifyRejected("Unknown reference.", status_code=404, extra={"reference": reference})
    if validate_target or not handler.validates_on_apply:
        handler.validate(notify)
    return notify


def paynow_notify_receive(*, fields: Mapping[str, str], body: str, headers: Mapping[str, str] | None = None,
                          apply_inline: bool | None = None) -> tuple[WebhookEvent | None, bool]:
    """Authenticate and record one notify; apply it now or queue it on commit (`webhook_accept`).

    Returns (event, created). A queued-mode duplicate returns (None, False): nothing was read back.
    """
    notify = paynow_notify_authenticate(fields=fields)
    return webhook_accept(provider=PROVIDER, event_id=f"{notify.request_trace}:{notify.reference}",
                          event_type=f"paynow.{notify.kind}", body=body, headers=headers or {},
                          handlers=PAYNOW_HANDLERS, apply_inline=apply_inline)


def _notify_from_event(event: WebhookEvent) -> netcash.PayNowNotify:
    return paynow_notify_authenticate(fields=parse_form(event.body), validate_target=False)


def _apply(event: WebhookEvent) -> None:
    notify = _notify_from_event(event)
    handler = handler_for(notify.reference)
    handler.apply(notify)


PAYNOW_HANDLERS = {"paynow.accepted": _apply, "paynow.declined": _apply, "paynow.pending": _apply}


# --- invoices ------------------------------------------------------------------------------------------
def _check_invoice_status(status: str | None, notify: netcash.PayNowNotify) -> None:
    if status is None:
        raise NotifyRejected("Unknown invoice.", status_code=404, extra={"reference": notify.reference})
    if status == Invoice.Status.VOID:
        raise NotifyRejected("The invoice is void.", status_code=409, extra={"reference": notify.reference})


def _invoice_for(notify: netcash.PayNowNotify) -> Invoice:
    number = invoice_number_from_reference(notify.reference)
    invoice = Invoice.objects.select_related("customer").filter(number=number).order_by()[:1] if number else []
    invoice = next(iter(invoice), None)
    _check_invoice_status(invoice.status if invoice is not None else None, notify)
    return invoice


def _validate_invoice(notify: netcash.PayNowNotify) -> None:
    number = invoice_number_from_reference(notify.reference)
    status = (next(iter(Invoice.objects.filter(number=number).order_by().values_list("status", flat=True)[:1]), None)
              if number else None)
    _check_invoice_status(status, notify)


def _apply_invoice(notify: netcash.PayNowNotify) -> None:
    invoice = _invoice_for(notify)
    provider = (PaymentTransaction.Provider.SANDBOX if notify.request_trace.startswith(SANDBOX_TRACE_PREFIX)
                else PaymentTransaction.Provider.NETCASH)
    common = {"reference": notify.reference, "customer": invoice.customer, "invoice": invoice, "provider": provider,
              "method": notify.method, "provider_method": notify.method_name, "raw": notify.raw}
    if notify.accepted:
        payment_complete(amount=notify.amount, provider_transaction_id=notify.request_trace, **common)
    elif notify.pending:
        payment_record_pending(amount=notify.signed_amount, provider_transaction_id=notify.request_trace, **common)
    else:
        # The customer sees our words for the decline; NetCash's own text stays in raw_response.
        info = classify_netcash_reason(notify.reason)
        payment_fail(amount=notify.signed_amount, reason=info.message, provider_transaction_id=notify.request_trace,
                     **(common | {"raw": notify.raw | {"error_code": info.code, "provider_error": info.raw}}))


# _apply_invoice loads the invoice anyway and checks it exists and is not void (`_invoice_for`).
register_reference_handler("INV-", ReferenceHandler(validate=_validate_invoice, apply=_apply_invoice,
                                                    validates_on_apply=True))
