"""Pages of the payment flow: the payment result, the NetCash return, the sandbox gateway. The pages
that start a payment (the signed-in and the public pay page) are the customer portal's (portal/views.py)."""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from circletel.sandbox import sandbox_gateway_active
from payments.clients import netcash
from payments.models import PaymentTransaction
from payments.providers.netcash import FORM_TYPE, netcash_notify_response
from payments.selectors import paynow_invoice
from payments.services.netcash_paynow import SANDBOX_TRACE_PREFIX

logger = logging.getLogger(__name__)


# Our Pay Now references: `<target>-<6 hex>` (payments/services/references.py); anything else in a
# return URL is not ours, so it shows "not found" (never a 500 from reversing a URL with a "/").
REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESULT_REFRESH_SECONDS = 5
RESULT_REFRESH_LIMIT = 24  # about two minutes of "we are confirming" before the page stops refreshing
_S = PaymentTransaction.Status
PAYNOW_PROVIDERS = (PaymentTransaction.Provider.NETCASH, PaymentTransaction.Provider.SANDBOX)
RESULT_STATES = {_S.COMPLETED: "paid", _S.PARTIALLY_REFUNDED: "paid", _S.REFUNDED: "refunded",
                 _S.REVERSED: "reversed", _S.FAILED: "declined", _S.PENDING: "pending"}


@never_cache  # Back must not show a stale "confirming" copy of a payment that has landed since
def payment_result(request, reference: str):
    """What we know of a Pay Now payment, read from our own rows only. While no notify has landed
    it says "we are confirming your payment" and refreshes itself for a couple of minutes."""
    if not REFERENCE_RE.match(reference):
        raise Http404("No such payment")
    payment = (PaymentTransaction.objects.select_related("invoice__customer")
               .filter(reference=reference).order_by("-created_at").first())
    invoice = (payment.invoice if payment else None) or paynow_invoice(reference)
    owner = bool(invoice and request.user.is_authenticated and invoice.customer.user_id == request.user.pk)
    try:
        check = max(0, int(request.GET.get("check") or 0))
    except ValueError:
        check = 0
    state = RESULT_STATES.get(payment.status, "confirming") if payment else "confirming"
    if state == "pending" and payment.provider not in PAYNOW_PROVIDERS:
        # A card payment's row is written when it starts: pending means Stripe's webhook has not
        # landed yet, not that the provider reported it pending (Pay Now writes rows only on a notify).
        state = "confirming"
    if state == "declined" and (payment.raw_response or {}).get("error_code") == "cancelled":
        state = "cancelled"  # the customer cancelled at NetCash (services.netcash_paynow): not a decline
    waiting = state in ("confirming", "pending")
    refresh = waiting and check < RESULT_REFRESH_LIMIT
    return render(request, "payments/result.html", {
        "payment": payment, "state": state, "reference": reference, "invoice": invoice if owner else None,
        "refresh": refresh, "refresh_seconds": RESULT_REFRESH_SECONDS, "next_check": check + 1,
        "gave_up": waiting and not refresh,
        # The sandbox plays NetCash; the others by their own names (the model's labels).
        "provider_label": ("NetCash" if not payment or payment.provider in PAYNOW_PROVIDERS
                           else payment.get_provider_display()),
    })


def _sandbox_or_404():
    if not sandbox_gateway_active():
        raise Http404("The sandbox gateway is off")


@csrf_exempt  # it stands in for NetCash, which receives a cross-site form post
@require_POST
def sandbox_checkout(request):
    """The sandbox's hosted payment page: 'Pay R 499.00 - approve / decline'."""
    _sandbox_or_404()
    fields = {k: request.POST.get(k, "") for k in ("p2", "p3", "p4", "m4", "m5", "m6")}
    try:
        amount = netcash.parse_rands(fields["p4"])
    except ValueError:
        return HttpResponse("Bad amount", status=400)
    return render(request, "payments/sandbox_checkout.html", {"fields": fields, "amount": amount})


@require_POST
def sandbox_complete(request):
    """Play NetCash: post the server-to-server notify NetCash would send to our secret notify path
    (same token check, same code as a real notify), then send the browser to the result page,
    which only reads what the notify recorded."""
    _sandbox_or_404()
    approve = request.POST.get("decision") == "approve"
    reference = request.POST.get("p2", "")
    notify = {
        "TransactionAccepted": "true" if approve else "false",
        "Reason": "Success" if approve else "Declined by the sandbox gateway",
        "RequestTrace": f"{SANDBOX_TRACE_PREFIX}{uuid.uuid4().hex[:20]}",
        "Reference": reference, "Amount": request.POST.get("p4", ""),
        "Extra1": request.POST.get("m4", ""), "Extra2": request.POST.get("m5", ""),
        "Extra3": request.POST.get("m6", ""), "Method": "1",
    }
    # Applied inline: the sandbox is the server here, and the result page it sends the browser to
    # next should show the outcome at once (a real notify is applied by the queued task).
    response = netcash_notify_response(token=settings.NETCASH.get("NOTIFY_TOKEN") or "",
                                       body=urlencode(notify).encode(), content_type=FORM_TYPE,
                                       headers={"User-Agent": "circletel-sandbox-gateway"}, apply_inline=True)
    if response.status_code != 200:
        logger.warning("sandbox notify refused by the notify endpoint: %s", response.status_code)
        messages.error(request, "The payment could not be confirmed.")
    return _result_redirect(reference)


def _result_redirect(reference: str):
    if not REFERENCE_RE.match(reference or ""):
        raise Http404("No payment reference")
    return redirect("payments:result", reference=reference)


@csrf_exempt  # NetCash sends the customer's browser back here with a cross-site form post
def netcash_return(request):
    """The customer's return from Pay Now (the Accept, Decline and Redirect URLs in the portal).

    It only displays: whatever the browser posts (`TransactionAccepted=true` included) is read for
    the reference alone and sends the browser to the result page, which shows what our own rows say.
    Money changes only on NetCash's server-to-server notify (`payments.providers.netcash.netcash_notify`).
    """
    reference = request.GET.get("Reference") or request.GET.get("p2") or ""
    if request.method == "POST":
        reference = request.POST.get("Reference") or request.POST.get("p2") or reference
    return _result_redirect(reference.strip())
