"""The sandbox's stand-in for NetCash's eMandate signing page (sandbox gateway only).

    GET  /payments/sandbox/mandate/<account_reference>       the mandate's details, "Sign" / "Decline"
    POST /payments/sandbox/mandate/<account_reference>/sign  decision=sign|decline

The outcome goes through the same service call as NetCash's real mandate postback
(`payments.providers.netcash.netcash_mandate_postback` -> `mandate_update_status`), with the fields
that postback carries (AccountRef, MandateSuccessful 1/0, ReasonForDecline), so the method becomes
usable (and primary when no usable primary exists) or declined, with the usual notifications.

Invariants: off unless `sandbox_gateway_active()` (404); only the signed-in customer's own mandate
(anything else 404, whether it exists or not); only a pending mandate changes (otherwise a message and
nothing changes); GET never changes anything; the POST is CSRF-protected (it is our own page, unlike
the Pay Now stand-in, which receives a cross-site form post).
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from billing.selectors import customer_for_user
from circletel.sandbox import sandbox_gateway_active
from payments.models import Mandate, PaymentMethod
from payments.services.mandates import mandate_update_status

logger = logging.getLogger(__name__)

SANDBOX_DECLINE_REASON = "Declined by the customer (sandbox)"
NOT_PENDING = "The mandate for {method} is {status}, not waiting for a signature: nothing was changed."
SIGNED = "The mandate for {method} is signed: debit orders can now collect from it."
SIGNED_PRIMARY = SIGNED + " It is now your primary payment method."
DECLINED = "You declined the mandate for {method}: debit orders will not collect from it."


def _customer_mandate(request, reference: str) -> Mandate:
    """The signed-in customer's mandate `reference` on a method they still have; 404 for the sandbox
    being off, another customer's mandate, or none (the same answer, so references cannot be probed)."""
    if not sandbox_gateway_active():
        raise Http404("The sandbox gateway is off")
    customer = customer_for_user(request.user)
    mandate = (Mandate.objects.select_related("payment_method", "customer")
               .filter(account_reference=reference, customer_id=customer.pk,
                       payment_method__customer_id=customer.pk, payment_method__deleted_at__isnull=True).first())
    if mandate is None:
        raise Http404("No such mandate")
    return mandate


def _billing_redirect():
    return redirect(reverse("dashboard:billing") + "#payment-methods")


@login_required
@require_GET
def sandbox_mandate(request, reference: str):
    """NetCash's signing page, played by the sandbox: what the customer is agreeing to (the masked
    account, the most one debit may take, when collections run), then "Sign" or "Decline"."""
    mandate = _customer_mandate(request, reference)
    method = mandate.payment_method
    bank = method.bank_details
    return render(request, "payments/sandbox_mandate.html", {
        "mandate": mandate, "method": method, "pending": mandate.status == Mandate.Status.PENDING,
        "account_holder": bank.get("account_holder", ""),
        "account_type": "Savings" if bank.get("account_type") == "savings" else "Current",
        "not_pending": NOT_PENDING.format(method=method.display_name, status=mandate.get_status_display().lower()),
    })


@login_required
@require_POST
def sandbox_mandate_sign(request, reference: str):
    """Play NetCash's postback for the customer's decision: `mandate_update_status` with what the real
    postback carries (AccountRef, MandateSuccessful, ReasonForDecline), then back to the payment methods."""
    mandate = _customer_mandate(request, reference)
    method = mandate.payment_method
    decision = request.POST.get("decision")
    if decision not in ("sign", "decline"):
        messages.error(request, "Choose Sign or Decline.")
        return redirect("payments:sandbox-mandate", reference=reference)
    if mandate.status != Mandate.Status.PENDING:
        messages.error(request, NOT_PENDING.format(method=method.display_name,
                                                   status=mandate.get_status_display().lower()))
        return _billing_redirect()
    successful = decision == "sign"
    postback = {"AccountRef": mandate.account_reference, "MandateSuccessful": "1" if successful else "0",
                "ReasonForDecline": "" if successful else SANDBOX_DECLINE_REASON, "Sandbox": "true"}
    updated = mandate_update_status(account_reference=mandate.account_reference, successful=successful,
                                    reason=postback["ReasonForDecline"], raw=postback)
    if updated.status == Mandate.Status.PENDING or (updated.status == Mandate.Status.ACTIVE) != successful:
        # another postback settled it between our read and the service's lock: it changed nothing
        messages.error(request, NOT_PENDING.format(method=method.display_name,
                                                   status=updated.get_status_display().lower()))
        return _billing_redirect()
    if successful:
        primary = PaymentMethod.objects.filter(pk=method.pk, is_primary=True).exists()
        messages.success(request, (SIGNED_PRIMARY if primary else SIGNED).format(method=method.display_name))
    else:
        messages.info(request, DECLINED.format(method=method.display_name))
    return _billing_redirect()
