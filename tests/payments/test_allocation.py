from decimal import Decimal

import pytest

from billing.models import BillingAccount, Invoice, LedgerEntry
from billing.services.ledger import ledger_balance, ledger_post
from notifications.models import NotificationLog
from payments.errors import PaymentError
from payments.models import PaymentAllocation, PaymentTransaction
from payments.services.payments import payment_complete, payment_fail
from payments.tasks import issue_receipt
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db

D = Decimal


def _issue(customer, total, **kw):
    inv = make_invoice(customer, total, **kw)
    ledger_post(customer=customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=inv.total,
                reference=f"invoice:{inv.pk}", description=inv.number, invoice=inv)
    return inv


def _pay(customer, amount, invoice=None, ref="PAY-1"):
    return payment_complete(reference=ref, amount=D(amount), customer=customer, method="eft", provider="manual",
                            invoice=invoice)


def test_partial_payment_leaves_invoice_partial():
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    payment = _pay(customer, "200.00", inv)
    inv.refresh_from_db()
    assert (inv.status, inv.amount_paid, inv.amount_due) == (Invoice.Status.PARTIAL, D("200.00"), D("299.00"))
    assert payment.status == PaymentTransaction.Status.COMPLETED
    assert BillingAccount.objects.get(customer=customer).balance == D("299.00")
    assert ledger_balance(customer_id=customer.pk) == D("299.00")
    assert LedgerEntry.objects.get(reference=f"payment:{payment.pk}").amount == D("-200.00")


def test_exact_payment_marks_invoice_paid_and_queues_receipt(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    with django_capture_on_commit_callbacks(execute=True):
        payment = _pay(customer, "499.00", inv)
    inv.refresh_from_db()
    assert (inv.status, inv.amount_due) == (Invoice.Status.PAID, D("0.00"))
    assert BillingAccount.objects.get(customer=customer).balance == D("0.00")
    # The receipt email is the receipt task's (after commit, with the PDF): nothing sent yet.
    assert [args for func, args in queued if func == "payments.tasks.issue_receipt"] == [(payment.pk,)]
    assert not NotificationLog.objects.filter(event="payment_received").exists()
    issue_receipt(payment.pk)
    log = NotificationLog.objects.get(event="payment_received")
    assert log.idempotency_key == f"payment_received:{payment.pk}"
    assert log.context["receipt_number"] == payment.receipt.number
    assert log.context["reference"] == "PAY-1"
    assert log.context["invoice_number"] == inv.number
    assert log.context["method"] == "eft"
    assert "Payment method: EFT (bank transfer)" in log.body
    assert D(log.context["balance"]) == D("0.00")
    assert D(log.context["amount"]) == D("499.00")
    payment.refresh_from_db()
    assert payment.zoho_sync_status == "pending"


def test_over_payment_pays_oldest_first_and_leaves_credit():
    from datetime import date

    customer = CustomerFactory()
    newer = _issue(customer, "300.00", issue_date=date(2026, 3, 1))
    older = _issue(customer, "200.00", issue_date=date(2026, 2, 1))
    payment = _pay(customer, "600.00")
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.status == newer.status == Invoice.Status.PAID
    assert [(a.invoice_id, a.amount) for a in PaymentAllocation.objects.filter(payment=payment)] == [
        (older.pk, D("200.00")), (newer.pk, D("300.00"))]
    assert BillingAccount.objects.get(customer=customer).balance == D("-100.00")
    assert ledger_balance(customer_id=customer.pk) == D("-100.00")


def test_named_invoice_is_paid_before_older_ones():
    from datetime import date

    customer = CustomerFactory()
    older = _issue(customer, "200.00", issue_date=date(2026, 2, 1), due_date=date(2099, 1, 1))
    named = _issue(customer, "300.00", issue_date=date(2026, 3, 1), due_date=date(2099, 1, 1))
    _pay(customer, "350.00", named)
    older.refresh_from_db()
    named.refresh_from_db()
    assert (named.status, named.amount_paid) == (Invoice.Status.PAID, D("300.00"))
    assert (older.amount_paid, older.status) == (D("50.00"), Invoice.Status.PARTIAL)


def test_completing_twice_changes_nothing(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    with django_capture_on_commit_callbacks(execute=True):
        first = _pay(customer, "499.00", inv)
        second = _pay(customer, "499.00", inv)
    assert first.pk == second.pk
    assert PaymentTransaction.objects.count() == 1
    assert LedgerEntry.objects.filter(payment=first).count() == 1
    assert [args for func, args in queued if func == "payments.tasks.issue_receipt"] == [(first.pk,)]


def test_declined_records_failed_payment_and_notifies():
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    payment = payment_fail(reference="PAY-9", amount=D("499.00"), customer=customer, method="card",
                           provider="netcash", reason="Insufficient funds", invoice=inv)
    inv.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (PaymentTransaction.Status.FAILED, "Insufficient funds")
    assert inv.status == Invoice.Status.UNPAID
    assert not LedgerEntry.objects.filter(payment=payment).exists()
    log = NotificationLog.objects.get(event="payment_failed")
    assert log.context["reason"] == "Insufficient funds"


def test_decline_after_completion_is_flagged_not_reversed():
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    _pay(customer, "499.00", inv, ref="PAY-5")
    payment = payment_fail(reference="PAY-5", amount=D("499.00"), customer=customer, method="card",
                           provider="netcash", reason="Declined", invoice=inv, provider_transaction_id="T2")
    inv.refresh_from_db()
    assert payment.status == PaymentTransaction.Status.COMPLETED
    assert payment.needs_review is True
    assert "Declined" in payment.review_note
    assert inv.status == Invoice.Status.PAID
    assert not NotificationLog.objects.filter(event="payment_failed").exists()


def test_float_amount_refused_and_nothing_written():
    customer = CustomerFactory()
    with pytest.raises(TypeError):
        payment_complete(reference="X", amount=499.0, customer=customer, method="eft", provider="manual")
    with pytest.raises(PaymentError):
        payment_complete(reference="X", amount=D("0.00"), customer=customer, method="eft", provider="manual")
    assert PaymentTransaction.objects.count() == 0


def test_dunning_is_told_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    from billing.services import dunning

    calls = []
    monkeypatch.setattr(dunning, "customer_payment_received", lambda *, customer: calls.append(customer.pk))
    customer = CustomerFactory()
    inv = _issue(customer, "499.00")
    with django_capture_on_commit_callbacks(execute=True):
        _pay(customer, "499.00", inv)
        assert calls == []  # not inside the payment transaction
    assert calls == [customer.pk]
