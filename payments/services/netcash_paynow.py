"""NetCash Pay Now: apply an accepted, pending, cancelled or declined notify to its invoice, once.

The notify was authenticated and recorded by `payments.providers.netcash` (the secret notify path,
then the HMAC tamper check) and is applied here, by the inbox's task, through the route payments
registers in `PaymentsConfig.ready()` (`paynow_apply`, for references that name an invoice):

    view (providers.netcash) -> inbox.services.webhook_accept -> inbox task -> inbox.registry -> paynow_apply

`paynow_apply` checks the stored body again (`clients.netcash.paynow_notify_from_fields`), so what
is applied is exactly what was verified, then completes, records pending or fails the payment in
the inbox's transaction (idempotent by state: unique provider transaction id).
"""

from __future__ import annotations

import logging

from billing.models import Invoice
from inbox.models import WebhookEvent
from inbox.registry import register
from payments.clients import netcash
from payments.models import PaymentTransaction
from payments.provider_errors import classify_netcash_reason
from payments.selectors import INVOICE_PREFIX, paynow_invoice, paynow_invoice_check
from payments.services.payments import payment_complete, payment_fail, payment_record_pending

logger = logging.getLogger(__name__)
PROVIDER = "netcash"
SANDBOX_TRACE_PREFIX = "SANDBOX-"
EVENT_TYPES = ("paynow.accepted", "paynow.declined", "paynow.pending", "paynow.cancelled")
# Our words for a Pay Now the customer cancelled on NetCash's page ("cancelled" in `Reason`,
# CONTRACTS 2.1 corrected 2026-12): not a decline, so staff do not chase a card problem and the
# customer gets no "payment failed" email for closing the page.
CANCELLED_REASON = "Cancelled by the customer on the NetCash payment page; nothing was charged."


def _invoice_for(notify: netcash.PayNowNotify) -> Invoice:
    invoice = paynow_invoice(notify.reference)
    paynow_invoice_check(invoice.status if invoice is not None else None, notify.reference)
    return invoice


def paynow_is_invoice(event: WebhookEvent) -> bool:
    """Route match: the notify's reference names an invoice (`INV-...`)."""
    try:
        return (netcash.parse_form(event.body).get("Reference") or "").strip().startswith(INVOICE_PREFIX)
    except ValueError:
        return False


def paynow_apply(event: WebhookEvent) -> None:
    """The inbox handler for an invoice's Pay Now notify (accepted, pending, cancelled or declined)."""
    notify = netcash.paynow_notify_from_fields(netcash.parse_form(event.body))
    invoice = _invoice_for(notify)
    provider = (PaymentTransaction.Provider.SANDBOX if notify.request_trace.startswith(SANDBOX_TRACE_PREFIX)
                else PaymentTransaction.Provider.NETCASH)
    common = {"reference": notify.reference, "customer": invoice.customer, "invoice": invoice, "provider": provider,
              "method": notify.method, "provider_method": notify.method_name, "raw": notify.raw}
    # The outcome comes from `Reason` for any Method (clients.netcash.paynow_outcome, CONTRACTS 2.1
    # "Pending (corrected 2026-12)"): pending by "pending", a customer cancellation by "cancelled".
    if notify.accepted:
        payment_complete(amount=notify.amount, provider_transaction_id=notify.request_trace, **common)
    elif notify.pending:
        payment_record_pending(amount=notify.signed_amount, provider_transaction_id=notify.request_trace, **common)
    elif notify.kind == "cancelled":
        payment_fail(amount=notify.signed_amount, reason=CANCELLED_REASON, provider_transaction_id=notify.request_trace,
                     notify_customer=False,
                     **(common | {"raw": notify.raw | {"error_code": "cancelled", "provider_error": notify.reason}}))
    else:
        # The customer sees our words for the decline; NetCash's own text stays in raw_response.
        info = classify_netcash_reason(notify.reason)
        payment_fail(amount=notify.signed_amount, reason=info.message, provider_transaction_id=notify.request_trace,
                     **(common | {"raw": notify.raw | {"error_code": info.code, "provider_error": info.raw}}))


def register_handlers() -> None:
    register(provider=PROVIDER, event_types=EVENT_TYPES, handler=paynow_apply, match=paynow_is_invoice,
             owner="payments")
