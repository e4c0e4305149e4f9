"""Email attachments: notify() keeps a storage reference on the row; the email channel reads the file at each send."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import TestCase
from django.utils import timezone

from notifications.delivery import notification_deliver, notification_resend
from notifications.models import NotificationLog
from notifications.services import Attachment, notify
from notifications.tasks import send_notification
from tests.factories import CustomerFactory
from tests.notifications.contexts import CONTEXTS

pytestmark = pytest.mark.django_db

CSV = b"date,amount\n2026-12-01,499.00\n"
CTX = {**CONTEXTS["payment_received"], "receipt_number": "RCT-2026-00042", "receipt_attached": True}


def _notify(customer, attachments, key="k-1", channels=None):
    with TestCase.captureOnCommitCallbacks(execute=False):  # sending is driven by the test
        return notify(event="payment_received", customer=customer, context=CTX, idempotency_key=key,
                      attachments=attachments, channels=channels)


def test_storage_path_is_kept_as_a_reference_and_read_at_send_time():
    path = default_storage.save("receipts/2026/12/RCT-2026-00042.pdf", ContentFile(b"%PDF-1.7 receipt"))
    customer = CustomerFactory(email="thandi@example.co.za")

    (log,) = _notify(customer, [Attachment(filename="RCT-2026-00042.pdf", path=path, mimetype="application/pdf")])
    assert log.attachments == [{"filename": "RCT-2026-00042.pdf", "path": path, "mimetype": "application/pdf"}]

    assert send_notification(log.pk) == "sent"
    (message,) = mail.outbox
    assert message.attachments == [("RCT-2026-00042.pdf", b"%PDF-1.7 receipt", "application/pdf")]
    assert message.body == log.body and "Receipt: RCT-2026-00042" in message.body


def test_bytes_are_stored_once_and_a_duplicate_key_stores_nothing():
    customer = CustomerFactory()

    (log,) = _notify(customer, [("statement.csv", CSV, "text/csv")])
    again = _notify(customer, [("statement.csv", CSV, "text/csv")])

    assert again == []
    (item,) = NotificationLog.objects.get(pk=log.pk).attachments
    assert item["path"] == f"notifications/attachments/{log.pk}/statement.csv"
    assert default_storage.open(item["path"]).read() == CSV
    assert default_storage.listdir(f"notifications/attachments/{log.pk}")[1] == ["statement.csv"]
    assert send_notification(log.pk) == "sent"
    # Django hands text/* attachments to the backend decoded
    assert mail.outbox[0].attachments == [("statement.csv", CSV.decode(), "text/csv")]


def test_only_the_email_row_carries_the_attachment():
    customer = CustomerFactory(phone="+27821234567")
    customer.billing_account.notify_sms = True
    customer.billing_account.save(update_fields=["notify_sms"])

    logs = _notify(customer, [("statement.csv", CSV, "text/csv")], channels=["email", "sms"])

    assert {log.channel: len(log.attachments) for log in logs} == {"email": 1, "sms": 0}


@pytest.mark.parametrize("bad", [
    ("../etc/passwd", b"x", "text/plain"),
    ("", b"x", "text/plain"),
    ("receipt.pdf", b"x", "pdf"),
    ("receipt.pdf", None, "application/pdf"),
])
def test_a_malformed_attachment_is_a_developer_error_and_writes_nothing(bad):
    with pytest.raises(ValueError):
        _notify(CustomerFactory(), [bad])
    assert NotificationLog.objects.count() == 0


def test_an_unreadable_attachment_is_retried_and_sent_once_the_file_is_there():
    customer = CustomerFactory()
    (log,) = _notify(customer, [Attachment(filename="late.pdf", path="receipts/late.pdf",
                                           mimetype="application/pdf")])

    assert send_notification(log.pk) == "retrying"
    log.refresh_from_db()
    assert log.error.startswith("RetryableProviderError: attachment 'receipts/late.pdf' could not be read")
    assert mail.outbox == []

    default_storage.save("receipts/late.pdf", ContentFile(b"%PDF late"))
    log = notification_deliver(log_id=log.pk, now=timezone.now() + timedelta(hours=2))

    assert (log.status, log.attempts) == ("sent", 2)
    assert mail.outbox[0].attachments == [("late.pdf", b"%PDF late", "application/pdf")]


def test_a_resent_failed_row_keeps_its_attachment():
    path = default_storage.save("receipts/RCT-2026-00043.pdf", ContentFile(b"%PDF 43"))
    (log,) = _notify(CustomerFactory(), [Attachment(filename="RCT-2026-00043.pdf", path=path,
                                                    mimetype="application/pdf")])
    NotificationLog.objects.filter(pk=log.pk).update(status="failed", attempts=5, error="gave up")

    with TestCase.captureOnCommitCallbacks(execute=False):
        notification_resend(log=log, actor="ops@circletel.co.za")
    assert send_notification(log.pk) == "sent"

    assert mail.outbox[0].attachments == [("RCT-2026-00043.pdf", b"%PDF 43", "application/pdf")]


def test_notify_without_attachments_is_unchanged():
    (log,) = _notify(CustomerFactory(), None)
    assert log.attachments == []
    assert send_notification(log.pk) == "sent"
    assert mail.outbox[0].attachments == [] and mail.outbox[0].body == log.body
    assert Decimal(log.context["amount"]) == Decimal("1500.00")
