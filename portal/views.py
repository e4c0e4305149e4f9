"""Customer portal pages (the dashboard and the pay pages): parse input, call a selector or service, render."""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from billing.models import CreditNote, Invoice
from billing.selectors import customer_for_user
from billing.services.pdf import invoice_document_facts
from circletel.errors import ApplicationError, public_message
from circletel.money import format_zar
from circletel.throttle import client_ip, over_limit
from payments.card_page import allow_stripe_js, card_payments_available, card_save_refusal, chargeable_cards
from payments.clients.stripe import to_cents
from payments.errors import PaymentError
from payments.services.methods import (
    payment_method_removal_outcome,
    payment_method_remove,
    payment_method_set_primary,
)
from payments.services.paynow_checkout import invoice_checkout
from payments.services.receipts import receipt_issue
from portal import selectors
from portal.charts import usage_chart
from portal.forms import (
    BillingDayForm,
    CancelServiceForm,
    DebitOrderForm,
    InvoiceFilterForm,
    PaymentFilterForm,
    PreferencesForm,
    ProfileForm,
    StatementForm,
)
from portal.pdf import invoice_pdf_bytes, statement_pdf_bytes
from portal.services import (
    billing_day_change_request,
    billing_preferences_update,
    customer_profile_update,
    debit_order_mandate_retry,
    debit_order_method_add,
    service_cancel_request,
)
from usage.selectors import usage_summary

logger = logging.getLogger(__name__)
PAGE_SIZE = 20
PUBLIC_PAY_LIMIT = 10  # lookups per client address per window
PUBLIC_PAY_WINDOW = 600  # seconds


def customer_required(view):
    """Signed in (else the login page) and linked to a customer (else a page saying so)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            customer = customer_for_user(request.user)
        except Http404:
            return render(request, "dashboard/no_customer.html", status=404)
        request.user.customer = customer  # cache the reverse one-to-one for the nav (no query)
        return view(request, customer, *args, **kwargs)

    return wrapper


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@customer_required
def home(request, customer):
    summary = selectors.dashboard_summary(customer=customer)
    return render(request, "dashboard/home.html", {
        "s": summary, "nav": "home", "pay_unavailable": selectors.online_payment_unavailable_reason()})


@customer_required
def services(request, customer):
    cards = selectors.service_cards(services=selectors.customer_services(customer=customer), why_suspended=True,
                                    today=timezone.localdate())
    return render(request, "dashboard/services.html", {"cards": cards, "nav": "services"})


@customer_required
def service_detail(request, customer, pk):
    service = selectors.customer_service(customer=customer, service_id=pk)
    today = timezone.localdate()
    card = selectors.service_cards(services=[service], today=today, why_suspended=True)[0]
    days = selectors.daily_usage(service=service, start=card.cycle_start, end=min(today, card.cycle_end))
    invoices = selectors.customer_invoices(customer=customer).filter(service_id=service.pk)[:12]
    return render(request, "dashboard/service_detail.html", {
        "card": card, "service": service, "chart": usage_chart(days), "invoices": invoices, "nav": "services",
        "cancel_form": CancelServiceForm()})


CANCEL_QUOTE_CHANGED = "The amount changed since you looked (a day has passed or an invoice was issued): check it again."


@customer_required
@require_http_methods(["GET", "POST"])
def service_cancel(request, customer, pk):
    """Cancelling a service: the first post shows the final amount (nothing changes); the confirming
    post (with the amount it was shown) cancels it today through the lifecycle."""
    from billing.services.lifecycle import service_cancellation_quote

    service = selectors.customer_service(customer=customer, service_id=pk)
    if request.method == "GET":  # a bookmark or a new tab: the form lives on the service page
        return redirect("dashboard:service", pk=service.pk)
    form = CancelServiceForm(request.POST)
    if service.status == service.Status.CANCELLED:
        messages.info(request, "This service is already cancelled.")
        return redirect("dashboard:service", pk=service.pk)
    if not form.is_valid():
        return render(request, "dashboard/service_cancel_confirm.html",
                      {"service": service, "form": form, "nav": "services", "quote": None}, status=400)
    quote = service_cancellation_quote(service=service)
    confirm_form = CancelServiceForm(initial={"reason": form.cleaned_data["reason"], "confirm": True,
                                              "quoted": quote["credit"]})
    context = {"service": service, "form": confirm_form, "quote": quote, "nav": "services",
               "balance": customer.billing_account.balance}
    if not form.cleaned_data["confirm"]:
        return render(request, "dashboard/service_cancel_confirm.html", context)
    if form.cleaned_data["quoted"] != quote["credit"]:
        return render(request, "dashboard/service_cancel_confirm.html", {**context, "notice": CANCEL_QUOTE_CHANGED},
                      status=409)
    try:
        service_cancel_request(customer=customer, service=service, reason=form.cleaned_data["reason"],
                               actor=request.user)
    except ApplicationError as exc:
        messages.error(request, public_message(exc))
        return redirect("dashboard:service", pk=service.pk)
    back = f" {format_zar(quote['credit'])} of days already invoiced was taken off your account." if quote["credit"] else ""
    messages.success(request, f"{service.package_name} is cancelled from today.{back}")
    return redirect("dashboard:service", pk=service.pk)


def _billing_page(request, customer, *, form=None, debit_form=None, status=200):
    account = customer.billing_account
    initial = {"auto_pay": account.auto_pay, "notify_email": account.notify_email, "notify_sms": account.notify_sms}
    return render(request, "dashboard/billing.html", {
        "account": account, "form": form or PreferencesForm(initial=initial),
        "debit_form": debit_form or DebitOrderForm(),
        "methods": selectors.customer_payment_methods(customer=customer), "nav": "billing",
        "next_billing": selectors.next_invoice_preview(
            customer=customer, services=selectors.customer_services(customer=customer),
            today=timezone.localdate()),
    }, status=status)


@customer_required
@require_http_methods(["GET", "POST"])
def billing(request, customer):
    if request.method != "POST":
        return _billing_page(request, customer)
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            billing_preferences_update(customer=customer, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.extra.get("field") if exc.extra.get("field") in form.fields else None, public_message(exc))
        else:
            messages.success(request, "Your billing preferences were saved.")
            return redirect("dashboard:billing")
    return _billing_page(request, customer, form=form)


@customer_required
@require_POST
def method_add_debit_order(request, customer):
    """Save a bank account for debit orders and send its eMandate request (see the service)."""
    form = DebitOrderForm(request.POST)
    if form.is_valid():
        try:
            _method, message = debit_order_method_add(customer=customer, **form.service_kwargs())
        except PaymentError as exc:  # beside the field it is about (the service names it), else on top
            field = (exc.extra or {}).get("field")
            form.add_error(field if field in form.fields else None, public_message(exc))
        else:
            messages.info(request, message)
            return redirect(reverse("dashboard:billing") + "#payment-methods")
    return _billing_page(request, customer, debit_form=form, status=400)


@customer_required
@require_POST
def method_mandate_retry(request, customer, pk):
    try:
        _method, message = debit_order_mandate_retry(customer=customer, method_id=pk)
    except ApplicationError as exc:
        messages.error(request, public_message(exc))
    else:
        messages.info(request, message)
    return redirect(reverse("dashboard:billing") + "#payment-methods")


def _method_action(request, customer, pk, action, done: str):
    method = selectors.customer_payment_method(customer=customer, method_id=pk)
    try:
        action(method=method)
    except ApplicationError as exc:
        messages.error(request, public_message(exc))
    else:
        messages.success(request, done.format(method=method.display_name))
    return redirect("dashboard:billing")


@customer_required
@require_POST
def method_primary(request, customer, pk):
    return _method_action(request, customer, pk, payment_method_set_primary,
                          "{method} is now your primary payment method.")


REMOVED = "{method} was removed."
REMOVED_PROMOTED = "{method} was removed. {promoted} is now your primary payment method."
REMOVED_AUTO_PAY_OFF = ("{method} was removed. Auto-pay is off: you have no other payment method we can collect from. "
                        "Add a debit order or card and make it primary, then turn auto-pay on again.")
REMOVED_NO_PRIMARY = "{method} was removed. You have no primary payment method now."
REMOVED_AUTO_PAY_OFF_UNUSABLE_PRIMARY = (
    "{method} was removed. Auto-pay is off: your primary payment method cannot be collected from yet and you have "
    "no other we can collect from. Turn auto-pay on again once it can be (for a debit order, when its mandate is "
    "signed).")


@customer_required
@require_http_methods(["GET", "POST"])
def method_remove(request, customer, pk):
    """Removing a saved method asks first: GET (or a POST without `confirm`) shows what removing it
    does (which method becomes primary, or that auto-pay goes off), read from the same rule
    (`payment_method_removal_outcome`) the confirming POST applies through `payment_method_remove`."""
    method = selectors.customer_payment_method(customer=customer, method_id=pk)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        account = customer.billing_account
        outcome = payment_method_removal_outcome(method=method, auto_pay=account.auto_pay)
        return render(request, "dashboard/method_remove_confirm.html", {
            "method": method, "nav": "billing", "auto_pay": account.auto_pay, "outcome": outcome,
            "successor": outcome.promoted})
    try:
        result = payment_method_remove(method=method)
    except ApplicationError as exc:
        messages.error(request, public_message(exc))
        return redirect(reverse("dashboard:billing") + "#payment-methods")
    name = method.display_name
    if result.promoted is not None:
        messages.success(request, REMOVED_PROMOTED.format(method=name, promoted=result.promoted.display_name))
    elif result.auto_pay_off:
        text = REMOVED_AUTO_PAY_OFF if result.was_primary else REMOVED_AUTO_PAY_OFF_UNUSABLE_PRIMARY
        messages.warning(request, text.format(method=name))
    elif result.was_primary:
        messages.success(request, REMOVED_NO_PRIMARY.format(method=name))
    else:
        messages.success(request, REMOVED.format(method=name))
    return redirect(reverse("dashboard:billing") + "#payment-methods")


@customer_required
def invoices(request, customer):
    form = InvoiceFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else None
    page = Paginator(selectors.customer_invoices(customer=customer, status=status), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "dashboard/invoices.html", {
        "form": form, "page": page, "status": status or "", "nav": "invoices"})


@customer_required
def invoice_detail(request, customer, pk):
    invoice = selectors.customer_invoice(customer=customer, invoice_id=pk)
    facts = invoice_document_facts(invoice)  # the same facts the PDF prints
    pay_unavailable = selectors.online_payment_unavailable_reason()
    pay_url = (reverse("dashboard:invoice_pay", args=[invoice.number])
               if invoice.is_open and facts["ask_to_pay"] and not pay_unavailable else None)
    return render(request, "dashboard/invoice_detail.html", {
        "invoice": invoice, "pay_url": pay_url, "nav": "invoices", "facts": facts, "pay_unavailable": pay_unavailable,
        "lines": list(invoice.lines.all()), "payments": list(invoice.payments.all())})


@customer_required
def invoice_pdf(request, customer, pk):
    invoice = selectors.customer_invoice(customer=customer, invoice_id=pk)
    return _pdf_response(invoice_pdf_bytes(invoice), f"{invoice.number}.pdf")


@customer_required
def payments(request, customer):
    form = PaymentFilterForm(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    page = Paginator(selectors.customer_payments(customer=customer, **filters), PAGE_SIZE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/payments.html", {
        "form": form, "page": page, "query": query.urlencode(), "nav": "payments"})


@customer_required
def payment_receipt(request, customer, pk):
    """The receipt PDF of one of the customer's completed payments (made now if the task has not run)."""
    payment = selectors.customer_payment(customer=customer, payment_id=pk)
    receipt = receipt_issue(payment_id=payment.pk)
    if receipt is None:
        raise Http404("This payment has no receipt: it was not completed.")
    with receipt.pdf.open("rb") as fh:
        return _pdf_response(fh.read(), f"{receipt.number}.pdf")


@customer_required
def statement(request, customer):
    # Without dates in the query the page shows the default range it pre-fills (bound, so the
    # first load already has a statement rather than an empty "press Show" card).
    chosen = "date_from" in request.GET or "date_to" in request.GET
    form = StatementForm(request.GET if chosen else {
        k: v.isoformat() for k, v in StatementForm.default_initial().items()})
    stmt = None
    if form.is_valid():
        stmt = selectors.statement(customer=customer, **form.cleaned_data)
        if request.GET.get("format") == "pdf":
            data = statement_pdf_bytes(stmt)
            return _pdf_response(data, f"statement-{customer.account_number}-{stmt.date_from}-{stmt.date_to}.pdf")
    return render(request, "dashboard/statement.html", {"form": form, "s": stmt, "nav": "statement"})


@customer_required
def usage(request, customer):
    services_ = selectors.customer_services(customer=customer)
    today = timezone.localdate()
    wanted = request.GET.get("service")
    panels = []
    for service in services_:
        if wanted and str(service.pk) != wanted:
            continue
        u = usage_summary(service, today)
        current = [{"date": p.date, "total_mb": p.total_mb} for p in u.current_days]
        previous = [{"date": p.date, "total_mb": p.total_mb} for p in u.previous_days]
        panels.append({
            "service": service, "cycle_start": u.cycle_start, "cycle_end": u.cycle_end, "prev_start": u.previous_cycle_start,
            "prev_end": u.previous_cycle_end,
            "current": usage_chart(current), "previous": usage_chart(previous),
            "current_mb": u.used_mb, "previous_mb": sum((d["total_mb"] for d in previous), selectors.ZERO),
            "cap_gb": service.data_cap_gb, "percent": u.percent,
        })
    return render(request, "dashboard/usage.html", {"panels": panels, "services": services_, "nav": "usage"})


def _profile_page(request, customer, *, form=None, day_form=None, status=200):
    account = customer.billing_account
    live = selectors.customer_services(customer=customer, include_cancelled=False)
    return render(request, "dashboard/profile.html", {
        "form": form or ProfileForm(instance=customer), "customer": customer, "nav": "profile", "account": account,
        "service_days": sorted({s.billing_day for s in live}),
        "day_form": day_form or BillingDayForm(initial={"billing_day": account.preferred_billing_day}),
    }, status=status)


@customer_required
@require_http_methods(["GET", "POST"])
def profile(request, customer):
    if request.method != "POST":
        return _profile_page(request, customer)
    form = ProfileForm(request.POST, instance=customer)
    if form.is_valid():
        try:
            customer_profile_update(customer=customer, vat_number=form.cleaned_data.get("vat_number"),
                                    registration_number=form.cleaned_data.get("registration_number"),
                                    **{f: form.cleaned_data[f] for f in ProfileForm.Meta.fields})
        except ApplicationError as exc:
            form.add_error(None, public_message(exc))
        else:
            messages.success(request, "Your contact details were saved.")
            return redirect("dashboard:profile")
    return _profile_page(request, customer, form=form)


BILLING_DAY_QUOTE_CHANGED = "The amount changed since you looked (a day has passed or an invoice was issued): check it again."


@customer_required
@require_http_methods(["GET", "POST"])
def billing_day_change(request, customer):
    """Change of billing day: the first post shows what it costs per service (nothing changes); the
    confirming post (with the amount it was shown) makes the change through the lifecycle service."""
    if request.method == "GET":  # a bookmark or a new tab: the form lives on the profile page
        return redirect("dashboard:profile")
    form = BillingDayForm(request.POST)
    if not form.is_valid():
        return _profile_page(request, customer, day_form=form, status=400)
    day = form.cleaned_data["billing_day"]
    try:
        quote = selectors.billing_day_change_quote(customer=customer, new_day=day)
    except ApplicationError as exc:
        form.add_error("billing_day", public_message(exc))
        return _profile_page(request, customer, day_form=form, status=400)
    confirm_form = BillingDayForm(initial={"billing_day": day, "confirm": True, "quoted": quote.total})
    context = {"quote": quote, "form": confirm_form, "customer": customer, "nav": "profile",
               "account": customer.billing_account}
    if not form.cleaned_data["confirm"]:
        return render(request, "dashboard/billing_day_confirm.html", context)
    if form.cleaned_data["quoted"] != quote.total:
        return render(request, "dashboard/billing_day_confirm.html", {**context, "notice": BILLING_DAY_QUOTE_CHANGED},
                      status=409)
    try:
        documents = billing_day_change_request(customer=customer, new_day=day, actor=request.user)
    except ApplicationError as exc:
        form.add_error(None, public_message(exc))
        return _profile_page(request, customer, day_form=form, status=400)
    done = [f"Your billing day is now the {day}."]
    for document in documents:
        kind = "Credit note" if isinstance(document, CreditNote) else "Invoice"
        done.append(f"{kind} {document.number} for {format_zar(document.total)} covers the days in between.")
    messages.success(request, " ".join(done))
    return redirect("dashboard:profile")


# --- paying an invoice: signed in (its customer) or public (invoice + account number) ----------------
# The signed-in pay page offers a card through Stripe's Payment Element (new or saved, 3-D Secure in the
# page) where Stripe is configured, beside NetCash Pay Now; with Pay Now alone it hands the browser
# straight to NetCash (or the sandbox gateway) through `payments.services.paynow_checkout.invoice_checkout`.
# The public page is Pay Now only. The payment flow after that (return, result page) is payments'.

@never_cache  # Back after paying must not show a stale amount with a live Pay button
@login_required
def invoice_pay(request, number: str):
    lookup = {"pk": int(number)} if number.isascii() and number.isdigit() else {"number": number.upper()}
    invoice = (Invoice.objects.select_related("customer")
               .filter(customer__user_id=request.user.pk, **lookup).first())
    if invoice is None:
        raise Http404("No such invoice")
    try:
        form = invoice_checkout(invoice=invoice)
    except PaymentError as exc:
        form, refusal = None, exc.message
    if not card_payments_available():
        if form is None:
            messages.error(request, refusal)
            return redirect("dashboard:invoices")
        return render(request, "payments/paynow_redirect.html", {"form": form, "invoice": invoice,
                                                                 "amount": Decimal(form.fields["p4"])})
    if not invoice.is_open or invoice.amount_due <= 0:  # as fresh as invoice_checkout read it, refused or not
        messages.error(request, "This invoice has nothing left to pay.")
        return redirect("dashboard:invoice", pk=invoice.pk)
    customer = invoice.customer
    config = {"publishable_key": settings.STRIPE["PUBLISHABLE_KEY"], "invoice_id": invoice.pk,
              "amount": str(invoice.amount_due), "amount_cents": to_cents(invoice.amount_due), "currency": "zar",  # invoices are in ZAR
              "process_url": reverse("payments-process")}
    response = render(request, "payments/invoice_pay.html", {
        "invoice": invoice, "amount": invoice.amount_due, "paynow_form": form, "config": config,
        "stripe_js_url": settings.STRIPE["JS_URL"], "saved_cards": chargeable_cards(customer=customer),
        "save_refusal": card_save_refusal(customer=customer), "nav": "invoices"})
    return allow_stripe_js(response)


def _rate_limited(request) -> bool:
    return over_limit(f"payments:public_pay:{client_ip(request)}", limit=PUBLIC_PAY_LIMIT, window=PUBLIC_PAY_WINDOW)


def public_pay(request):
    """Pay without signing in: invoice number + account number; shows only the amount due. A GET may
    pre-fill the invoice number (`?invoice=INV-...`, the link in the invoice email); nothing is looked up
    until the form is posted."""
    context = {"form_error": "", "account_number": "",
               "invoice_number": (request.GET.get("invoice") or "").strip().upper()[:20]}
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
