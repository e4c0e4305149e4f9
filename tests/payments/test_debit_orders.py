from datetime import date, datetime
from decimal import Decimal

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import BillingAccount, Invoice, LedgerEntry
from circletel.models import JobRun
from notifications.models import NotificationLog
from payments.clients import netcash
from payments.models import DebitOrderItem, DebitOrderRun, PaymentMethod, PaymentTransaction
from payments.services.debit_orders import (
    debit_order_item_return,
    debit_order_item_settle,
    debit_order_run_check,
    debit_order_run_prepare,
    debit_order_run_submit,
    twoday_action_date,
)
from payments.services.methods import payment_method_add_debit_order
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

D = Decimal
WS = "https://ws.netcash.example/NIWS/niws_nif.svc"


def test_twoday_action_date_skips_weekends_and_public_holidays():
    # Mon 21 Sep 2026 -> Tue, Wed, (Thu 24 Heritage Day), Fri 25.
    assert twoday_action_date(date(2026, 9, 21)) == date(2026, 9, 25)
    # Mon 14 Sep 2026, no holiday -> Thu 17.
    assert twoday_action_date(date(2026, 9, 14)) == date(2026, 9, 17)
    # Thu 6 Aug 2026 -> Fri 7, (weekend), (Mon 10: Women's Day observed, 9 Aug is a Sunday), Tue 11, Wed 12.
    assert twoday_action_date(date(2026, 8, 6)) == date(2026, 8, 12)
    # Fri -> Wed (weekend skipped).
    assert twoday_action_date(date(2026, 9, 4)) == date(2026, 9, 9)


def test_batch_file_amounts_are_cents_and_footer_totals():
    line = netcash.DebitOrderLine(account_reference="CT-2026-00001", account_name="CT-2026-00001",
                                  holder_name="T Mokoena", account_type=1, branch_code="250655",
                                  account_number="62001234567", amount=D("899.00"))
    text = netcash.build_twoday_batch(batch_name="B1", action_date=date(2026, 9, 1), lines=[line, line],
                                      service_key="KEY")
    rows = [r.split("\t") for r in text.strip().split("\r\n")]
    assert rows[0] == ["H", "KEY", "1", "TwoDay", "B1", "20260901", netcash.DEFAULT_VENDOR_KEY]
    assert rows[1] == ["K", "101", "102", "131", "132", "133", "134", "136", "162"]
    assert rows[2][-1] == "89900"
    assert rows[-1] == ["F", "2", "179800", "9999"]


@pytest.fixture
def netcash_settings(settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "WS_URL": WS,
                        "PER_LINE_LIMIT": D("1000.00"), "PER_DAY_LIMIT": D("1500.00"), "UNPAID_FEE": D("0.00")}
    return settings


def _autopay_customer():
    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    method = payment_method_add_debit_order(customer=customer, account_holder="T Mokoena", account_number="62001234567",
                                            branch_code="250655")
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_status="active", mandate_reference=customer.account_number)
    return customer


def _owed_invoice(customer, total, *, due_date):
    """An invoice the customer owes (booked on the ledger: only what is owed is collected)."""
    from billing.services.ledger import ledger_post

    invoice = make_invoice(customer, total, due_date=due_date)
    ledger_post(customer=customer, entry_type="invoice", amount=D(total), reference=f"invoice:{invoice.pk}",
                description="x", invoice=invoice)
    return invoice


def _soap(method, result):
    return (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<{method}Response xmlns="http://tempuri.org/"><{method}Result>{result}</{method}Result>'
            f"</{method}Response></s:Body></s:Envelope>")


@pytest.mark.django_db
def test_limits_hold_items_and_rerun_collects_nothing_twice(netcash_settings):
    run_date = date(2026, 9, 14)  # action date Thu 17 Sep
    a, b, c, d = (_autopay_customer() for _ in range(4))
    small = _owed_invoice(a, "899.00", due_date=date(2026, 9, 15))
    big = _owed_invoice(b, "1200.00", due_date=date(2026, 9, 15))
    second = _owed_invoice(c, "700.00", due_date=date(2026, 9, 16))
    _owed_invoice(d, "100.00", due_date=date(2026, 10, 30))  # not due by the action date
    plain = CustomerFactory()  # no auto-pay
    _owed_invoice(plain, "100.00", due_date=date(2026, 9, 15))

    plan = debit_order_run_prepare(run_date=run_date)
    assert plan.action_date == date(2026, 9, 17)
    assert plan.queued == [(small.number, D("899.00"))]
    assert sorted((n, r.split(" R")[0]) for n, _, r in plan.held) == sorted([
        (big.number, "over the per-line limit"), (second.number, "over the per-day limit")])
    assert DebitOrderItem.objects.filter(status="held").count() == 2
    assert plan.run.held_count == 2 and plan.run.total_amount == D("899.00")
    notice = NotificationLog.objects.get(event="debit_order_upcoming")
    assert (notice.customer_id, notice.context["invoice_number"]) == (a.pk, small.number)

    again = debit_order_run_prepare(run_date=run_date)
    assert again.queued == [] and again.held == []
    assert DebitOrderItem.objects.count() == 3


@pytest.mark.django_db
def test_dry_run_writes_nothing(netcash_settings):
    customer = _autopay_customer()
    _owed_invoice(customer, "499.00", due_date=date(2026, 9, 15))
    plan = debit_order_run_prepare(run_date=date(2026, 9, 14), dry_run=True)
    assert len(plan.queued) == 1
    assert DebitOrderRun.objects.count() == 0 and DebitOrderItem.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_submit_settle_and_return(netcash_settings):
    customer = _autopay_customer()
    invoice = make_invoice(customer, "499.00", due_date=date(2026, 9, 15))
    LedgerEntry.objects.create(customer=customer, entry_type="invoice", amount=D("499.00"),
                               reference=f"invoice:{invoice.pk}", description="x", effective_date=date(2026, 9, 1),
                               invoice=invoice)
    BillingAccount.objects.filter(customer=customer).update(balance=D("499.00"))
    responses.post(WS, body=_soap("BatchFileUpload", "20000000.2550236530.0483.2.2"))
    plan = debit_order_run_prepare(run_date=date(2026, 9, 14))
    run = debit_order_run_submit(run=plan.run, sleep=lambda s: None)
    assert (run.status, run.file_token) == ("submitted", "20000000.2550236530.0483.2.2")
    sent = responses.calls[0].request.body.decode()
    assert "49900" in sent and "62001234567" in sent and "499.00" not in sent
    item = DebitOrderItem.objects.get()
    assert (item.status, item.payment.status, item.payment.method) == ("submitted", "pending", "debit_order")

    responses.post(WS, body=_soap("RequestFileUploadReport", "###BEGIN CT-DO SUCCESSFUL"))
    responses.post(WS, body=_soap("RetrieveBatchStatus", ""))
    from django.utils import timezone
    run = debit_order_run_check(run=run, now=timezone.make_aware(datetime(2026, 9, 14, 12)), sleep=lambda s: None)
    assert run.status == "awaiting_authorisation"
    item.refresh_from_db()
    assert item.status == "submitted"  # a SUCCESSFUL load report settles nothing (only the statement does)
    debit_order_item_settle(item=item)  # what a statement success line does
    debit_order_item_settle(item=item)  # settling twice changes nothing
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert BillingAccount.objects.get(customer=customer).balance == D("0.00")

    item.refresh_from_db()
    payment = debit_order_item_return(item=item, reason="Insufficient funds")
    invoice.refresh_from_db()
    assert payment.status == PaymentTransaction.Status.REVERSED
    assert invoice.status in (Invoice.Status.UNPAID, Invoice.Status.OVERDUE) and invoice.amount_paid == D("0.00")
    assert BillingAccount.objects.get(customer=customer).balance == D("499.00")
    assert LedgerEntry.objects.filter(reference=f"payment_reversal:{payment.pk}").count() == 1
    # Returning twice changes nothing.
    debit_order_item_return(item=item, reason="Insufficient funds")
    assert LedgerEntry.objects.filter(entry_type="reversal").count() == 1


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_upload_error_code_fails_run_and_keeps_items(netcash_settings):
    customer = _autopay_customer()
    _owed_invoice(customer, "499.00", due_date=date(2026, 9, 15))
    responses.post(WS, body=_soap("BatchFileUpload", "100"))
    plan = debit_order_run_prepare(run_date=date(2026, 9, 14))
    run = debit_order_run_submit(run=plan.run, sleep=lambda s: None)
    assert run.status == "failed" and "100" in run.error
    assert DebitOrderItem.objects.get().status == "queued"
    assert PaymentTransaction.objects.count() == 0


@pytest.mark.django_db
def test_command_dry_run_and_bad_date(netcash_settings, capsys):
    customer = _autopay_customer()
    inv = _owed_invoice(customer, "499.00", due_date=date(2026, 9, 15))
    call_command("process_debit_orders", "--date", "2026-09-14", "--dry-run")
    out = capsys.readouterr().out
    assert "Action date 2026-09-17: 1 to collect (R 499.00)" in out and inv.number in out
    assert DebitOrderItem.objects.count() == 0
    assert JobRun.objects.get(job_name="process_debit_orders").status == "succeeded"
    with pytest.raises(CommandError):
        call_command("process_debit_orders", "--date", "14/09/2026")
