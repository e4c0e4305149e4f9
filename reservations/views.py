"""Public puppy pages and the deposit checkout flow. Views parse input, call a service, render."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from circletel.errors import ApplicationError, public_message
from circletel.http import ProviderError
from circletel.money import format_money
from circletel.sandbox import sandbox_gateway_active
from circletel.throttle import client_ip
from reservations import selectors, services
from reservations.errors import HoldLapsed, HoldLimitReached, TooManyRequests
from reservations.models import Puppy, Reservation
from reservations.serializers import ReserveRequestSerializer
from reservations.services.limits import reservation_limits_check, reservation_rate_check_ip, storable_ip

logger = logging.getLogger(__name__)

PAGE_SIZE = 12


def _ga_client_id(request) -> str:
    cookie = request.COOKIES.get("_ga", "")  # "GA1.1.1234567890.1700000000" -> "1234567890.1700000000"
    parts = cookie.split(".")
    return ".".join(parts[2:4]) if len(parts) >= 4 else ""


def puppy_list(request):
    breed, status = request.GET.get("breed", "").strip(), request.GET.get("status", "").strip()
    page = Paginator(selectors.puppy_list(breed=breed, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    puppies = list(page.object_list)
    holds = _holds_until([p.pk for p in puppies if p.status == Puppy.Status.RESERVED])
    for p in puppies:
        p.hold_until = holds.get(p.pk)
    return render(request, "reservations/puppy_list.html", {
        "page": page, "puppies": puppies, "breeds": selectors.puppy_breeds(), "statuses": Puppy.Status.choices,
        "breed": breed, "status": status,
    })


def _holds_until(puppy_ids: list[int]) -> dict[int, object]:
    """{puppy pk: expires_at} of the unpaid (pending) holds among `puppy_ids`, in one query: a puppy
    held while someone pays reads "On hold until 14:35", not "Reserved". (A read that belongs in
    reservations/selectors.py; kept here while that file is another engineer's.)"""
    if not puppy_ids:
        return {}
    return dict(Reservation.objects.filter(puppy_id__in=puppy_ids, status=Reservation.Status.PENDING)
                .values_list("puppy_id", "expires_at"))


# The holds made in this browser: {str(puppy pk): {"reference": ..., "checkout_url": ...}}, so a buyer
# who comes back to the puppy's page is told it is their reservation, not "another family's".
# Only a reservation that is still pending or paid, on that puppy, counts (the database decides).
SESSION_HOLDS = "reservations_held"
SESSION_HOLDS_MAX = 5


def _remember_hold(request, reservation: Reservation, checkout_url: str) -> None:
    held = dict(request.session.get(SESSION_HOLDS) or {})
    held.pop(str(reservation.puppy_id), None)
    held[str(reservation.puppy_id)] = {"reference": reservation.reference, "checkout_url": checkout_url}
    request.session[SESSION_HOLDS] = dict(list(held.items())[-SESSION_HOLDS_MAX:])


def _own_hold(request, puppy: Puppy) -> dict | None:
    """This browser's active reservation of `puppy` with the link back to its checkout, else None."""
    if puppy.status != Puppy.Status.RESERVED:
        return None
    entry = (request.session.get(SESSION_HOLDS) or {}).get(str(puppy.pk))
    if not isinstance(entry, dict):
        return None
    r = selectors.reservation_by_reference(entry.get("reference", ""))
    if r is None or r.puppy_id != puppy.pk or r.status not in Reservation.ACTIVE:
        return None
    return {"reservation": r, "checkout_url": entry.get("checkout_url", "")}


def _detail_context(request, puppy: Puppy, **extra) -> dict:
    providers = selectors.puppy_payment_options(puppy)  # never PayPal on a rand listing (ADR 0014)
    mine = _own_hold(request, puppy)
    hold = None if mine or puppy.status != Puppy.Status.RESERVED else selectors.puppy_active_reservation(puppy.pk)
    return {"puppy": puppy, "providers": providers, "sandbox": sandbox_gateway_active(), "errors": {}, "form": {},
            "mine": mine, "on_hold": hold is not None and hold.status == Reservation.Status.PENDING,
            "hold_until": hold.expires_at if hold is not None else None, **extra}


def _retry_form(request, puppy: Puppy) -> dict:
    """The buyer's details again for "Try again" after a declined or cancelled payment
    (`?retry=<reference>`): only for a reservation of this puppy made in this browser (its session
    remembers the reference), so nobody else's details can be read through the link."""
    reference = request.GET.get("retry", "")
    entry = (request.session.get(SESSION_HOLDS) or {}).get(str(puppy.pk))
    if not reference or not isinstance(entry, dict) or entry.get("reference") != reference:
        return {}
    r = selectors.reservation_by_reference(reference)
    if r is None or r.puppy_id != puppy.pk:
        return {}
    return {"name": r.buyer_name, "email": r.buyer_email, "phone": r.buyer_phone}


def puppy_detail(request, slug):
    puppy = get_object_or_404(Puppy, slug=slug)
    return render(request, "reservations/puppy_detail.html",
                  _detail_context(request, puppy, form=_retry_form(request, puppy)))


@require_POST
def puppy_reserve(request, slug):
    puppy = get_object_or_404(Puppy, slug=slug)
    form = {k: request.POST.get(k, "") for k in ("name", "email", "phone", "provider")}
    address = client_ip(request)
    try:
        reservation_rate_check_ip(client_ip=address)
        valid = ReserveRequestSerializer(data=form)
        if valid.is_valid():  # invalid input is answered by `reserve` below, field by field
            reservation_limits_check(client_ip=address, email=valid.validated_data["email"])
    except (TooManyRequests, HoldLimitReached) as exc:
        response = render(request, "reservations/puppy_detail.html",
                          _detail_context(request, puppy, form=form, error=public_message(exc)),
                          status=exc.status_code)
        if isinstance(exc, TooManyRequests):
            response["Retry-After"] = str(exc.retry_after)
        return response
    try:
        reservation = services.reserve(
            puppy.pk, **form, client_ip=storable_ip(address),
            client_user_agent=request.headers.get("User-Agent", ""), ga_client_id=_ga_client_id(request))
    except services.AlreadyReserved as exc:
        puppy.refresh_from_db()
        context = _detail_context(request, puppy, form=form)
        if context["mine"] is None:  # the buyer's own hold (a second submit) is not a conflict
            context["conflict"] = public_message(exc)
        return render(request, "reservations/puppy_detail.html", context, status=409)
    except services.InvalidReservation as exc:
        return render(request, "reservations/puppy_detail.html",
                      _detail_context(request, puppy, errors=exc.extra.get("fields", {}), form=form,
                                      error=public_message(exc)),
                      status=400)
    try:
        url = services.reservation_start_checkout(
            reservation=reservation, **services.checkout_urls(reservation, request.build_absolute_uri))
    except ApplicationError as exc:
        messages.error(request, f"We could not start the payment: {public_message(exc)} Please try again.")
        return redirect("reservations:detail", slug=puppy.slug)
    _remember_hold(request, reservation, url)
    return redirect(url)


def _reservation(reference) -> Reservation:
    r = selectors.reservation_by_reference(reference)
    if r is None:
        raise Http404("No such reservation")
    return r


@require_http_methods(["GET", "POST"])
def sandbox_checkout(request, reference):
    r = _reservation(reference)
    if not sandbox_gateway_active() or not r.sandbox:
        raise Http404("The sandbox gateway is not enabled")
    if request.method == "POST":
        try:
            if request.POST.get("action") == "approve":
                services.sandbox_approve(reservation=r)
                return redirect("reservations:success", reference=r.reference)
            services.sandbox_decline(reservation=r)
            return redirect("reservations:cancelled", reference=r.reference)
        except ApplicationError as exc:
            messages.error(request, public_message(exc))
    return render(request, "reservations/sandbox_checkout.html", {"reservation": r, "puppy": r.puppy})


def checkout_success(request, reference):
    """The buyer's return from Checkout. Shows the reservation as the database has it; while a Stripe
    deposit still waits for its webhook, asks Stripe for the session server-side and confirms through the
    webhook's own handler (`reservation_confirm_from_return`). The query string's `session_id` is only
    a hint for which session to read, used when we stored none."""
    r = _reservation(reference)
    try:
        r = services.reservation_confirm_from_return(
            reservation=r, session_id=request.GET.get("session_id", "")[:255]) or r
    except (ProviderError, ApplicationError):  # Stripe unreachable: the page still shows "processing"
        logger.warning("success page of %s could not read the checkout session", r.reference, exc_info=True)
    return render(request, "reservations/checkout_success.html", {
        "reservation": r, "returned": selectors.reservation_returned_payment(r.pk),
        "balance_text": format_money(r.puppy.price - r.deposit_amount, r.currency)
        if r.puppy.price > r.deposit_amount else ""})


@require_http_methods(["GET", "POST"])
def checkout_cancelled(request, reference):
    """Where the buyer lands after a declined or cancelled payment. The page says what the database
    says: a reservation that is paid after all (the webhook came first) is shown as paid, with its
    success page. "Release my reservation now" (POST) releases only a pending hold
    (`reservation_cancel` leaves every other state alone) and says so when nothing changed."""
    r = _reservation(reference)
    if request.method == "POST":
        before = r.status
        r = services.reservation_cancel(reservation_id=r.pk, reason="buyer released the reservation")
        if before == Reservation.Status.PENDING and r.status == Reservation.Status.CANCELLED:
            messages.info(request, "Your reservation was released.")
            return redirect("reservations:detail", slug=r.puppy.slug)
        if r.status == Reservation.Status.PAID:
            messages.info(request, f"Reservation {r.reference} is paid, so it was not released: nothing changed.")
            return redirect("reservations:success", reference=r.reference)
        messages.info(request, f"Reservation {r.reference} is already {r.get_status_display().lower()}: "
                               "nothing changed.")
        return redirect("reservations:cancelled", reference=r.reference)
    entry = (request.session.get(SESSION_HOLDS) or {}).get(str(r.puppy_id))
    own = isinstance(entry, dict) and entry.get("reference") == r.reference
    r.puppy.refresh_from_db(fields=["status"])
    return render(request, "reservations/checkout_cancelled.html", {
        "reservation": r,
        # Try again: the same checkout while the hold lasts (this browser's link), else a new
        # reservation from the puppy's page while it is still available, with the details kept.
        "checkout_url": entry.get("checkout_url", "") if own and r.status == Reservation.Status.PENDING else "",
        "retry_url": (f"{reverse('reservations:detail', args=[r.puppy.slug])}"
                      f"{'?retry=' + r.reference if own else ''}#reserve")
        if r.status != Reservation.Status.PENDING and r.puppy.status == Puppy.Status.AVAILABLE else ""})


def paypal_return(request, reference):
    r = _reservation(reference)
    order_id = request.GET.get("token", "")
    if order_id and order_id == r.checkout_id:
        try:
            services.reservation_paypal_capture(order_id=order_id)
        except HoldLapsed as exc:  # not captured: nothing was taken
            messages.error(request, public_message(exc))
            return redirect("reservations:detail", slug=r.puppy.slug)
        except ApplicationError as exc:
            messages.error(request, f"PayPal could not complete the payment: {public_message(exc)}")
            return redirect("reservations:cancelled", reference=r.reference)
    return redirect("reservations:success", reference=r.reference)
