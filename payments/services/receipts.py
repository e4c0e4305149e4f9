"""Receipts: every completed payment gets one, numbered `RCT-YYYY-NNNNN`, with a stored PDF and one email.

`payment_complete` records `payments.tasks.issue_receipt(payment_id)` as a follow-up in its
transaction (`circletel.follow_ups`: rung after commit, rung again by the recovery sweep if lost);
`receipt_issue` is idempotent: the row is created once (unique per payment, number from the
gap-free `receipt` sequence, under the payment's row lock) and the PDF is rendered outside the
transaction and stored only when missing. A crash between the two leaves a receipt without a PDF,
which the next call (or the download endpoint) renders.

The receipt email (event `payment_received`, key `payment_received:{payment pk}`) is queued by
`receipt_issue` once the PDF exists: it names the receipt number and carries the PDF as an
attachment (a storage reference on the NotificationLog row, read at send time, so a delivery retry
attaches it again). The key makes it once per payment whichever path issues the receipt first
(the task, or a dashboard/API download that got there before it); `Receipt.emailed_at` records
when it was queued, so a re-run stops early.

After a refund (booked, or reversed when the provider failed it) the stored PDF is rendered again
on the documents queue (`receipt_refresh_queue`), so the download shows "Refunded since: R X" and
where the money now sits; the number stays, and the email already sent keeps the original copy.

PDF failure (decision): the payment stays completed and the customer is not left without a
receipt email. If rendering raises, the email is queued at once without the attachment (it names
the receipt number and links to the dashboard download, which renders the PDF on demand), and the
render error is raised again so the task shows as failed for ops. A later run renders the PDF but
never sends a second email.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst

from billing.models import BillingAccount
from circletel.follow_ups import follow_up
from circletel.money import payment_method_words
from circletel.sequences import format_number, next_value
from notifications.models import NotificationLog
from notifications.services import Attachment, notify
from payments.models import PaymentTransaction, Receipt

logger = logging.getLogger(__name__)
Status = PaymentTransaction.Status
RECEIPTED = (Status.COMPLETED, Status.PARTIALLY_REFUNDED, Status.REFUNDED)
SEQUENCE = "receipt"


def receipt_create(*, payment_id: int) -> Receipt | None:
    """The payment's receipt row (created once). None if the payment was never completed."""
    existing = Receipt.objects.filter(payment_id=payment_id).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        payment = PaymentTransaction.objects.select_for_update().get(pk=payment_id)
        if payment.status not in RECEIPTED:
            return None
        existing = Receipt.objects.filter(payment_id=payment_id).first()
        if existing is not None:
            return existing
        year = (payment.completed_at or timezone.now()).astimezone(timezone.get_current_timezone()).year
        return Receipt.objects.create(payment=payment, number=format_number("RCT", year, next_value(SEQUENCE)))


def _method_in_words(payment: PaymentTransaction) -> str:
    """How the payment was made: the provider's own words ("Card (Stripe)"), else the method's."""
    return payment.provider_method or capfirst(payment_method_words(payment.method))


def receipt_pdf_bytes(*, receipt: Receipt) -> bytes:
    from weasyprint import HTML

    payment = receipt.payment
    allocations = list(payment.allocations.select_related("invoice").order_by("invoice_id"))
    allocated = sum((a.amount for a in allocations), Decimal("0.00"))
    credit = payment.amount - allocated - payment.amount_refunded
    html = render_to_string("payments/receipt_pdf.html", {
        "receipt": receipt, "payment": payment, "customer": payment.customer, "company": settings.COMPANY,
        "allocations": allocations, "credit": credit if credit > 0 else None,
        "amount": payment.amount, "method": _method_in_words(payment), "refunded": payment.amount_refunded,
    })
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def receipt_render_pdf(*, receipt: Receipt, force: bool = False) -> Receipt:
    """Render and store the PDF when missing (or always, with `force`). A re-render replaces the file
    under the same name, so every reference to it (the receipt email's attachment) stays valid."""
    if receipt.pdf and not force:
        return receipt
    data = receipt_pdf_bytes(receipt=receipt)
    if receipt.pdf:
        storage, name = receipt.pdf.storage, receipt.pdf.name
        storage.delete(name)
        stored = storage.save(name, ContentFile(data))
        receipt.pdf.name = stored
    else:
        receipt.pdf.save(f"{receipt.number}.pdf", ContentFile(data), save=False)
    Receipt.objects.filter(pk=receipt.pk).update(pdf=receipt.pdf.name)
    return receipt


def receipt_email_context(*, receipt: Receipt) -> dict:
    """The `payment_received` context: the payment, the receipt number and the balance now."""
    payment = receipt.payment
    customer = payment.customer
    invoices = sorted({a.invoice.number for a in payment.allocations.select_related("invoice")})
    if not invoices and payment.invoice_id:
        invoices = [payment.invoice.number]
    account = getattr(customer, "billing_account", None)
    return {
        "customer_name": f"{customer.first_name} {customer.last_name}".strip(),
        "account_number": customer.account_number,
        # The method code: the email's `payment_method` filter words it ("eft" -> "EFT (bank transfer)").
        "amount": payment.amount, "method": payment.method, "reference": payment.reference,
        "invoice_number": ", ".join(invoices),
        # The balance when the receipt is issued (seconds after the payment, normally).
        "balance": account.balance if account is not None else Decimal("0.00"),
        "paid_at": payment.completed_at,
        "receipt_number": receipt.number,
        "receipt_attached": bool(receipt.pdf),
        "receipt_url": settings.SITE_URL + reverse("dashboard:payment-receipt", args=[payment.pk]),
    }


def receipt_email(*, receipt: Receipt) -> NotificationLog | None:
    """Queue the receipt email once per payment (with the PDF when it exists). Returns the new log
    row, or None when it was queued before, or the customer gets no email."""
    if receipt.emailed_at is not None:
        return None
    payment = receipt.payment
    customer = payment.customer
    account = BillingAccount.objects.filter(customer_id=customer.pk).first()
    if account is not None:
        customer.billing_account = account  # notify() reads the email preference from it
    attachments = [Attachment(filename=f"{receipt.number}.pdf", path=receipt.pdf.name, mimetype="application/pdf")
                   ] if receipt.pdf else []
    with transaction.atomic():
        logs = notify(event="payment_received", customer=customer, idempotency_key=f"payment_received:{payment.pk}",
                      context=receipt_email_context(receipt=receipt), attachments=attachments)
        if logs:
            Receipt.objects.filter(pk=receipt.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
    return logs[0] if logs else None


def receipt_issue(*, payment_id: int) -> Receipt | None:
    """Create the receipt and its PDF if missing and queue its email once (safe to run any number of times)."""
    receipt = receipt_create(payment_id=payment_id)
    if receipt is None:
        logger.info("payment %s is not completed; no receipt", payment_id)
        return None
    receipt = Receipt.objects.select_related("payment__customer", "payment__invoice").get(pk=receipt.pk)
    if receipt.pdf and receipt.emailed_at is not None:
        return receipt
    try:
        receipt_render_pdf(receipt=receipt)
    except Exception:
        logger.exception("receipt %s: the PDF could not be rendered; emailing the receipt without it",
                         receipt.number)
        receipt_email(receipt=receipt)
        raise
    receipt_email(receipt=receipt)
    return receipt


SWEEP_AFTER = timedelta(minutes=10)  # the task normally runs seconds after the payment commits
SWEEP_WINDOW = timedelta(days=7)  # older gaps are left to staff (and to the download, which issues)
SWEEP_BATCH = 200


def receipts_issue_due(*, now=None, limit: int = SWEEP_BATCH, run=None) -> dict:
    """Safety net for a lost `issue_receipt` enqueue (the broker was down after the payment's commit):
    issue receipt, PDF and email for payments completed between SWEEP_WINDOW and SWEEP_AFTER ago that
    still lack the receipt, its PDF or (for customers who get email) its email. Bounded, idempotent.
    Scheduled every 15 minutes as `payments.tasks.issue_missing_receipts` (a JobRun per run).
    """
    now = now or timezone.now()
    due = (PaymentTransaction.objects.filter(status__in=RECEIPTED,
                                             completed_at__range=(now - SWEEP_WINDOW, now - SWEEP_AFTER))
           .filter(Q(receipt__isnull=True) | Q(receipt__pdf="")
                   | Q(receipt__emailed_at__isnull=True, customer__billing_account__notify_email=True))
           .order_by("completed_at", "pk"))
    counts = {"issued": 0, "failed": 0}
    for payment_id in list(due.values_list("pk", flat=True)[:limit]):
        try:
            receipt_issue(payment_id=payment_id)
        except Exception as exc:  # one bad PDF must not stop the sweep; the email went out without it
            counts["failed"] += 1
            if run is not None:
                run.fail_item(f"payment:{payment_id}", str(exc)[:200])
            continue
        counts["issued"] += 1
        if run is not None:
            run.processed += 1
    return counts


def receipt_queue(*, payment_id: int) -> None:
    """Record the receipt (issue, PDF, email) as a follow-up of the payment's transaction, on the
    documents queue (`payments.tasks.issue_receipt`, rung after commit). A lost task is rung again by
    the recovery sweep within a couple of minutes; `receipts_issue_due` stays as the deeper net."""
    follow_up("payments.tasks.issue_receipt", payment_id, queue=settings.Q_DOCUMENTS_QUEUE)


def receipt_refresh(*, payment_id: int) -> Receipt | None:
    """Render the stored receipt PDF again (after a refund). None when the payment has no receipt yet:
    it will be rendered with the refund when it is issued."""
    receipt = Receipt.objects.select_related("payment", "payment__customer").filter(payment_id=payment_id).first()
    if receipt is None:
        return None
    return receipt_render_pdf(receipt=receipt, force=True)


def receipt_refresh_queue(*, payment_id: int) -> None:
    """Record the receipt's re-render as a follow-up of a refund's booking or reversal (`payments.tasks.refresh_receipt`)."""
    follow_up("payments.tasks.refresh_receipt", payment_id, queue=settings.Q_DOCUMENTS_QUEUE)
