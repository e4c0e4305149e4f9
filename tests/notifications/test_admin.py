import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from notifications.models import NotificationLog
from tests.notifications.factories import NotificationLogFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_notificationlog_changelist"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser(username="ops@circletel.co.za", email="ops@circletel.co.za",
                                                     password="correct-horse-battery")
    client.force_login(user)
    return client


def test_changelist_filters_and_search(staff_client):
    NotificationLogFactory(recipient="thandi@example.co.za", idempotency_key="invoice_issued:1", status="failed")
    NotificationLogFactory(recipient="sipho@example.co.za", channel="sms")

    response = staff_client.get(reverse(CHANGELIST), {"q": "invoice_issued:1"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("recipient", flat=True)) == ["thandi@example.co.za"]

    response = staff_client.get(reverse(CHANGELIST), {"channel": "sms", "status": "queued"})
    assert list(response.context["cl"].result_list.values_list("recipient", flat=True)) == ["sipho@example.co.za"]


def test_log_is_read_only(staff_client):
    log = NotificationLogFactory()

    assert staff_client.get(reverse("admin:notifications_notificationlog_add")).status_code == 403
    page = staff_client.get(reverse("admin:notifications_notificationlog_change", args=[log.pk]))
    assert page.status_code == 200
    assert b"sandbox srcdoc=" in page.content
    staff_client.post(reverse("admin:notifications_notificationlog_change", args=[log.pk]), {"recipient": "x@y.z"})
    log.refresh_from_db()
    assert log.recipient != "x@y.z"


def test_resend_action_requeues_failed_rows_and_reports_others(staff_client, django_capture_on_commit_callbacks,
                                                               inline_tasks):
    failed = NotificationLogFactory(status="failed", attempts=5, error="boom")
    sent = NotificationLogFactory(status="sent", attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse(CHANGELIST), {"action": "resend_failed",
                                                           "_selected_action": [failed.pk, sent.pk]}, follow=True)

    texts = [str(m) for m in response.context["messages"]]
    assert f"notification {sent.pk} is not failed; only failed notifications can be resent" in texts
    assert "1 notification(s) queued to send again." in texts
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 1)
    assert failed.error == ""
    assert NotificationLog.objects.get(pk=sent.pk).attempts == 1
    assert len(mail.outbox) == 1


def test_a_one_time_link_is_hidden_in_the_admin_and_scrubbed_once_sent(staff_client):
    from notifications.delivery import SCRUBBED, notification_deliver

    link = "https://billing.circletel.co.za/accounts/signup/confirm/eyJlbWFpbCI6/"
    secret = NotificationLogFactory(event="signup_confirm", body=f"choose your password here:\n{link}",
                                    html_body=f'<a href="{link}">Choose</a>', context={"confirm_url": link})
    plain = NotificationLogFactory(event="service_reactivated")

    page = staff_client.get(reverse("admin:notifications_notificationlog_change", args=[secret.pk]))
    assert page.status_code == 200 and link.encode() not in page.content
    assert b"Hidden: this message carries a one-time link" in page.content

    notification_deliver(log_id=secret.pk)
    notification_deliver(log_id=plain.pk)

    (sent_secret, sent_plain) = mail.outbox
    assert link in sent_secret.body  # the recipient gets the link
    secret.refresh_from_db()
    assert (secret.status, secret.body, secret.html_body, secret.context) == ("sent", SCRUBBED, "", {})
    # Positive control: an ordinary message keeps its body for support, and the admin shows it.
    plain.refresh_from_db()
    assert plain.status == "sent" and plain.body == sent_plain.body
    shown = staff_client.get(reverse("admin:notifications_notificationlog_change", args=[plain.pk]))
    assert plain.body.splitlines()[0].encode() in shown.content
