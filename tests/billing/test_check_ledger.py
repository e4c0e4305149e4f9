from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import BillingAccount, Invoice
from billing.services.invoice_run import invoice_run
from billing.services.invoices import LineSpec, credit_note_create, invoice_create, invoice_reissue
from billing.services.ledger_check import ledger_differences
from billing.services.lifecycle import service_activate
from payments.models import PaymentTransaction
from payments.services.allocation import payment_allocate
from tests.billing.factories import service as make_service

D = Decimal
pytestmark = pytest.mark.django_db


def _pay(customer, amount, ref):
    payment = PaymentTransaction.objects.create(customer=customer, amount=amount, method="eft", provider="manual",
                                                reference=ref, status=PaymentTransaction.Status.COMPLETED)
    return payment_allocate(payment=payment)


def test_balances_and_paid_amounts_agree_after_every_kind_of_movement(capsys):
    svc_a = make_service(monthly_price=D("499.00"), installation_fee=D("999.00"), billing_day=1)
    svc_b = make_service(monthly_price=D("899.00"), billing_day=25)
    first_a = service_activate(service=svc_a, reason="installed", activation_date=date(2026, 1, 15))
    service_activate(service=svc_b, reason="installed", activation_date=date(2026, 1, 3))
    invoice_run(run_date=date(2026, 1, 27))
    _pay(svc_a.customer, D("500.00"), "PAY-A1")  # part of the first invoice
    _pay(svc_b.customer, D("5000.00"), "PAY-B1")  # pays everything, leaves credit
    credit_note_create(invoice=first_a, amount=D("100.00"), reason="late install")
    extra = invoice_create(customer=svc_a.customer, invoice_type="adjustment", lines=[LineSpec("Static IP", D("99.00"))])
    invoice_reissue(invoice=extra, reason="wrong price", lines=[LineSpec("Static IP", D("89.00"))])

    assert ledger_differences() == []
    call_command("check_ledger")
    assert "Ledger OK" in capsys.readouterr().out
    assert Invoice.objects.filter(status="void").count() == 1
    assert BillingAccount.objects.get(customer=svc_b.customer).balance < 0


def test_a_drifted_balance_and_paid_amount_are_reported_with_non_zero_exit(capsys):
    svc = make_service()
    invoice = service_activate(service=svc, reason="installed", activation_date=date(2026, 1, 1))
    BillingAccount.objects.filter(customer=svc.customer).update(balance=D("1.00"))
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=D("5.00"))
    with pytest.raises(CommandError, match="2 difference"):
        call_command("check_ledger")
    out = capsys.readouterr().out
    assert f"balance {svc.customer.account_number}: stored 1.00, recomputed 499.00" in out
    assert f"invoice_paid {invoice.number}: stored 5.00, recomputed 0.00" in out
