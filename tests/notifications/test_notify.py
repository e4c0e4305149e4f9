from decimal import Decimal

import pytest
from django.core import mail

from notifications.models import NotificationLog
from notifications.rendering import MissingContextError
from notifications.services import notify, notify_ops
from tests.factories import CustomerFactory
from tests.notifications.contexts import CONTEXTS

pytestmark = pytest.mark.django_db

INVOICE_CTX = {k: v for k, v in CONTEXTS["invoice_issued"].items() if k not in ("customer_name", "account_number")}


def test_notify_writes_one_rendered_row_per_channel_and_enqueues_after_commit(
        django_capture_on_commit_callbacks, queued):
    customer = CustomerFactory(first_name="Thandi", last_name="Mokoena", account_number="CT-2026-00042")

    with django_capture_on_commit_callbacks(execute=True):
        logs = notify(event="invoice_issued", customer=customer, context=INVOICE_CTX, channels=("email", "sms"),
                      idempotency_key="invoice_issued:7")
        assert queued == []  # nothing before commit

    email, sms = logs
    assert (email.channel, email.recipient, email.status) == ("email", customer.email, "queued")
    assert (sms.channel, sms.recipient, sms.status) == ("sms", customer.phone, "queued")
    assert email.subject == "Invoice INV-2026-00123 from CircleTel (Pty) Ltd: R 1,034.85 due 8 December 2026"
    assert email.body.startswith("Hi Thandi Mokoena,\n\nYour invoice INV-2026-00123 is ready.\n\nAccount: CT-2026-00042")
    assert "R 1,034.85" in email.html_body and email.html_body.startswith("<!doctype html>")
    assert sms.html_body == "" and sms.subject == ""
    assert email.context["amount_due"] == "1034.85" and email.context["due_date"] == "2026-12-08"
    assert email.customer_id == customer.pk
    assert queued == [("notifications.tasks.send_notification", (email.pk,)),
                            ("notifications.tasks.send_notification", (sms.pk,))]


@pytest.mark.parametrize(("notify_email", "notify_sms", "expected"), [
    (True, True, ["email", "sms"]),
    (False, True, ["sms"]),
    (True, False, ["email"]),
    (False, False, []),
])
def test_preferences_are_honoured(notify_email, notify_sms, expected, django_capture_on_commit_callbacks,
                                  queued):
    customer = CustomerFactory()
    customer.billing_account.notify_email = notify_email
    customer.billing_account.notify_sms = notify_sms
    customer.billing_account.save()

    with django_capture_on_commit_callbacks(execute=True):
        logs = notify(event="invoice_issued", customer=customer, context=INVOICE_CTX, channels=("email", "sms"))

    assert [log.channel for log in logs] == expected
    assert sorted(NotificationLog.objects.values_list("channel", flat=True)) == expected
    assert len(queued) == len(expected)


def test_channel_without_recipient_is_skipped(django_capture_on_commit_callbacks, queued):
    customer = CustomerFactory(phone="")

    with django_capture_on_commit_callbacks(execute=True):
        logs = notify(event="invoice_issued", customer=customer, context=INVOICE_CTX, channels=("email", "sms"))

    assert [log.channel for log in logs] == ["email"]
    assert NotificationLog.objects.count() == 1


def test_same_idempotency_key_twice_writes_one_row_and_sends_once(django_capture_on_commit_callbacks, inline_tasks):
    customer = CustomerFactory()

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            notify(event="invoice_issued", customer=customer, context=INVOICE_CTX,
                   idempotency_key="invoice_issued:42")

    assert NotificationLog.objects.count() == 1
    assert len(inline_tasks) == 1
    assert len(mail.outbox) == 1
    assert NotificationLog.objects.get().status == "sent"


def test_bare_email_recipient_without_customer(django_capture_on_commit_callbacks, inline_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        (log,) = notify(event="deposit_new_owner", email="breeder@example.co.za", context=CONTEXTS["deposit_new_owner"])

    assert log.customer is None
    assert mail.outbox[0].to == ["breeder@example.co.za"]
    assert mail.outbox[0].subject == "New deposit: Pieter van der Merwe reserved Bella (Golden Retriever) (R 2,000.00)"


def test_missing_context_raises_and_writes_nothing(django_capture_on_commit_callbacks, queued):
    customer = CustomerFactory()

    with pytest.raises(MissingContextError), django_capture_on_commit_callbacks(execute=True):
        notify(event="payment_received", customer=customer, context={"amount": Decimal("10.00")})

    assert NotificationLog.objects.count() == 0
    assert queued == []


def test_delivery_failure_never_raises_into_the_caller(django_capture_on_commit_callbacks, inline_tasks,
                                                       sms_bulksms):
    import responses

    customer = CustomerFactory()
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.bulksms.com/v1/messages", status=503, body="down")
        with django_capture_on_commit_callbacks(execute=True):
            (log,) = notify(event="service_reactivated", customer=customer, channels=("sms",),
                            context={"package_name": "Fibre 50/50"})

    log.refresh_from_db()
    assert log.status == "retrying"
    assert log.attempts == 1
    assert "bulksms is unavailable (503)" in log.error


def test_lost_enqueue_never_raises_and_leaves_row_queued(django_capture_on_commit_callbacks, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        (log,) = notify(event="service_reactivated", customer=customer, context={"package_name": "Fibre 50/50"})

    log.refresh_from_db()
    assert (log.status, log.attempts) == ("queued", 0)
    assert mail.outbox == []


def test_customer_context_filled_but_caller_wins(django_capture_on_commit_callbacks, queued):
    customer = CustomerFactory(first_name="Sipho", last_name="Dlamini")

    with django_capture_on_commit_callbacks(execute=True):
        (log,) = notify(event="service_reactivated", customer=customer, context={"package_name": "LTE 100GB",
                                                                                  "customer_name": "Mr Dlamini"})

    assert log.body.startswith("Hi Mr Dlamini,")
    assert log.context["account_number"] == customer.account_number


def test_notify_ops_writes_webhook_and_email_rows(settings, django_capture_on_commit_callbacks, queued):
    settings.OPS_WEBHOOK_URL = "https://hooks.slack.example/T000/B000/XXX"
    settings.OPS_WEBHOOK_KIND = "slack"
    settings.OPS_EMAIL = "ops@circletel.co.za"

    with django_capture_on_commit_callbacks(execute=True):
        ops, email = notify_ops(event="ops_alert", context=CONTEXTS["ops_alert"], idempotency_key="alert:1")

    assert (ops.channel, ops.recipient, ops.subject) == ("ops", "slack", "[HIGH] Debit order run failed")
    assert ops.body == "[HIGH] Debit order run failed\nNetCash rejected the batch file.\nrun: DO-2026-12-01\nitems: 42"
    assert (email.channel, email.recipient) == ("email", "ops@circletel.co.za")
    assert len(queued) == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert notify_ops(event="ops_alert", context=CONTEXTS["ops_alert"], idempotency_key="alert:1") == []
    assert NotificationLog.objects.count() == 2


def test_notify_ops_without_webhook_url_only_emails(settings, django_capture_on_commit_callbacks, queued):
    settings.OPS_WEBHOOK_URL = ""

    with django_capture_on_commit_callbacks(execute=True):
        logs = notify_ops(event="zoho_sync_alert", context=CONTEXTS["zoho_sync_alert"])

    assert [log.channel for log in logs] == ["email"]
    assert logs[0].subject == "ZOHO sync: 4 failures, 12 pending"
