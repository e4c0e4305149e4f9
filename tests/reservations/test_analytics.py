import json
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
import responses

from reservations.models import Reservation
from reservations.services import reservation_send_conversions
from tests.queueing import queued_work
from tests.reservations.factories import PuppyFactory, ReservationFactory


@pytest.fixture
def paid(db):
    puppy = PuppyFactory(name="Bella", breed="Beagle", slug="bella")
    return ReservationFactory(
        puppy=puppy, status="paid", external_payment_id="pi_1", amount_paid=Decimal("500.00"),
        buyer_email="Thandi@Example.co.za", buyer_phone="082 123 4567", client_ip="41.13.1.2",
        client_user_agent="Mozilla/5.0", ga_client_id="1234567890.1700000000",
        paid_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC))


@pytest.fixture
def configured(settings):
    settings.GA4 = {"MEASUREMENT_ID": "G-TEST123", "API_SECRET": "s3cret"}
    settings.META_CAPI = {"PIXEL_ID": "1234567890", "ACCESS_TOKEN": "EAAB"}
    settings.SITE_URL = "https://shop.example.co.za"


@responses.activate
def test_ga4_and_meta_payloads_are_exact(paid, configured):
    ga = responses.post("https://www.google-analytics.com/mp/collect", status=204)
    meta = responses.post("https://graph.facebook.com/v21.0/1234567890/events", json={"events_received": 1})

    assert reservation_send_conversions(reservation_id=paid.pk) == ["ga4", "meta"]

    ga_req = ga.calls[0].request
    assert "measurement_id=G-TEST123" in ga_req.url and "api_secret=s3cret" in ga_req.url
    assert json.loads(ga_req.body) == {
        "client_id": "1234567890.1700000000", "timestamp_micros": 1795426200000000,
        "events": [{"name": "purchase", "params": {
            "transaction_id": paid.reference, "value": 500.0, "currency": "ZAR", "engagement_time_msec": 1,
            "items": [{"item_id": f"puppy-{paid.puppy_id}", "item_name": "Deposit: Bella", "item_category": "Beagle",
                       "price": 500.0, "quantity": 1}]}}]}
    meta_req = meta.calls[0].request
    assert "access_token=EAAB" in meta_req.url
    import hashlib

    assert json.loads(meta_req.body) == {"data": [{
        "event_name": "Purchase", "event_time": 1795426200, "event_id": paid.reference, "action_source": "website",
        "event_source_url": "https://shop.example.co.za/puppies/bella/",
        "user_data": {"em": [hashlib.sha256(b"thandi@example.co.za").hexdigest()],
                      "ph": [hashlib.sha256(b"27821234567").hexdigest()],
                      "client_ip_address": "41.13.1.2", "client_user_agent": "Mozilla/5.0"},
        "custom_data": {"currency": "ZAR", "value": 500.0, "content_ids": [f"puppy-{paid.puppy_id}"],
                        "content_type": "product", "order_id": paid.reference}}]}
    assert b"thandi" not in meta_req.body and b"0821234567" not in meta_req.body

    assert reservation_send_conversions(reservation_id=paid.pk) == []  # once only
    assert len(responses.calls) == 2


@responses.activate
def test_both_off_unless_configured(paid, settings):
    settings.GA4 = {"MEASUREMENT_ID": "", "API_SECRET": ""}
    settings.META_CAPI = {"PIXEL_ID": "", "ACCESS_TOKEN": ""}
    assert reservation_send_conversions(reservation_id=paid.pk) == []
    assert len(responses.calls) == 0
    assert Reservation.objects.get(pk=paid.pk).conversions_sent_at is not None


@responses.activate
def test_unpaid_reservation_sends_nothing(db, configured):
    r = ReservationFactory()
    assert reservation_send_conversions(reservation_id=r.pk) == []
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_conversions_run_in_a_task_after_commit_not_in_the_webhook(configured, django_capture_on_commit_callbacks):
    from reservations.services import reservation_confirm_payment, reserve

    r = reserve(PuppyFactory().pk, name="T", email="t@example.co.za", phone="082 123 4567", provider="stripe")
    with django_capture_on_commit_callbacks(execute=False) as cbs:
        reservation_confirm_payment(reference=r.reference, provider="stripe", external_payment_id="pi_9",
                                    amount=Decimal("500.00"))
    assert len(responses.calls) == 0
    with mock.patch("django_q.tasks.async_task") as queued:
        for cb in cbs:
            cb()
    assert ("reservations.tasks.send_conversions", (r.pk,)) in queued_work(queued)  # a follow-up, rung on commit
    assert len(responses.calls) == 0
