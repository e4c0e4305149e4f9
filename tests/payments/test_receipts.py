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


@pytest.mark.django_db
def test_a_refund_queues_the_receipt_again_and_the_new_copy_shows_it(queued, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    from payments.services import receipts
    from payments.services.refunds import refund_create
    from payments.tasks import refresh_receipt

    payment = _complete(CustomerFactory(), "RF1")
    receipt = receipt_issue(payment_id=payment.pk)
    name, before = receipt.pdf.name, receipt.pdf.open("rb").read()
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(payment=payment, amount=Decimal("50.00"), reason="Goodwill", actor="ops")  # NetCash: manual

    assert ("payments.tasks.refresh_receipt", (payment.pk,)) in queued
    rendered = []
    real = receipts.render_to_string
    monkeypatch.setattr(receipts, "render_to_string", lambda *a, **k: rendered.append(real(*a, **k)) or rendered[-1])

    assert refresh_receipt(payment.pk) == receipt.number

    receipt.refresh_from_db()
    assert receipt.pdf.name == name  # the same file: the receipt email's attachment reference stays valid
    assert receipt.pdf.open("rb").read() != before
    assert "Refunded since: R 50.00." in rendered[0]


@pytest.mark.django_db
def test_refreshing_a_payment_without_a_receipt_does_nothing():
    from payments.tasks import refresh_receipt

    payment = _complete(CustomerFactory(), "RF2")
    assert refresh_receipt(payment.pk) is None
    assert not Receipt.objects.exists()
