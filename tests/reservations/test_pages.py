from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from reservations import selectors
from reservations.models import Puppy, Reservation
from tests.reservations.factories import PuppyFactory, ReservationFactory

FORM = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}


@pytest.mark.django_db
def test_list_filters_by_breed_and_status_and_paginates(client):
    PuppyFactory(name="Bella", breed="Beagle")
    PuppyFactory(name="Rocky", breed="Boerboel", status=Puppy.Status.RESERVED)
    for i in range(13):
        PuppyFactory(name=f"Lab{i}", breed="Labrador Retriever")

    beagles = client.get("/puppies/", {"breed": "Beagle"})
    reserved = client.get("/puppies/", {"status": "reserved"})
    page2 = client.get("/puppies/", {"breed": "Labrador Retriever", "page": 2})

    assert [p.name for p in beagles.context["page"].object_list] == ["Bella"]
    assert [p.name for p in reserved.context["page"].object_list] == ["Rocky"]
    assert page2.context["page"].paginator.count == 13 and len(page2.context["page"].object_list) == 1
    assert "Page 2 of 2" in page2.content.decode()


@pytest.mark.django_db
def test_list_empty_state(client):
    response = client.get("/puppies/", {"breed": "Poodle"})
    assert "No puppies match these filters right now." in response.content.decode()


@pytest.mark.django_db
def test_detail_shows_reserve_buttons_only_while_available(client, no_providers):
    free = PuppyFactory(slug="bella", deposit_amount=Decimal("500.00"))
    taken = PuppyFactory(slug="rex", status=Puppy.Status.RESERVED)
    html = client.get("/puppies/bella/").content.decode()
    # Priced in rand: no PayPal (PayPal takes no ZAR; a USD listing offers it, see test_paypal_offer.py).
    assert "Reserve with card" in html and "Reserve with PayPal" not in html and "R 500.00" in html
    html = client.get("/puppies/rex/").content.decode()
    assert "Reserve with card" not in html and "is reserved by another family" in html
    assert free.pk != taken.pk


@pytest.mark.django_db
def test_reserve_redirects_to_sandbox_then_approve_pays(client, no_providers):
    puppy = PuppyFactory(slug="bella")
    response = client.post("/puppies/bella/reserve", FORM, HTTP_USER_AGENT="Mozilla/5.0 test",
                           HTTP_COOKIE="_ga=GA1.1.1234567890.1700000000")
    r = Reservation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"http://testserver/puppies/checkout/{r.reference}/sandbox/"
    assert (r.client_user_agent, r.ga_client_id, r.sandbox) == ("Mozilla/5.0 test", "1234567890.1700000000", True)

    page = client.get(response["Location"]).content.decode()
    assert "Pay deposit R 500.00" in page

    done = client.post(response["Location"], {"action": "approve"}, follow=True)
    r.refresh_from_db()
    assert r.status == "paid" and Puppy.objects.get(pk=puppy.pk).status == "reserved"
    assert "is confirmed" in done.content.decode()


@pytest.mark.django_db
def test_sandbox_decline_frees_the_puppy(client, no_providers):
    PuppyFactory(slug="bella")
    url = client.post("/puppies/bella/reserve", FORM)["Location"]
    client.post(url, {"action": "decline"})
    r = Reservation.objects.get()
    assert (r.status, r.puppy.status) == ("cancelled", "available")


@pytest.mark.django_db
def test_buyer_returning_to_the_puppy_is_told_it_is_their_reservation(client, no_providers):
    from django.test import Client

    PuppyFactory(slug="bella", name="Bella", deposit_amount=Decimal("500.00"))
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    r = Reservation.objects.get()

    mine = client.get("/puppies/bella/").content.decode()
    assert "You are reserving Bella:" in mine and f'href="{checkout}"' in mine
    assert "another family" not in mine and "Reserve with card" not in mine

    stranger = Client().get("/puppies/bella/").content.decode()  # another browser: not theirs
    # an unpaid hold reads "on hold until HH:MM" (local time), never "reserved by another family"
    until = timezone.localtime(r.expires_at).strftime("%H:%M")
    assert f"Bella is on hold until {until}" in stranger and "another family" not in stranger
    assert "You are reserving" not in stranger

    again = client.post("/puppies/bella/reserve", FORM)  # a second submit is not a conflict with themselves
    assert again.status_code == 409 and "You are reserving Bella:" in again.content.decode()
    assert "reserved by someone else" not in again.content.decode() and Reservation.objects.count() == 1

    client.post(checkout, {"action": "approve"})
    paid = client.get("/puppies/bella/").content.decode()
    assert "You reserved Bella: your R 500.00 deposit is confirmed" in paid and r.reference in paid


@pytest.mark.django_db
def test_a_remembered_hold_that_ended_no_longer_counts(client, no_providers):
    PuppyFactory(slug="bella", name="Bella")
    checkout = client.post("/puppies/bella/reserve", FORM)["Location"]
    client.post(checkout, {"action": "decline"})  # released: Bella is available again
    assert "Reserve with card" in client.get("/puppies/bella/").content.decode()
    ReservationFactory(puppy=Puppy.objects.get(slug="bella"))  # someone else holds her now
    Puppy.objects.filter(slug="bella").update(status=Puppy.Status.RESERVED)
    html = client.get("/puppies/bella/").content.decode()
    assert "is on hold until" in html and "You are reserving" not in html


@pytest.mark.django_db
def test_reserve_conflict_is_a_clear_409(client, no_providers):
    ReservationFactory(puppy=PuppyFactory(slug="bella", status=Puppy.Status.RESERVED))
    response = client.post("/puppies/bella/reserve", FORM)
    assert response.status_code == 409
    assert "just been reserved by someone else" in response.content.decode()
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
def test_reserve_invalid_input_rerenders_with_errors(client, no_providers):
    PuppyFactory(slug="bella")
    response = client.post("/puppies/bella/reserve", {**FORM, "email": "nope"})
    assert response.status_code == 400 and "Enter a valid email address." in response.content.decode()
    assert Reservation.objects.count() == 0 and Puppy.objects.get().status == "available"


@pytest.mark.django_db
def test_api_reserve_201_then_409(client, no_providers):
    PuppyFactory(slug="bella")
    first = client.post("/api/reservations/", {**FORM, "puppy": "bella"}, content_type="application/json")
    second = client.post("/api/reservations/", {**FORM, "puppy": "bella"}, content_type="application/json")
    r = Reservation.objects.get()
    assert first.status_code == 201
    assert first.json()["checkout_url"] == f"http://testserver/puppies/checkout/{r.reference}/sandbox/"
    assert (second.status_code, second.json()) == (
        409, {"message": "Sorry, this puppy has just been reserved by someone else.",
              "extra": {"code": "race_condition_lost"}})


@pytest.mark.django_db
def test_cancelled_page_can_release_the_hold(client, no_providers):
    r = ReservationFactory()
    client.post(f"/puppies/checkout/{r.reference}/cancelled/")
    r.refresh_from_db()
    assert (r.status, r.puppy.status) == ("cancelled", "available")


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    import io

    from reservations.demo import seed_demo

    seed_demo(io.StringIO())
    snapshot = list(Puppy.objects.order_by("slug").values_list("slug", "status", "price", "deposit_amount"))
    out = io.StringIO()
    seed_demo(out)
    assert list(Puppy.objects.order_by("slug").values_list("slug", "status", "price", "deposit_amount")) == snapshot
    assert len(snapshot) == 7 and Reservation.objects.count() == 1
    assert sorted(s for _, s, _, _ in snapshot) == ["available"] * 5 + ["reserved", "sold"]
    assert "0 puppies created, 7 listed (1 reserved, 1 sold, 1 priced outside rand" in out.getvalue()
    # The demo can show PayPal: one available listing is priced in a currency PayPal takes (ADR 0014).
    usd = Puppy.objects.get(currency="USD")
    assert usd.status == "available"
    assert selectors.deposit_provider_offered("paypal", currency=usd.currency)


@pytest.mark.django_db
def test_admin_pages_and_mark_sold_action(admin_client):
    puppy = PuppyFactory(name="Bella")
    ReservationFactory(puppy=PuppyFactory(), status="expired")
    assert admin_client.get("/admin/reservations/puppy/").status_code == 200
    assert admin_client.get("/admin/reservations/reservation/").status_code == 200
    assert "0 reservation(s)" in admin_client.get(f"/admin/reservations/puppy/{puppy.pk}/change/").content.decode()
    admin_client.post("/admin/reservations/puppy/", {"action": "mark_sold", "_selected_action": [puppy.pk]})
    assert Puppy.objects.get(pk=puppy.pk).status == "sold"


@pytest.mark.django_db
@responses.activate
def test_reserve_with_stripe_configured_redirects_to_checkout(client, stripe_settings):
    PuppyFactory(slug="bella", deposit_amount=Decimal("1500.00"))
    call = responses.post("https://api.stripe.com/v1/checkout/sessions", json={
        "id": "cs_test_b1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_b1",
        "status": "open", "payment_status": "unpaid", "amount_total": 150000, "currency": "zar", "metadata": {}})

    response = client.post("/puppies/bella/reserve", FORM)

    r = Reservation.objects.get()
    assert response["Location"] == "https://checkout.stripe.com/c/pay/cs_test_b1"
    assert (r.checkout_id, r.sandbox) == ("cs_test_b1", False)
    sent = call.calls[0].request.body
    assert f"client_reference_id={r.reference}" in sent and "[unit_amount]=150000" in sent
    assert f"success_url=http%3A%2F%2Ftestserver%2Fpuppies%2Fcheckout%2F{r.reference}%2Fsuccess%2F" in sent


@pytest.mark.django_db
@responses.activate
def test_provider_failure_at_checkout_frees_the_puppy(client, stripe_settings):
    PuppyFactory(slug="bella")
    responses.post("https://api.stripe.com/v1/checkout/sessions", status=400,
                   json={"error": {"type": "invalid_request_error", "message": "Invalid currency"}})
    response = client.post("/puppies/bella/reserve", FORM, follow=True)
    r = Reservation.objects.get()
    assert (r.status, r.puppy.status) == ("cancelled", "available")
    assert "We could not start the payment" in response.content.decode()


@pytest.mark.django_db
def test_admin_refund_action_asks_for_confirmation_and_a_reason(admin_client):
    r = ReservationFactory(status="paid", external_payment_id="pi_sandbox_A", sandbox=True,
                           amount_paid=Decimal("500.00"))
    url = "/admin/reservations/reservation/"
    confirm = admin_client.post(url, {"action": "refund_deposit", "_selected_action": [r.pk]})
    assert confirm.status_code == 200 and "Refund these deposits?" in confirm.content.decode()
    assert Reservation.objects.get(pk=r.pk).refund_state == ""

    admin_client.post(url, {"action": "refund_deposit", "_selected_action": [r.pk], "apply": "1",
                            "reason": "litter cancelled"})
    r.refresh_from_db()
    assert r.refund_state == "requested" and r.status_reason.startswith("refund requested: litter cancelled")


@pytest.mark.django_db
def test_admin_refuses_a_deposit_above_the_price(admin_client):
    response = admin_client.post("/admin/reservations/puppy/add/", {
        "name": "Bella", "slug": "bella", "breed": "Beagle", "sex": "female", "date_of_birth": "2026-09-01",
        "price": "1000.00", "deposit_amount": "1000.01", "photos": "[]", "description": ""})
    assert response.status_code == 200
    assert "The deposit may not exceed the price." in response.content.decode()
    assert Puppy.objects.count() == 0
