"""Receipts: one per completed payment, RCT numbers, PDF stored, queued after commit, idempotent."""

from decimal import Decimal

import pytest
from django.utils import timezone

from payments.models import PaymentTransaction, Receipt
from payments.services.payments import payment_complete
from payments.services.receipts import receipt_issue
from payments.tasks import issue_receipt
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice


def _complete(customer, suffix):
    invoice = make_invoice(customer, "199.00")
    return payment_complete(reference=f"{invoice.number}-{suffix}", amount=Decimal("199.00"), customer=customer,
                            method="eft", provider="netcash", invoice=invoice)


@pytest.mark.django_db
def test_payment_complete_queues_the_receipt_after_commit(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        payment = _complete(customer, "Q1")

    assert ("payments.tasks.issue_receipt", (payment.pk,)) in queued
    assert Receipt.objects.count() == 0  # nothing is rendered inside the payment's transaction


@pytest.mark.django_db
def test_issue_receipt_is_idempotent_and_numbers_are_sequential(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    first, second = _complete(customer, "A"), _complete(customer, "B")

    n1 = issue_receipt(first.pk)
    again = issue_receipt(first.pk)
    n2 = issue_receipt(second.pk)

    year = timezone.localtime(first.completed_at).year  # the number carries the local (SAST) year
    assert n1 == again
    assert int(n2.rsplit("-", 1)[1]) == int(n1.rsplit("-", 1)[1]) + 1
    assert n1.startswith(f"RCT-{year}-")
    receipt = Receipt.objects.get(payment=first)
    assert receipt.pdf.name.endswith(f"{n1}.pdf")
    with receipt.pdf.open("rb") as fh:
        assert fh.read(4) == b"%PDF"
    assert Receipt.objects.count() == 2


@pytest.mark.django_db
def test_no_receipt_for_a_payment_that_never_completed():
    customer = CustomerFactory()
    pending = PaymentTransaction.objects.create(customer=customer, amount=Decimal("10.00"), method="eft",
                                                provider="netcash", reference="PENDING-1", status="pending")

    assert issue_receipt(pending.pk) is None
    assert Receipt.objects.count() == 0


@pytest.mark.django_db
def test_a_receipt_without_pdf_is_rendered_on_the_next_call():
    customer = CustomerFactory()
    payment = _complete(customer, "R")
    receipt = receipt_issue(payment_id=payment.pk)
    Receipt.objects.filter(pk=receipt.pk).update(pdf="")

    again = receipt_issue(payment_id=payment.pk)

    assert again.number == receipt.number and again.pdf.name
