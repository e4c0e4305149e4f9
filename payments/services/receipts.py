"""Receipts: every completed payment gets one, numbered `RCT-YYYY-NNNNN`, with a stored PDF.

`payment_complete` queues `payments.tasks.issue_receipt(payment_id)` after its commit;
`receipt_issue` is idempotent: the row is created once (unique per payment, number from the
gap-free `receipt` sequence, under the payment's row lock) and the PDF is rendered outside the
transaction and stored only when missing. A crash between the two leaves a receipt without a PDF,
which the next call (or the download endpoint) renders.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from circletel.sequences import format_number, next_value
from payments.models import PaymentTransaction, Receipt
from payments.services.payments import format_rand, method_in_words

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


def receipt_pdf_bytes(*, receipt: Receipt) -> bytes:
    from weasyprint import HTML

    payment = receipt.payment
    allocations = list(payment.allocations.select_related("invoice").order_by("invoice_id"))
    allocated = sum((a.amount for a in allocations), Decimal("0.00"))
    for a in allocations:
        a.rand = format_rand(a.amount)
    credit = payment.amount - allocated - payment.amount_refunded
    html = render_to_string("payments/receipt_pdf.html", {
        "receipt": receipt, "payment": payment, "customer": payment.customer, "company": settings.COMPANY,
        "allocations": allocations, "credit": format_rand(credit) if credit > 0 else "",
        "amount": format_rand(payment.amount), "method": method_in_words(payment),
        "refunded": format_rand(payment.amount_refunded) if payment.amount_refunded else "",
    })
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def receipt_render_pdf(*, receipt: Receipt, force: bool = False) -> Receipt:
    if receipt.pdf and not force:
        return receipt
    data = receipt_pdf_bytes(receipt=receipt)
    receipt.pdf.save(f"{receipt.number}.pdf", ContentFile(data), save=False)
    Receipt.objects.filter(pk=receipt.pk).update(pdf=receipt.pdf.name)
    return receipt


def receipt_issue(*, payment_id: int) -> Receipt | None:
    """Create the receipt and its PDF if missing (safe to run any number of times)."""
    receipt = receipt_create(payment_id=payment_id)
    if receipt is None:
        logger.info("payment %s is not completed; no receipt", payment_id)
        return None
    receipt = Receipt.objects.select_related("payment__customer").get(pk=receipt.pk)
    return receipt_render_pdf(receipt=receipt)


def receipt_queue(*, payment_id: int) -> None:
    """Queue `payments.tasks.issue_receipt` (called from `payment_complete` on commit)."""
    from django_q.tasks import async_task

    try:
        async_task("payments.tasks.issue_receipt", payment_id)
    except Exception:  # the payment stands; the receipt sweep or the download endpoint catches up
        logger.exception("could not queue the receipt for payment %s", payment_id)
