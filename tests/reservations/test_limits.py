"""Issue 19, item 6: rate limits and caps on holds for `POST /api/reservations/` and
`/puppies/<slug>/reserve` (reservations/services/limits.py). Every refusal has its positive control."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reservations.models import Reservation
from tests.reservations.factories import PuppyFactory

FORM = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567", "provider": "stripe"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings, no_providers):
    """Small limits for the tests; the sandbox gateway stands in for the providers."""
    settings.RESERVATIONS = {**settings.RESERVATIONS, "RATE_WINDOW_SECONDS": 600, "RATE_LIMIT_PER_IP": 3,
                             "RATE_LIMIT_PER_EMAIL": 2, "MAX_HOLDS_PER_EMAIL": 1, "MAX_HOLDS_PER_IP": 2}
    return settings.RESERVATIONS


def _api(client, slug, addr="41.13.1.2", **form):
    return client.post("/api/reservations/", {**FORM, **form, "puppy": slug}, content_type="application/json",
                       REMOTE_ADDR=addr)


def _page(client, slug, addr="41.13.1.2", **form):
    return client.post(f"/puppies/{slug}/reserve", {**FORM, **form}, REMOTE_ADDR=addr)


def test_api_per_address_rate_limit_answers_429_with_a_reason(client, limits):
    pups = [PuppyFactory().slug for _ in range(4)]
    answers = [_api(client, slug, email=f"buyer{i}@example.co.za") for i, slug in enumerate(pups)]

    assert [a.status_code for a in answers] == [201, 201, 409, 429]  # the 3rd: the address's hold cap (2)
    limited = answers[3]
    assert limited.json()["extra"] == {"code": "rate_limited", "limit": "ip", "retry_after": 600}
    assert "Too many reservation attempts from this network address" in limited.json()["message"]
    assert limited["Retry-After"] == "600"
    assert Reservation.objects.count() == 2
    # Positive control: another address is not limited.
    assert _api(client, PuppyFactory().slug, addr="41.13.9.9", email="other@example.co.za").status_code == 201


def test_api_per_email_rate_limit(client, limits):
    limits["MAX_HOLDS_PER_EMAIL"] = 0  # the cap off: only the rate counts here
    answers = [_api(client, PuppyFactory().slug, addr=f"41.13.2.{i}", email="Same@Example.co.za")
               for i in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["extra"]["limit"] == "email"
    # Positive control: another email from a fresh address goes through.
    assert _api(client, PuppyFactory().slug, addr="41.13.2.9", email="new@example.co.za").status_code == 201


def test_a_buyer_may_hold_only_so_many_unpaid_reservations(client, limits):
    limits["RATE_LIMIT_PER_EMAIL"] = 10  # only the cap counts here
    first = _api(client, PuppyFactory().slug, addr="41.13.3.1")
    second = _api(client, PuppyFactory().slug, addr="41.13.3.2")

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["extra"] == {"code": "hold_limit_reached", "limit": "email", "max_holds": 1}
    assert "already have 1 unpaid reservation on hold" in second.json()["message"]
    assert Reservation.objects.count() == 1

    # Paying (or the hold lapsing) frees the place: positive control.
    Reservation.objects.update(status="paid")
    assert _api(client, PuppyFactory().slug, addr="41.13.3.3").status_code == 201
    Reservation.objects.filter(status="pending").update(expires_at=timezone.now() - timedelta(minutes=1))
    assert _api(client, PuppyFactory().slug, addr="41.13.3.4").status_code == 201


def test_the_page_is_limited_too_with_a_clear_message(client, limits):
    pups = [PuppyFactory() for _ in range(4)]
    answers = [_page(client, p.slug, email=f"buyer{i}@example.co.za") for i, p in enumerate(pups)]

    assert [a.status_code for a in answers[:2]] == [302, 302]
    assert answers[2].status_code == 409
    assert "unpaid reservations on hold from your network" in answers[2].content.decode()
    assert answers[3].status_code == 429 and answers[3]["Retry-After"] == "600"
    assert "Too many reservation attempts" in answers[3].content.decode()
    assert Reservation.objects.count() == 2


def test_the_page_caps_holds_per_email(client, limits):
    assert _page(client, PuppyFactory().slug, addr="41.13.4.1").status_code == 302
    refused = _page(client, PuppyFactory().slug, addr="41.13.4.2", email="THANDI@example.co.za")
    assert refused.status_code == 409 and "Pay or release one" in refused.content.decode()


def test_the_reservation_stores_client_ip_behind_trusted_proxies(client, limits, settings):
    """TRUSTED_PROXY_COUNT=1: the address the proxy appended is the client's, and it is what is stored and
    counted (not REMOTE_ADDR, the proxy's own)."""
    settings.TRUSTED_PROXY_COUNT = 1
    slug = PuppyFactory().slug
    created = client.post("/api/reservations/", {**FORM, "puppy": slug}, content_type="application/json",
                          REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 41.13.5.5")
    assert created.status_code == 201
    assert Reservation.objects.get().client_ip == "41.13.5.5"
    # Many buyers behind the same proxy are told apart: their holds count per client address.
    for i in range(2):
        ok = client.post("/api/reservations/", {**FORM, "puppy": PuppyFactory().slug, "email": f"b{i}@example.co.za"},
                         content_type="application/json", REMOTE_ADDR="10.0.0.5",
                         HTTP_X_FORWARDED_FOR=f"41.13.6.{i}")
        assert ok.status_code == 201


def test_the_page_stores_client_ip_too(client, limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client.post(f"/puppies/{PuppyFactory().slug}/reserve", FORM, REMOTE_ADDR="10.0.0.5",
                HTTP_X_FORWARDED_FOR="41.13.7.7")
    assert Reservation.objects.get().client_ip == "41.13.7.7"


def test_zero_turns_a_limit_off(client, limits):
    limits.update(RATE_LIMIT_PER_IP=0, RATE_LIMIT_PER_EMAIL=0, MAX_HOLDS_PER_EMAIL=0, MAX_HOLDS_PER_IP=0)
    assert all(_api(client, PuppyFactory().slug).status_code == 201 for _ in range(5))


def test_bad_input_is_still_a_400_not_a_limit(client, limits):
    bad = _api(client, PuppyFactory().slug, email="not-an-email")
    assert bad.status_code == 400 and "email" in bad.json()["extra"]["fields"]
