"""Issue 19, item 5: conversions per destination, once each. A row per destination with its outcome;
a GA4 failure does not stop Meta; a re-run or retry never sends a destination that was sent."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from reservations.models import ConversionSend, Reservation
from reservations.services import reservation_send_conversions, reservations_retry_conversions
from reservations.services.conversions import MAX_ATTEMPTS
from reservations.tasks import send_conversions
from tests.reservations.test_analytics import configured, paid  # noqa: F401 - fixtures

GA4 = "https://www.google-analytics.com/mp/collect"
META = "https://graph.facebook.com/v21.0/1234567890/events"

pytestmark = pytest.mark.usefixtures("configured")


def _urls() -> list[str]:
    return [c.request.url.split("?")[0] for c in responses.calls]


def _rows(r) -> dict:
    return {row.destination: (row.status, row.attempts) for row in ConversionSend.objects.filter(reservation=r)}


@responses.activate
def test_a_ga4_failure_does_not_stop_meta_and_the_retry_sends_only_ga4(paid):  # noqa: F811
    ga = responses.post(GA4, status=500)
    meta = responses.post(META, json={"events_received": 1})

    assert send_conversions(paid.pk) == ["meta"]

    assert (ga.call_count, meta.call_count) == (1, 1)
    assert _rows(paid) == {"ga4": ("failed", 1), "meta": ("sent", 1)}
    assert "500" in ConversionSend.objects.get(destination="ga4").last_error
    assert Reservation.objects.get(pk=paid.pk).conversions_sent_at is None

    responses.replace(responses.POST, GA4, status=204)
    assert send_conversions(paid.pk) == ["ga4"]  # the task re-run: GA4 only, Meta not again

    assert _urls() == [GA4, META, GA4]
    assert _rows(paid) == {"ga4": ("sent", 2), "meta": ("sent", 1)}
    assert Reservation.objects.get(pk=paid.pk).conversions_sent_at is not None
    assert send_conversions(paid.pk) == []  # and nothing more, ever
    assert len(responses.calls) == 3


@responses.activate
def test_both_sent_once_positive_control(paid):  # noqa: F811
    responses.post(GA4, status=204)
    responses.post(META, json={"events_received": 1})
    assert reservation_send_conversions(reservation_id=paid.pk) == ["ga4", "meta"]
    assert reservation_send_conversions(reservation_id=paid.pk) == []
    assert _rows(paid) == {"ga4": ("sent", 1), "meta": ("sent", 1)}
    assert len(responses.calls) == 2


@responses.activate
def test_a_meta_failure_does_not_undo_or_resend_ga4(paid):  # noqa: F811
    responses.post(GA4, status=204)
    responses.post(META, status=503, json={"error": {"message": "down"}})
    assert reservation_send_conversions(reservation_id=paid.pk) == ["ga4"]
    responses.replace(responses.POST, META, json={"events_received": 1})
    assert reservation_send_conversions(reservation_id=paid.pk) == ["meta"]
    assert _urls() == [GA4, META, META]


@responses.activate
def test_a_destination_being_sent_by_another_worker_is_not_sent_again(paid):  # noqa: F811
    responses.post(GA4, status=204)
    responses.post(META, json={"events_received": 1})
    ConversionSend.objects.create(reservation=paid, destination="ga4", status="sending", attempts=1,
                                  claimed_at=timezone.now())

    assert reservation_send_conversions(reservation_id=paid.pk) == ["meta"]
    assert _urls() == [META]


@responses.activate
def test_the_sweep_retries_failed_destinations_after_a_backoff_and_gives_up(paid):  # noqa: F811
    responses.post(GA4, status=500)
    responses.post(META, json={"events_received": 1})
    reservation_send_conversions(reservation_id=paid.pk)

    assert reservations_retry_conversions() == 0  # too soon: backoff
    assert len(responses.calls) == 2
    for attempt in range(2, MAX_ATTEMPTS + 1):
        ConversionSend.objects.filter(destination="ga4").update(updated_at=timezone.now() - timedelta(hours=2))
        reservations_retry_conversions()
        assert _rows(paid)["ga4"][1] == attempt
    assert _rows(paid)["ga4"] == ("gave_up", MAX_ATTEMPTS)
    ConversionSend.objects.filter(destination="ga4").update(updated_at=timezone.now() - timedelta(hours=2))
    assert reservations_retry_conversions() == 0
    ga_calls = [c for c in responses.calls if c.request.url.startswith(GA4)]
    meta_calls = [c for c in responses.calls if c.request.url.startswith(META)]
    assert (len(ga_calls), len(meta_calls)) == (MAX_ATTEMPTS, 1)


def test_the_admin_shows_a_row_per_destination(admin_client, paid):  # noqa: F811
    ConversionSend.objects.create(reservation=paid, destination="ga4", status="failed", attempts=1,
                                  last_error="ga4 answered 500")
    page = admin_client.get(f"/admin/reservations/reservation/{paid.pk}/change/").content.decode()
    assert "ga4 answered 500" in page and "Google Analytics 4" in page
