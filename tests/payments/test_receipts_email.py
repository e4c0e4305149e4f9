"""The receipt email: sent once per payment by the receipt task, naming the receipt number, with the PDF attached."""

import base64
import json
from decimal import Decimal

import pytest
import responses
from django.core import mail
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from notifications.delivery import notification_deliver
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Receipt
from payments.services import receipts
from payments.services.payments import payment_complete
from payments.services.receipts import receipt_issue
from payments.tasks import issue_receipt
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db


def _complete(customer, total="499.00", suffix="R1"):
    invoice = make_invoice(customer, total)
    payment = payment_complete(reference=f"{invoice.number}-{suffix}", amount=Decimal(total), customer=customer,
                               method="eft", provider="netcash", invoice=invoice)
    return payment, invoice


def _issue_and_send(payment_id):
    """Run the receipt task as the worker does; the email send (queued on commit) runs inline."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return issue_receipt(payment_id)


def _stored_pdf(receipt):
    with receipt.pdf.open("rb") as fh:
        return fh.read()


def test_receipt_email_names_the_number_and_carries_the_pdf():
    customer = CustomerFactory(first_name="Thandi", last_name="Mokoena", email="thandi@example.co.za")
    payment, invoice = _complete(customer)

    number = _issue_and_send(payment.pk)

    receipt = Receipt.objects.get(payment=payment)
    assert number == receipt.number and number.startswith("RCT-")
    (message,) = mail.outbox
    assert message.to == ["thandi@example.co.za"]
    assert message.subject == f"Receipt {number}: payment of R 499.00 received"
    assert f"Receipt: {number}\n" in message.body
    assert f"Reference: {payment.reference}\nInvoice: {invoice.number}\n" in message.body
    assert f"Your receipt {number} is attached as a PDF." in message.body
    assert number in message.alternatives[0][0]
    (attachment,) = message.attachments
    assert attachment == (f"{number}.pdf", _stored_pdf(receipt), "application/pdf")
    assert attachment[1].startswith(b"%PDF")
    # The log keeps a reference to the stored PDF, never its bytes
    log = NotificationLog.objects.get(event="payment_received")
    assert (log.status, log.idempotency_key) == ("sent", f"payment_received:{payment.pk}")
    assert log.attachments == [{"filename": f"{number}.pdf", "path": receipt.pdf.name, "mimetype": "application/pdf"}]
    assert "%PDF" not in json.dumps(log.context) and log.context["receipt_number"] == number
    assert receipt.emailed_at is not None


def test_running_the_receipt_task_again_sends_nothing_more():
    payment, _ = _complete(CustomerFactory())
    first = _issue_and_send(payment.pk)
    emailed_at = Receipt.objects.get(payment=payment).emailed_at

    # Re-runs: the task again, a dashboard download path, and a lost PDF re-rendered
    assert _issue_and_send(payment.pk) == first
    receipt_issue(payment_id=payment.pk)
    Receipt.objects.filter(payment=payment).update(pdf="")
    assert _issue_and_send(payment.pk) == first

    assert len(mail.outbox) == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    receipt = Receipt.objects.get(payment=payment)
    assert receipt.pdf.name and receipt.emailed_at == emailed_at


def test_receipt_email_waits_for_the_receipt_task(queued, django_capture_on_commit_callbacks):
    """The payment's transaction sends nothing: the email needs the receipt number and PDF."""
    with django_capture_on_commit_callbacks(execute=True):
        payment, _ = _complete(CustomerFactory())

    assert ("payments.tasks.issue_receipt", (payment.pk,)) in queued
    assert not NotificationLog.objects.filter(event="payment_received").exists()
    assert mail.outbox == []


@responses.activate
def test_the_attachment_survives_a_delivery_retry(settings):
    """First send: the provider answers 503 (retrying). The retry reads the PDF from storage again."""
    settings.EMAIL_BACKEND = "notifications.clients.resend_backend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test_key"}
    responses.post("https://api.resend.com/emails", status=503, json={"message": "unavailable"})
    responses.post("https://api.resend.com/emails", json={"id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"})
    payment, _ = _complete(CustomerFactory())

    number = _issue_and_send(payment.pk)
    log = NotificationLog.objects.get(event="payment_received")
    assert log.status == "retrying"

    later = timezone.now() + (log.next_attempt_at - timezone.now()) * 2
    log = notification_deliver(log_id=log.pk, now=later)

    assert (log.status, log.attempts, log.provider_message_id) == ("sent", 2, "4ef9a417-02e9-4d39-ad75-9611e0fcc33c")
    pdf = _stored_pdf(Receipt.objects.get(payment=payment))
    sent = [json.loads(call.request.body) for call in responses.calls]
    assert len(sent) == 2
    for body in sent:
        (attachment,) = body["attachments"]
        assert attachment["filename"] == f"{number}.pdf"
        assert attachment["content_type"] == "application/pdf"
        assert base64.b64decode(attachment["content"]) == pdf
        assert number in body["subject"]


def test_pdf_failure_still_sends_the_receipt_email_without_attachment_once(monkeypatch, settings):
    """Decision: the payment stays completed, the customer gets the receipt number and a download
    link at once, the task fails loudly; a later run renders the PDF and sends nothing more."""
    payment, _ = _complete(CustomerFactory())

    def broken(*, receipt):
        raise RuntimeError("weasyprint: no fonts")

    monkeypatch.setattr(receipts, "receipt_pdf_bytes", broken)
    with pytest.raises(RuntimeError, match="no fonts"):
        _issue_and_send(payment.pk)

    payment.refresh_from_db()
    receipt = Receipt.objects.get(payment=payment)
    assert payment.status == PaymentTransaction.Status.COMPLETED
    assert not receipt.pdf and receipt.emailed_at is not None
    (message,) = mail.outbox
    link = settings.SITE_URL + reverse("dashboard:payment-receipt", args=[payment.pk])
    assert message.attachments == []
    assert f"Download your receipt {receipt.number} (PDF) from your dashboard: {link}" in message.body
    assert NotificationLog.objects.get(event="payment_received").attachments == []

    monkeypatch.undo()
    assert _issue_and_send(payment.pk) == receipt.number
    assert Receipt.objects.get(payment=payment).pdf.name
    assert len(mail.outbox) == 1 and NotificationLog.objects.filter(event="payment_received").count() == 1


def test_no_receipt_email_when_the_customer_switched_email_off():
    customer = CustomerFactory()
    customer.billing_account.notify_email = False
    customer.billing_account.save(update_fields=["notify_email"])
    payment, _ = _complete(customer)

    number = _issue_and_send(payment.pk)

    assert number.startswith("RCT-") and Receipt.objects.get(payment=payment).pdf.name
    assert mail.outbox == [] and not NotificationLog.objects.filter(event="payment_received").exists()
    assert Receipt.objects.get(payment=payment).emailed_at is None


def test_the_sweep_issues_and_emails_receipts_whose_task_was_lost():
    from datetime import timedelta

    from payments.services.receipts import receipts_issue_due

    lost, _ = _complete(CustomerFactory(), suffix="LOST")  # no task ran: no receipt, no email
    fresh, _ = _complete(CustomerFactory(), suffix="FRESH")  # its task may still come
    old, _ = _complete(CustomerFactory(), suffix="OLD")  # outside the window: left to staff
    now = timezone.now()
    PaymentTransaction.objects.filter(pk=lost.pk).update(completed_at=now - timedelta(minutes=30))
    PaymentTransaction.objects.filter(pk=old.pk).update(completed_at=now - timedelta(days=10))

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert receipts_issue_due(now=now) == {"issued": 1, "failed": 0}
        assert receipts_issue_due(now=now) == {"issued": 0, "failed": 0}

    assert list(Receipt.objects.values_list("payment_id", flat=True)) == [lost.pk]
    (message,) = mail.outbox
    assert message.attachments[0][0] == f"{Receipt.objects.get().number}.pdf"


def test_a_download_before_the_task_sends_the_receipt_email_once(client):
    from tests.portal.factories import customer_with_login

    customer = customer_with_login()
    payment, _ = _complete(customer)
    client.force_login(customer.user)

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.get(reverse("dashboard:payment-receipt", args=[payment.pk]))
    number = _issue_and_send(payment.pk)  # the task arrives afterwards

    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    (message,) = mail.outbox
    assert message.to == [customer.email]
    assert message.attachments == [(f"{number}.pdf", response.content, "application/pdf")]


def test_the_scheduled_sweep_task_logs_a_job_run_and_is_declared():
    from datetime import timedelta

    from circletel.models import JobRun
    from payments.schedules import SCHEDULES
    from payments.tasks import issue_missing_receipts

    lost, _ = _complete(CustomerFactory(), suffix="TASK")
    PaymentTransaction.objects.filter(pk=lost.pk).update(completed_at=timezone.now() - timedelta(minutes=30))

    with TestCase.captureOnCommitCallbacks(execute=True):
        counts = issue_missing_receipts(triggered_by="test")

    run = JobRun.objects.get(job_name="issue_missing_receipts")
    assert counts == {"issued": 1, "failed": 0}
    assert (run.status, run.processed_count, run.details["issued"]) == ("succeeded", 1, 1)
    assert Receipt.objects.get().payment_id == lost.pk
    assert ("payments.tasks.issue_missing_receipts", "*/15 * * * *") in [(s.func, s.cron) for s in SCHEDULES]
