"""Pages: pay an invoice (signed in or public), the sandbox gateway, the payment result."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.models import Invoice
from circletel.throttle import client_ip, over_limit
from payments.api.views import FORM_TYPE, netcash_notify_response
from payments.clients import netcash
from payments.errors import PaymentError
from payments.models import PaymentTransaction
from payments.services.checkout import invoice_checkout, sandbox_gateway_active
from payments.services.netcash_paynow import SANDBOX_TRACE_PREFIX, parse_form

logger = logging.getLogger(__name__)
PUBLIC_PAY_LIMIT = 10  # lookups per client address per window
PUBLIC_PAY_WINDOW = 600  # seconds


@login_required
def invoice_pay(request, number: str):
    lookup = {"pk": int(number)} if number.isdigit() else {"number": number}
    invoice = (Invoice.objects.select_related("customer")
               .filter(customer__user_id=request.user.pk, **lookup).first())
    if invoice is None:
        raise Http404("No such invoice")
    try:
        form = invoice_checkout(invoice=invoice)
    except PaymentError as exc:
        messages.error(request, exc.message)
        return redirect("/dashboard/invoices/")
    return render(request, "payments/paynow_redirect.html", {"form": form, "invoice": invoice,
                                                             "amount": Decimal(form.fields["p4"])})


def _rate_limited(request) -> bool:
    return over_limit(f"payments:public_pay:{client_ip(request)}", limit=PUBLIC_PAY_LIMIT, window=PUBLIC_PAY_WINDOW)


def public_pay(request):
    """Pay without signing in: invoice number + account number; shows only the amount due."""
    context = {"form_error": "", "invoice_number": "", "account_number": ""}
    if request.method == "POST":
        if _rate_limited(request):
            logger.warning("public pay rate limit hit from %s", client_ip(request))
            return render(request, "payments/public_pay.html",
                          {**context, "form_error": "Too many attempts. Please try again in a few minutes."},
                          status=429)
        number = (request.POST.get("invoice_number") or "").strip().upper()[:20]
        account = (request.POST.get("account_number") or "").strip().upper()[:20]
        context.update(invoice_number=number, account_number=account)
        invoice = (Invoice.objects.select_related("customer")
                   .filter(number=number, customer__account_number=account).first()) if number and account else None
        if invoice is None:
            context["form_error"] = "We could not find an invoice with those details."
            return render(request, "payments/public_pay.html", context, status=400)
        try:
            form = invoice_checkout(invoice=invoice, include_contact=False)
        except PaymentError as exc:
            context["form_error"] = exc.message
            return render(request, "payments/public_pay.html", context, status=400)
        return render(request, "payments/public_pay_confirm.html",
                      {"form": form, "amount": Decimal(form.fields["p4"]), "invoice_number": invoice.number})
    return render(request, "payments/public_pay.html", context)


def payment_result(request, reference: str):
    payment = PaymentTransaction.objects.filter(reference=reference).only("status", "amount", "reference").first()
    return render(request, "payments/result.html", {"payment": payment, "reference": reference})


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
    """Send the notify NetCash would send, through the real webhook code, then show the result."""
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
    # Applied inline: the result page the browser goes to next must show the payment.
    response = netcash_notify_response(body=urlencode(notify).encode(), content_type=FORM_TYPE,
                                       headers={"User-Agent": "circletel-sandbox-gateway"}, apply_inline=True)
    if response.status_code != 200:
        logger.warning("sandbox notify refused by the webhook: %s", response.status_code)
        messages.error(request, "The payment could not be confirmed.")
    return redirect("payments:result", reference=reference)


@csrf_exempt  # NetCash posts the customer's browser back here (Accept / Decline URL in the portal)
def netcash_return(request):
    """The customer's return from Pay Now. A POST carries the same fields as the notify and goes
    through the same code (record + apply once, under the invoice locks), so whichever of the two
    arrives first applies the payment and the other changes nothing."""
    reference = (request.GET.get("Reference") or "").strip()[:64]
    if request.method == "POST":
        body = request.read(settings.WEBHOOK_MAX_BODY_BYTES + 1)
        try:
            reference = (parse_form(body.decode("utf-8")).get("Reference") or reference).strip()[:64]
        except (UnicodeDecodeError, ValueError):
            pass  # the shared path below answers 400 and we just show "processing"
        response = netcash_notify_response(body=body, content_type=request.META.get("CONTENT_TYPE", ""),
                                           headers={k: v for k, v in request.headers.items()}, apply_inline=True)
        if response.status_code != 200:
            logger.warning("netcash return not applied (%s) for %s", response.status_code, reference)
    if not reference:
        raise Http404("No payment reference")
    return redirect("payments:result", reference=reference)
