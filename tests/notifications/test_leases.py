"""Issue 20: a send of a worker that died is retried after its lease (not 10 minutes), with the same
provider idempotency key, so Resend delivers it once; a live worker's send is never taken from it."""

import json
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from notifications.delivery import idempotency_key_for, notification_claim, notifications_recover
from notifications.models import NotificationLog
from tests.notifications.factories import NotificationLogFactory

pytestmark = pytest.mark.django_db
RESEND = "https://api.resend.com/emails"


@pytest.fixture
def resend(settings):
    settings.EMAIL_BACKEND = "notifications.clients.resend_backend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test_key"}


@responses.activate
def test_every_attempt_of_a_row_carries_the_same_idempotency_key(resend):
    responses.post(RESEND, status=503, json={"message": "busy"})
    responses.post(RESEND, json={"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    log = NotificationLogFactory()
    from notifications.tasks import send_notification

    assert send_notification(log.pk) == "retrying"
    NotificationLog.objects.filter(pk=log.pk).update(next_attempt_at=timezone.now())
    assert send_notification(log.pk) == "sent"
    keys = [call.request.headers["Idempotency-Key"] for call in responses.calls]
    assert keys == [f"circletel-notification/{log.pk}"] * 2 == [idempotency_key_for(log)] * 2
    assert json.loads(responses.calls[1].request.body)["to"] == [log.recipient]


@responses.activate
def test_anymails_own_backend_sends_no_key_which_is_why_ours_is_used(settings):
    settings.EMAIL_BACKEND = "anymail.backends.resend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test_key"}
    responses.post(RESEND, json={"id": "x"})
    from notifications.tasks import send_notification

    assert send_notification(NotificationLogFactory().pk) == "sent"
    assert "Idempotency-Key" not in responses.calls[0].request.headers
    from notifications.checks import email_idempotency_check

    assert [w.id for w in email_idempotency_check()] == ["notifications.W003"]
    settings.EMAIL_BACKEND = "notifications.clients.resend_backend.EmailBackend"
    assert email_idempotency_check() == []


@responses.activate
def test_a_send_of_a_dead_worker_is_retried_by_the_sweep_after_its_lease_and_a_live_one_is_not(resend):
    responses.post(RESEND, json={"id": "re-1"})
    dead, live = NotificationLogFactory(), NotificationLogFactory()
    assert notification_claim(log_id=dead.pk) and notification_claim(log_id=live.pk)
    NotificationLog.objects.filter(pk=dead.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    counts = notifications_recover()

    assert counts["sent"] == 1
    assert NotificationLog.objects.get(pk=dead.pk).status == "sent"
    assert NotificationLog.objects.get(pk=live.pk).status == "sending"
    assert [c.request.headers["Idempotency-Key"] for c in responses.calls] == [f"circletel-notification/{dead.pk}"]


def test_a_queued_row_whose_task_was_lost_is_sent_after_30_seconds_not_before(mailoutbox):
    young, lost = NotificationLogFactory(), NotificationLogFactory()
    NotificationLog.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    assert notifications_recover()["sent"] == 1
    assert [NotificationLog.objects.get(pk=p).status for p in (young.pk, lost.pk)] == ["queued", "sent"]
    assert len(mailoutbox) == 1
