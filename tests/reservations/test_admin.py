"""The reservations ops console: money as "R 1,234.56", readable labels, a view-only reservation page,
and cancel / refund actions that ask for a reason and say what happened to each row."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from reservations.models import Puppy, Reservation
from tests.reservations.factories import PuppyFactory, ReservationFactory

pytestmark = pytest.mark.django_db

RESERVATIONS = "/admin/reservations/reservation/"


def _cells(html: str, column: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(rf'<td class="field-{column}[^"]*"[^>]*>(.*?)</td>', html, re.S)]


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def _paid(puppy, **kwargs):
    return ReservationFactory(puppy=puppy, status="paid", amount_paid=puppy.deposit_amount,
                              external_payment_id=f"pi_sandbox_{puppy.slug}", sandbox=True, **kwargs)


def test_reservation_reads_reference_puppy_rand_and_status_label():
    puppy = PuppyFactory(name="Bella", price=Decimal("28000.00"), deposit_amount=Decimal("2000.00"))
    r = _paid(puppy, reference="RSV-2026-00002")
    assert str(r) == "RSV-2026-00002 Bella R 2,000.00 (paid)"
    r.status = Reservation.Status.PENDING
    assert str(r) == "RSV-2026-00002 Bella R 2,000.00 (pending payment)"


def test_changelists_and_summary_show_money_as_rand(admin_client):
    puppy = PuppyFactory(name="Bella", price=Decimal("28000.00"), deposit_amount=Decimal("2000.00"))
    _paid(puppy)

    puppies = admin_client.get("/admin/reservations/puppy/").content.decode()
    assert (_cells(puppies, "price_money"), _cells(puppies, "deposit_money")) == (["R 28,000.00"], ["R 2,000.00"])
    assert _cells(puppies, "deposits_paid") == ["R 2,000.00"]
    reservations = admin_client.get(RESERVATIONS).content.decode()
    assert _cells(reservations, "deposit_amount_money") == _cells(reservations, "amount_paid_money") == ["R 2,000.00"]
    summary = admin_client.get(f"/admin/reservations/puppy/{puppy.pk}/change/").content.decode()
    assert "deposits paid R 2,000.00, refunded R 0.00" in summary


def test_refund_state_filter_and_column_read_no_refund(admin_client):
    ReservationFactory()
    page = admin_client.get(RESERVATIONS).content.decode()
    assert '<a href="?refund_state__exact=">No refund</a>' in page
    assert _cells(page, "refund_state") == ["No refund"]


def test_reservation_page_is_view_only_with_money_as_rand(admin_client):
    r = _paid(PuppyFactory(deposit_amount=Decimal("1500.00")))
    url = f"{RESERVATIONS}{r.pk}/change/"

    page = admin_client.get(url).content.decode()

    assert 'name="_save"' not in page and "closelink" in page
    assert page.count('<div class="readonly">R 1,500.00</div>') == 2  # deposit and amount paid
    assert admin_client.post(url, {"buyer_name": "Someone else"}).status_code == 403
    assert Reservation.objects.get(pk=r.pk).buyer_name == "Thandi Nkosi"


def test_cancel_action_asks_for_a_reason_and_records_it(admin_client):
    puppy = PuppyFactory(name="Bella", status=Puppy.Status.RESERVED)
    pending = ReservationFactory(puppy=puppy)
    data = {"action": "cancel_pending", "_selected_action": [pending.pk]}

    confirm = admin_client.post(RESERVATIONS, data)
    no_reason = admin_client.post(RESERVATIONS, {**data, "apply": "1", "reason": ""})
    assert confirm.status_code == no_reason.status_code == 200
    assert "Cancel these pending reservations?" in confirm.content.decode()
    assert Reservation.objects.get(pk=pending.pk).status == "pending"  # nothing yet

    done = admin_client.post(RESERVATIONS, {**data, "apply": "1", "reason": "buyer changed their mind"})

    pending.refresh_from_db()
    assert done.status_code == 302
    assert (pending.status, pending.status_reason) == ("cancelled", "cancelled by admin: buyer changed their mind")
    assert Puppy.objects.get(pk=puppy.pk).status == "available"
    assert _messages(done) == [("success", f"{pending.reference} Bella R 500.00 (pending payment): "
                                           "cancelled; Bella can be reserved again")]


def _apply(admin_client, action: str, reservation, reason: str):
    """Confirm an admin action's reason form for one reservation (the second POST)."""
    return admin_client.post(RESERVATIONS, {"action": action, "_selected_action": [reservation.pk], "apply": "1",
                                            "reason": reason})


def test_cancel_action_refuses_a_paid_reservation_and_changes_nothing(admin_client):
    paid = _paid(PuppyFactory(name="Max"))
    response = _apply(admin_client, "cancel_pending", paid, "oops")
    paid.refresh_from_db()
    assert (paid.status, paid.status_reason) == ("paid", "")
    assert _messages(response) == [("error", f"{paid}: Only a pending reservation can be cancelled "
                                             "(this one is paid).")]


def test_refund_action_reports_what_happens_next(admin_client):
    paid = _paid(PuppyFactory(name="Max"))
    response = _apply(admin_client, "refund_deposit", paid, "litter cancelled")
    assert Reservation.objects.get(pk=paid.pk).refund_state == "requested"
    assert _messages(response) == [("success", f"{paid}: deposit refund requested; the sweep pays it back "
                                               "through the provider")]


def test_a_listing_priced_in_usd_reads_in_usd_and_can_be_filtered(admin_client):
    PuppyFactory(name="Bella", price=Decimal("12500.00"), deposit_amount=Decimal("500.00"))
    PuppyFactory(name="Milo", price=Decimal("950.00"), deposit_amount=Decimal("150.00"), currency="USD")

    usd = admin_client.get("/admin/reservations/puppy/", {"currency__exact": "USD"}).content.decode()

    assert (_cells(usd, "price_money"), _cells(usd, "deposit_money")) == (["USD 950.00"], ["USD 150.00"])
    everything = admin_client.get("/admin/reservations/puppy/").content.decode()
    assert sorted(_cells(everything, "price_money")) == ["R 12,500.00", "USD 950.00"]


def test_a_usd_reservation_reads_in_usd(admin_client):
    r = _paid(PuppyFactory(name="Milo", price=Decimal("950.00"), deposit_amount=Decimal("150.00"), currency="USD"),
              provider="paypal")
    assert str(r).endswith("Milo USD 150.00 (paid)")

    page = admin_client.get(RESERVATIONS, {"currency": "USD"}).content.decode()
    assert _cells(page, "deposit_amount_money") == _cells(page, "amount_paid_money") == ["USD 150.00"]
    view = admin_client.get(f"{RESERVATIONS}{r.pk}/change/").content.decode()
    assert view.count('<div class="readonly">USD 150.00</div>') == 2
