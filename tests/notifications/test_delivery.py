import json
from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.utils import timezone

from circletel.models import JobRun
from notifications.delivery import (
    MAX_ATTEMPTS,
    NotificationError,
    backoff_for,
    notification_claim,
    notification_deliver,
    notification_resend,
)
from notifications.models import NotificationLog
from notifications.tasks import retry_failed, send_notification
from tests.notifications.factories import NotificationLogFactory

pytestmark = pytest.mark.django_db

BULKSMS_URL = "https://api.bulksms.com/v1/messages"
CLICKATELL_URL = "https://platform.clickatell.com/v1/message"


def test_send_email_with_text_and_html_alternatives():
    log = NotificationLogFactory(recipient="thandi@example.co.za")

    assert send_notification(log.pk) == "sent"

    (message,) = mail.outbox
    assert message.subject == "Your Fibre 50/50 service is back on"
    assert message.to == ["thandi@example.co.za"]
    assert message.from_email == "CircleTel Billing <billing@circletel.co.za>"
    assert message.reply_to == ["accounts@circletel.co.za"]
    assert message.body == log.body
    assert message.alternatives == [("<!doctype html><p>Good news</p>", "text/html")]
    log.refresh_from_db()
    assert (log.status, log.attempts, log.error, log.next_attempt_at) == ("sent", 1, "", None)
    assert log.sent_at is not None


def test_send_twice_sends_once():
    log = NotificationLogFactory()

    assert send_notification(log.pk) == "sent"
    assert send_notification(log.pk) == "not claimed"
    assert len(mail.outbox) == 1


def test_row_claimed_by_another_worker_is_not_sent():
    log = NotificationLogFactory()
    assert notification_claim(log_id=log.pk) is not None  # worker A holds the lease

    assert notification_deliver(log_id=log.pk) is None  # worker B
    assert mail.outbox == []
    log.refresh_from_db()
    assert (log.status, log.attempts) == ("sending", 1)


def test_missing_row_does_not_raise():
    assert send_notification(999999) == "not claimed"


@responses.activate
def test_resend_via_anymail_captures_message_id(settings):
    settings.EMAIL_BACKEND = "notifications.clients.resend_backend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test_key"}
    responses.post("https://api.resend.com/emails", json={"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    log = NotificationLogFactory(recipient="thandi@example.co.za")

    assert send_notification(log.pk) == "sent"

    log.refresh_from_db()
    assert log.provider_message_id == "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"
    sent = json.loads(responses.calls[0].request.body)
    assert sent["to"] == ["thandi@example.co.za"]
    assert sent["subject"] == log.subject
    assert sent["text"] == log.body
    assert sent["html"] == log.html_body
    assert responses.calls[0].request.headers["Authorization"] == "Bearer re_test_key"


@pytest.mark.parametrize(("status", "expected"), [(500, "retrying"), (422, "failed")])
@responses.activate
def test_anymail_errors_split_retryable_and_permanent(settings, status, expected):
    settings.EMAIL_BACKEND = "notifications.clients.resend_backend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test_key"}
    responses.post("https://api.resend.com/emails", status=status, json={"message": "nope"})
    log = NotificationLogFactory()

    assert send_notification(log.pk) == expected
    log.refresh_from_db()
    assert log.provider_message_id == "" and log.sent_at is None


def sms_log(**kwargs):
    return NotificationLogFactory(channel="sms", recipient="+27821234567", subject="", html_body="",
                                  body="CircleTel: your Fibre 50/50 service is active again.", **kwargs)


@responses.activate
def test_bulksms_success_records_message_id(sms_bulksms):
    responses.post(BULKSMS_URL, status=201, json=[{"id": "4404112221", "type": "SENT", "to": "+27821234567",
                                                   "status": {"id": "ACCEPTED.null", "type": "ACCEPTED"}}])
    log = sms_log()

    assert send_notification(log.pk) == "sent"

    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Basic dG9rLWlkOnRvay1zZWNyZXQ="  # tok-id:tok-secret
    assert request.url == f"{BULKSMS_URL}?auto-unicode=true&deduplication-id={log.pk}"
    assert json.loads(request.body) == {"to": "+27821234567",
                                        "body": "CircleTel: your Fibre 50/50 service is active again."}
    log.refresh_from_db()
    assert (log.status, log.provider_message_id) == ("sent", "4404112221")


@responses.activate
def test_bulksms_5xx_schedules_retry_with_backoff(sms_bulksms):
    responses.post(BULKSMS_URL, status=503, body="Service Unavailable")
    log = sms_log()
    before = timezone.now()

    assert send_notification(log.pk) == "retrying"

    log.refresh_from_db()
    assert log.attempts == 1
    assert before + timedelta(minutes=2) <= log.next_attempt_at <= timezone.now() + timedelta(minutes=2)
    assert log.error.startswith("RetryableProviderError: bulksms is unavailable (503)")
    assert log.provider_message_id == "" and log.sent_at is None


@responses.activate
def test_bulksms_4xx_fails_and_is_not_retried(sms_bulksms):
    responses.post(BULKSMS_URL, status=403, json={"title": "Insufficient credits"})
    log = sms_log()

    assert send_notification(log.pk) == "failed"
    _age(log, hours=1)
    retry_failed()

    assert len(responses.calls) == 1
    log.refresh_from_db()
    assert (log.status, log.attempts, log.next_attempt_at) == ("failed", 1, None)
    assert "bulksms rejected the request (403)" in log.error


@responses.activate
def test_bulksms_failed_status_in_201_is_permanent(sms_bulksms):
    responses.post(BULKSMS_URL, status=201, json=[{"id": "1", "status": {"id": "FAILED.BLOCKED", "type": "FAILED"}}])
    log = sms_log()

    assert send_notification(log.pk) == "failed"
    log.refresh_from_db()
    assert "FAILED.BLOCKED" in log.error


@responses.activate
def test_clickatell_success_records_api_message_id(sms_clickatell):
    responses.post(CLICKATELL_URL, status=202, json={
        "messages": [{"apiMessageId": "77fb29998253415fa5d66971d519d362", "accepted": True, "to": "27821234567",
                      "error": None}], "error": None})
    log = sms_log()

    assert send_notification(log.pk) == "sent"

    request = responses.calls[0].request
    assert request.headers["Authorization"] == "ck-test-key"
    assert json.loads(request.body) == {"messages": [{"channel": "sms", "to": "27821234567",
                                                      "content": "CircleTel: your Fibre 50/50 service is active again."}]}
    log.refresh_from_db()
    assert (log.status, log.provider_message_id) == ("sent", "77fb29998253415fa5d66971d519d362")


@pytest.mark.parametrize(("status", "body", "expected", "error"), [
    (503, {"error": "Service unavailable"}, "retrying", "clickatell is unavailable (503)"),
    (401, {"error": {"code": 1, "description": "Invalid or missing API key"}}, "failed",
     "clickatell rejected the request (401)"),
    (202, {"messages": [{"apiMessageId": "", "accepted": False, "to": "27821234567",
                         "error": {"code": 105, "description": "Invalid destination address"}}], "error": None},
     "failed", "Invalid destination address"),
])
@responses.activate
def test_clickatell_failures(sms_clickatell, status, body, expected, error):
    responses.post(CLICKATELL_URL, status=status, json=body)
    log = sms_log()

    assert send_notification(log.pk) == expected
    log.refresh_from_db()
    assert error in log.error
    assert log.provider_message_id == ""
    assert (log.next_attempt_at is not None) == (expected == "retrying")


def test_console_sms_provider_logs_and_marks_sent(settings, caplog):
    settings.SMS_PROVIDER = "console"
    log = sms_log()

    with caplog.at_level("INFO", logger="notifications.sms"):
        assert send_notification(log.pk) == "sent"

    assert "SMS to +27821234567: CircleTel: your Fibre 50/50 service is active again." in caplog.text
    log.refresh_from_db()
    assert log.provider_message_id.startswith("console-")


def test_unknown_sms_provider_fails_with_configuration_error(settings):
    settings.SMS_PROVIDER = "pigeon"
    log = sms_log()

    assert send_notification(log.pk) == "failed"
    log.refresh_from_db()
    assert log.error == "configuration: SMS_PROVIDER must be console, bulksms or clickatell, not 'pigeon'"


def test_missing_provider_credentials_fail_clearly(settings):
    settings.SMS_PROVIDER = "bulksms"
    settings.BULKSMS = {"TOKEN_ID": "", "TOKEN_SECRET": ""}
    log = sms_log()

    assert send_notification(log.pk) == "failed"
    log.refresh_from_db()
    assert "BULKSMS_TOKEN_ID" in log.error


@responses.activate
def test_gives_up_after_max_attempts(sms_bulksms):
    responses.post(BULKSMS_URL, status=500)
    log = sms_log()

    for attempt in range(1, MAX_ATTEMPTS + 1):
        NotificationLog.objects.filter(pk=log.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        expected = "failed" if attempt == MAX_ATTEMPTS else "retrying"
        assert send_notification(log.pk) == expected

    log.refresh_from_db()
    assert (log.status, log.attempts, log.next_attempt_at) == ("failed", 5, None)
    assert log.error.startswith("gave up after 5 attempts: RetryableProviderError")
    assert len(responses.calls) == 5
    assert send_notification(log.pk) == "not claimed"


def test_backoff_doubles_and_is_capped():
    assert [backoff_for(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (2, 4, 8, 16)]
    assert backoff_for(10) == timedelta(hours=1)


@responses.activate
def test_rate_limit_honours_retry_after(sms_bulksms):
    responses.post(BULKSMS_URL, status=429, headers={"Retry-After": "900"})
    log = sms_log()
    before = timezone.now()

    assert send_notification(log.pk) == "retrying"
    log.refresh_from_db()
    assert log.next_attempt_at >= before + timedelta(seconds=900)


# --- Ops webhook --------------------------------------------------------------------------------------

def ops_log(kind):
    return NotificationLogFactory(
        channel="ops", recipient=kind, event="ops_alert", subject="Debit order run failed", html_body="",
        body="Debit order run failed\nNetCash rejected the batch file.\nrun: DO-2026-12-01",
        context={"title": "Debit order run failed", "message": "NetCash rejected the batch file.",
                 "fields": {"run": "DO-2026-12-01"}},
    )


@pytest.mark.parametrize(("kind", "payload"), [
    ("slack", {"text": "Debit order run failed\nNetCash rejected the batch file.\nrun: DO-2026-12-01"}),
    ("discord", {"content": "Debit order run failed\nNetCash rejected the batch file.\nrun: DO-2026-12-01"}),
    ("json", {"event": "ops_alert", "title": "Debit order run failed",
              "message": "NetCash rejected the batch file.\nrun: DO-2026-12-01", "fields": {"run": "DO-2026-12-01"}}),
])
@responses.activate
def test_ops_webhook_shapes(settings, kind, payload):
    settings.OPS_WEBHOOK_URL = "https://hooks.example.net/ops"
    settings.OPS_WEBHOOK_KIND = kind
    responses.post("https://hooks.example.net/ops", status=200, body="ok")
    log = ops_log(kind)

    assert send_notification(log.pk) == "sent"
    assert json.loads(responses.calls[0].request.body) == payload


@responses.activate
def test_ops_webhook_5xx_retries(settings):
    settings.OPS_WEBHOOK_URL = "https://hooks.example.net/ops"
    responses.post("https://hooks.example.net/ops", status=502)
    log = ops_log("slack")

    assert send_notification(log.pk) == "retrying"


def test_discord_content_is_cut_to_2000_characters():
    from notifications.clients.ops_webhook import build_payload

    payload = build_payload(kind="discord", event="ops_alert", title="t", message="x" * 2500)
    assert len(payload["content"]) == 2000 and payload["content"].endswith("...")


# --- Retry sweep -------------------------------------------------------------------------------------

def _age(log, **delta):
    NotificationLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - timedelta(**delta))


def test_retry_failed_picks_up_stale_queued_row_only():
    stale = NotificationLogFactory(recipient="stale@example.co.za")
    _age(stale, minutes=10)
    fresh = NotificationLogFactory(recipient="fresh@example.co.za")

    run_id = retry_failed()

    assert [m.to for m in mail.outbox] == [["stale@example.co.za"]]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("sent", "queued")
    run = JobRun.objects.get(pk=run_id)
    assert (run.job_name, run.status, run.processed_count, run.failed_count) == (
        "notifications_retry", "succeeded", 1, 0)


def test_retry_failed_sends_due_retries_and_waits_for_the_rest():
    due = NotificationLogFactory(recipient="due@example.co.za", status="retrying", attempts=2,
                                 next_attempt_at=timezone.now() - timedelta(minutes=1))
    later = NotificationLogFactory(recipient="later@example.co.za", status="retrying", attempts=2,
                                   next_attempt_at=timezone.now() + timedelta(minutes=5))

    retry_failed()

    assert [m.to for m in mail.outbox] == [["due@example.co.za"]]
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.attempts) == ("sent", 3)
    assert (later.status, later.attempts) == ("retrying", 2)


def test_retry_failed_recovers_a_dead_claim_and_gives_up_on_an_exhausted_one():
    dead = NotificationLogFactory(recipient="dead@example.co.za", status="sending", attempts=1,
                                  next_attempt_at=timezone.now() - timedelta(minutes=1))
    exhausted = NotificationLogFactory(recipient="x@example.co.za", status="sending", attempts=MAX_ATTEMPTS,
                                       next_attempt_at=timezone.now() - timedelta(minutes=1))
    live = NotificationLogFactory(recipient="live@example.co.za", status="sending", attempts=1,
                                  next_attempt_at=timezone.now() + timedelta(minutes=9))

    run_id = retry_failed()

    assert [m.to for m in mail.outbox] == [["dead@example.co.za"]]
    for row in (dead, exhausted, live):
        row.refresh_from_db()
    assert (dead.status, dead.attempts) == ("sent", 2)
    assert exhausted.status == "failed" and "interrupted" in exhausted.error
    assert live.status == "sending"
    assert JobRun.objects.get(pk=run_id).status == "partial"


# --- Resend -----------------------------------------------------------------------------------------

def test_resend_requeues_a_failed_row_and_sends_after_commit(django_capture_on_commit_callbacks, inline_tasks):
    log = NotificationLogFactory(status="failed", attempts=5, error="bulksms rejected the request (403)")

    with django_capture_on_commit_callbacks(execute=True):
        notification_resend(log=log, actor="ops@circletel.co.za")

    log.refresh_from_db()
    assert (log.status, log.attempts) == ("sent", 1)
    assert inline_tasks == [("notifications.tasks.send_notification", (log.pk,))]
    assert len(mail.outbox) == 1


def test_resend_refuses_a_row_that_is_not_failed(django_capture_on_commit_callbacks, queued):
    log = NotificationLogFactory(status="sent", attempts=1)

    with pytest.raises(NotificationError, match="only failed notifications can be resent"), \
            django_capture_on_commit_callbacks(execute=True):
        notification_resend(log=log)

    log.refresh_from_db()
    assert (log.status, log.attempts) == ("sent", 1)
    assert queued == []
