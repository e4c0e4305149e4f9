"""Webhook health and alerts for every provider (moved from reservations, NetCash included)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from circletel.models import JobRun
from inbox.models import WebhookEvent
from notifications.models import NotificationLog


@pytest.mark.django_db
def test_webhook_health_ok_then_503_on_failures_and_backlog(client, settings):
    settings.WEBHOOK_HEALTH = {"MAX_FAILED_24H": 2, "MAX_BACKLOG_SECONDS": 600}
    WebhookEvent.objects.create(provider="stripe", event_id="evt_1", event_type="x", body="{}", status="processed")
    ok = client.get("/api/health/webhooks")
    assert ok.status_code == 200
    stripe = ok.json()["providers"]["stripe"]
    assert stripe["counts_24h"]["processed"] == 1 and stripe["oldest_unprocessed_age_seconds"] is None
    assert ok.json()["providers"]["paypal"]["last_received_at"] is None
    # Every provider an app registered handlers for is watched, NetCash included.
    assert set(ok.json()["providers"]) == {"netcash", "paypal", "stripe"}

    for i in range(2):
        WebhookEvent.objects.create(provider="stripe", event_id=f"evt_f{i}", event_type="x", body="{}", status="failed",
                                    error="ValueError: boom")
    old = WebhookEvent.objects.create(provider="paypal", event_id="WH-1", event_type="x", body="{}")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=20))

    bad = client.get("/api/health/webhooks")
    body = bad.json()
    assert bad.status_code == 503 and body["healthy"] is False
    assert body["providers"]["stripe"]["problems"] == ["2 failed events in 24 h (threshold 2)"]
    assert body["providers"]["paypal"]["oldest_unprocessed_age_seconds"] >= 1200


@pytest.mark.django_db
def test_health_alert_job_alerts_ops_once_per_hour_on_webhook_failures(settings):
    from inbox.tasks import webhook_health_alert

    settings.WEBHOOK_HEALTH = {"MAX_FAILED_24H": 1, "MAX_BACKLOG_SECONDS": 10**6}
    settings.OPS_EMAIL = "ops@example.co.za"
    WebhookEvent.objects.create(provider="stripe", event_id="evt_f", event_type="x", body="{}", status="failed",
                                error="ReservationError: boom")
    webhook_health_alert()
    webhook_health_alert()
    logs = NotificationLog.objects.filter(event="webhook_failures")
    assert [(n.recipient, n.idempotency_key[:24]) for n in logs] == [("ops@example.co.za", "webhook_failures:stripe:")]
    assert "ReservationError: boom" in logs[0].body
    assert JobRun.objects.filter(job_name="webhook_health_alert").first().details["alerted"] == ["stripe"]


@pytest.mark.django_db
def test_netcash_failures_alert_ops_too(settings):
    # Before the inbox, only Stripe and PayPal were watched (and only inside the reservation-expiry job).
    from inbox.tasks import webhook_health_alert

    settings.WEBHOOK_HEALTH = {"MAX_FAILED_24H": 1, "MAX_BACKLOG_SECONDS": 10**6}
    settings.OPS_EMAIL = "ops@example.co.za"
    assert webhook_health_alert() == []  # positive control: healthy, nobody alerted
    WebhookEvent.objects.create(provider="netcash", event_id="T-1:INV-2026-00001-ABC123", event_type="paynow.accepted",
                                body="x=1", status="failed", error="ValueError: boom")

    assert webhook_health_alert() == ["netcash"]
    assert NotificationLog.objects.filter(event="webhook_failures", idempotency_key__startswith="webhook_failures:netcash:").count() == 1


@pytest.mark.django_db
def test_the_reservation_expiry_job_no_longer_sends_webhook_alerts(settings):
    from reservations.tasks import expire_reservations_job

    settings.WEBHOOK_HEALTH = {"MAX_FAILED_24H": 1, "MAX_BACKLOG_SECONDS": 10**6}
    WebhookEvent.objects.create(provider="stripe", event_id="evt_f", event_type="x", body="{}", status="failed")
    expire_reservations_job()
    assert not NotificationLog.objects.filter(event="webhook_failures").exists()
    assert "webhook_alerts" not in JobRun.objects.get(job_name="expire_reservations").details
