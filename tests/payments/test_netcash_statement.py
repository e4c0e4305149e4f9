"""Issue 15: debit orders settle only from NetCash's statement; load-report line errors; authorisation;
the daily reconciliation (exactly once per line), against the local NIWS stand-in on 127.0.0.1.

Fixtures follow the contract facts (CONTRACTS 2.2-2.5, corrected 2026-12): a load report with
`Acc Ref :<ref><TAB>Line :<n><TAB>...` line errors, a statement with TDD success and DRU unpaid lines
(`Code 2`), RetrieveMerchantStatement answering FILE NOT READY before the text.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import BillingAccount, Invoice, LedgerEntry
from billing.services.ledger import ledger_post
from billing.services.ledger_check import ledger_differences
from notifications.models import NotificationLog
from payments.clients import netcash_niws
from payments.models import (
    DebitOrderItem,
    NetcashStatement,
    NetcashStatementLine,
    PaymentMethod,
    PaymentTransaction,
    ReconciliationIssue,
    ReconciliationReport,
)
from payments.netcash_standin import NiwsStandIn
from payments.services.debit_orders import (
    authorise_cutoff,
    debit_order_run_check,
    debit_order_run_prepare,
    debit_order_run_submit,
)
from payments.services.methods import payment_method_add_debit_order
from payments.services.netcash_statement import (
    netcash_reconcile,
    paynow_unconfirmed_flag,
    statement_lines_apply,
    statement_store_lines,
    unpaid_reason,
)
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

D = Decimal
RUN_DATE = date(2026, 9, 14)  # Monday: TwoDay action date Thu 17 Sep, cut-off Tue 15 Sep 23:59
ACTION = date(2026, 9, 17)
BEFORE_CUTOFF = timezone.make_aware(datetime(2026, 9, 14, 12, 0))


@pytest.fixture
def standin(settings):
    fake = NiwsStandIn(unpaid_accounts={"62000000002": "2"}, reject_accounts={"62000000009"}).start()
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "ACCOUNT_SERVICE_KEY": "ACC-KEY",
                        "WS_URL": fake.url, "PER_LINE_LIMIT": D("10000.00"), "PER_DAY_LIMIT": D("500000.00"),
                        "UNPAID_FEE": D("50.00"), "AUTO_AUTHORISE": True, "STATEMENT_CONFIRM_HOURS": 48}
    yield fake
    fake.stop()


def _customer(account_number: str, owed: str, *, due=date(2026, 9, 15)):
    """An auto-pay customer with an active mandate and one invoice of `owed`, booked on the ledger."""
    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    method = payment_method_add_debit_order(customer=customer, account_holder="T Mokoena",
                                            account_number=account_number, branch_code="250655")
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_status="active",
                                                      mandate_reference=f"M-{customer.account_number}")
    invoice = make_invoice(customer, owed, due_date=due)
    ledger_post(customer=customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=D(owed),
                reference=f"invoice:{invoice.pk}", description="x", invoice=invoice)
    return customer, invoice


def _authorised_run():
    plan = debit_order_run_prepare(run_date=RUN_DATE)
    run = debit_order_run_submit(run=plan.run, sleep=lambda s: None)
    return debit_order_run_check(run=run, now=BEFORE_CUTOFF, sleep=lambda s: None)


def _reconcile(day):
    """The daily job twice: the first retrieve answers FILE NOT READY (kept polling id), the second reads."""
    first = netcash_reconcile(kind="daily", day=day, sleep=lambda s: None)
    assert first["statement"] == "requested"
    return netcash_reconcile(kind="daily", day=day, sleep=lambda s: None)


def _assert_ledger_clean():
    assert ledger_differences() == []


# --- 1. a debit order is never marked paid without a statement line --------------------------------------
@pytest.mark.django_db(transaction=True)
def test_load_report_success_and_passed_action_date_settle_nothing(standin):
    customer, invoice = _customer("62000000001", "499.00")
    run = _authorised_run()
    assert (run.status, run.load_status) == ("authorised", "SUCCESSFUL")
    # Old code: SUCCESSFUL + action date passed settled the item. Now nothing settles without the statement.
    from payments.services.debit_orders import debit_order_runs_check
    debit_order_runs_check(now=timezone.make_aware(datetime(2026, 9, 20, 9, 0)), sleep=lambda s: None)
    item = DebitOrderItem.objects.get()
    assert item.status == "submitted" and item.payment.status == "pending"
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("0.00") and not LedgerEntry.objects.filter(entry_type="payment").exists()
    _assert_ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_load_report_line_errors_reject_only_those_items_with_the_reason(standin):
    good, good_invoice = _customer("62000000001", "499.00")
    bad, bad_invoice = _customer("62000000009", "300.00")
    run = _authorised_run()
    assert run.load_status == "SUCCESSFUL WITH ERRORS" and run.rejected_count == 1
    report = run.load_report
    assert "Acc Ref :" in report and "\tLine :4\t" in report  # H, K, T(good) line 3, T(bad) line 4
    rejected = DebitOrderItem.objects.get(invoice=bad_invoice)
    assert rejected.status == "rejected" and rejected.line_number == 4
    assert rejected.hold_reason.startswith("Rejected by NetCash: Account details could not be validated")
    assert rejected.payment.status == "failed" and "could not be validated" in rejected.payment.failure_reason
    bad_invoice.refresh_from_db()
    assert bad_invoice.status in (Invoice.Status.UNPAID, Invoice.Status.OVERDUE) and bad_invoice.amount_paid == 0
    assert NotificationLog.objects.filter(event="payment_failed", customer=bad).count() == 1
    assert DebitOrderItem.objects.get(invoice=good_invoice).status == "submitted"
    # Collected: the rejected line is not collected, so no statement line can ever settle it.
    standin.collect(ACTION)
    _reconcile(ACTION)
    rejected.refresh_from_db()
    assert rejected.status == "rejected" and rejected.payment.status == "failed"
    assert DebitOrderItem.objects.get(invoice=good_invoice).status == "settled"
    _assert_ledger_clean()


def test_load_report_parser_reads_line_errors_per_line():
    text = ("###BEGIN MY TEST BATCH SUCCESSFUL WITH ERRORS 01:29 PM R1.00 20160410\n"
            "Acc Ref :1158\tLine :6\tDuplicate account reference\n"
            "Acc Ref :XI5 Line :3 Bank account number has incorrect length (min 4, max 11 characters)\n"
            "###END 01:29 PM\n")
    report = netcash_niws.parse_load_report(text)
    assert report.status == "SUCCESSFUL WITH ERRORS"
    assert [(e.account_reference, e.line_number, e.message) for e in report.line_errors] == [
        ("1158", 6, "Duplicate account reference"),
        ("XI5", 3, "Bank account number has incorrect length (min 4, max 11 characters)")]
    failed = netcash_niws.parse_load_report("###BEGIN B UNSUCCESSFUL 01:23 PM R1.00 20160410\n"
                                            "###ERROR: A system error occurred. Please contact Netcash\n###END\n")
    assert failed.status == "UNSUCCESSFUL" and failed.file_errors == ["A system error occurred. Please contact Netcash"]


# --- 2. authorisation ---------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_without_auto_authorise_the_run_waits_with_the_cutoff_then_expires(standin, settings):
    settings.NETCASH = {**settings.NETCASH, "AUTO_AUTHORISE": False}
    customer, invoice = _customer("62000000001", "499.00")
    run = _authorised_run()
    assert run.status == "awaiting_authorisation"
    assert timezone.localtime(run.authorise_by) == timezone.make_aware(datetime(2026, 9, 15, 23, 59))
    assert not standin.calls_to("RequestBatchAuthorise")
    # Past the cut-off without authorisation: not collected, items fail so a later run can collect.
    run = debit_order_run_check(run=run, now=timezone.make_aware(datetime(2026, 9, 16, 0, 5)), sleep=lambda s: None)
    assert run.status == "expired"
    item = DebitOrderItem.objects.get()
    assert item.status == "failed" and "not authorised by the cut-off" in item.hold_reason
    assert item.payment.status == "failed"
    _assert_ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_portal_authorisation_is_seen_in_the_batch_status(standin, settings):
    settings.NETCASH = {**settings.NETCASH, "AUTO_AUTHORISE": False}
    _customer("62000000001", "499.00")
    run = _authorised_run()
    standin.authorise_in_portal(run.batch_name)
    run = debit_order_run_check(run=run, now=BEFORE_CUTOFF, sleep=lambda s: None)
    assert run.status == "authorised" and run.batch_status == "authorised" and run.netcash_batch_id


@pytest.mark.django_db(transaction=True)
def test_auto_authorise_sends_request_batch_authorise_in_wsdl_order(standin):
    _customer("62000000001", "499.00")
    run = _authorised_run()
    assert run.status == "authorised"
    (params,) = standin.calls_to("RequestBatchAuthorise")
    assert [name for name, _ in params] == ["ServiceKey", "BatchIndicator", "SendEmail", "FromName", "FromAddress",
                                            "SendSMS", "ReleaseFunds", "BankTransfer"]
    assert dict(params)["BatchIndicator"] == run.netcash_batch_id and dict(params)["SendEmail"] == "false"


def test_cutoff_is_2359_two_business_days_before():
    # Action Fri 25 Sep 2026: Thu 24 is Heritage Day, so two business days before is Tue 22.
    assert timezone.localtime(authorise_cutoff(date(2026, 9, 25))) == timezone.make_aware(datetime(2026, 9, 22, 23, 59))


# --- 3. owed only ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_never_collects_from_an_account_in_credit_nor_more_than_owed(standin):
    in_credit, credit_invoice = _customer("62000000001", "499.00")
    ledger_post(customer=in_credit, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=D("-600.00"),
                reference="adj:credit", description="credit")  # balance -101
    partly, partly_invoice = _customer("62000000003", "499.00")
    ledger_post(customer=partly, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=D("-199.00"),
                reference="adj:partly", description="credit")  # balance 300
    plan = debit_order_run_prepare(run_date=RUN_DATE)
    assert plan.queued == [(partly_invoice.number, D("300.00"))]
    assert not DebitOrderItem.objects.filter(invoice=credit_invoice).exists()
    # positive control: an account that owes the whole invoice is collected in full
    owes, owes_invoice = _customer("62000000004", "250.00")
    plan = debit_order_run_prepare(run_date=RUN_DATE + timedelta(days=1))
    assert (owes_invoice.number, D("250.00")) in plan.queued


# --- 4. the statement settles and returns, exactly once -----------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_statement_settles_success_lines_and_returns_dru_through_the_returns_path(standin):
    payer, paid_invoice = _customer("62000000001", "499.00")
    bouncer, bounced_invoice = _customer("62000000002", "350.00")
    _authorised_run()
    standin.collect(ACTION)

    result = _reconcile(ACTION)
    assert result["settled"] == 2 and result.get("returned", 0) == 0
    assert len(standin.calls_to("RequestMerchantStatement")) == 1  # the polling id was kept
    assert [dict(p)["ServiceKey"] for p in standin.calls_to("RetrieveMerchantStatement")] == ["ACC-KEY", "ACC-KEY"]
    paid_invoice.refresh_from_db()
    assert paid_invoice.status == "paid"
    assert BillingAccount.objects.get(customer=payer).balance == D("0.00")
    _assert_ledger_clean()

    # The DRU line arrives the next day: reversed with the reason in words and the unpaid fee.
    result = _reconcile(ACTION + timedelta(days=1))
    assert result["returned"] == 1
    item = DebitOrderItem.objects.get(invoice=bounced_invoice)
    assert (item.status, item.unpaid_code) == ("returned", "2")
    assert item.payment.status == "reversed"
    assert item.payment.reversal_reason == "Returned unpaid by the bank: not provided for (insufficient funds) (code 2)"
    bounced_invoice.refresh_from_db()
    assert bounced_invoice.status in ("unpaid", "overdue") and bounced_invoice.amount_paid == 0
    fee = Invoice.objects.get(customer=bouncer, invoice_type="adjustment")
    assert fee.total == D("50.00")
    assert BillingAccount.objects.get(customer=bouncer).balance == D("400.00")
    log = NotificationLog.objects.get(event="payment_failed", customer=bouncer)
    assert "insufficient funds" in log.context["reason"]
    _assert_ledger_clean()

    # The same statements read again (refetch) change nothing.
    before = (LedgerEntry.objects.count(), NetcashStatementLine.objects.count())
    from payments.services.netcash_statement import statement_fetch
    for day in (ACTION, ACTION + timedelta(days=1)):
        statement_fetch(kind="daily", day=day, sleep=lambda s: None, refetch=True)
        statement_fetch(kind="daily", day=day, sleep=lambda s: None)
    assert statement_lines_apply()["lines"] == 0
    assert (LedgerEntry.objects.count(), NetcashStatementLine.objects.count()) == before
    _assert_ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_forged_and_duplicated_lines_change_nothing_twice(standin):
    customer, invoice = _customer("62000000001", "499.00")
    run = _authorised_run()
    item = DebitOrderItem.objects.get()
    stmt = NetcashStatement.objects.create(kind="daily", statement_date=ACTION)
    tdd = netcash_niws.StatementLine(line_date=ACTION, code="TDD", description="Two day debit order",
                                     amount=D("499.00"), effect="+", reference=run.batch_name,
                                     account_reference=item.account_reference, unpaid_code="", raw="")
    forged = netcash_niws.StatementLine(line_date=ACTION, code="TDD", description="Two day debit order",
                                        amount=D("499.00"), effect="+", reference="X", account_reference="NOT-OURS",
                                        unpaid_code="", raw="")
    wrong_amount = netcash_niws.StatementLine(line_date=ACTION, code="TDD", description="Two day debit order",
                                              amount=D("4990.00"), effect="+", reference="X",
                                              account_reference=item.account_reference, unpaid_code="", raw="")
    assert statement_store_lines(statement=stmt, lines=[tdd, tdd, forged, wrong_amount]) == 4
    assert statement_store_lines(statement=stmt, lines=[tdd, tdd, forged, wrong_amount]) == 0  # read again
    counts = statement_lines_apply()
    assert (counts["settled"], counts["unmatched"]) == (1, 3)
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("499.00")
    assert ReconciliationIssue.objects.filter(kind="unapplied_receipt").count() == 3
    assert statement_lines_apply()["lines"] == 0
    _assert_ledger_clean()


# --- 5. Pay Now: unconfirmed payments and receipts we never applied ------------------------------------------
@pytest.mark.django_db
def test_paynow_payment_no_line_confirms_is_flagged_once_and_a_line_confirms_another(standin, settings):
    from payments.services.payments import payment_complete

    customer = CustomerFactory()
    unconfirmed = payment_complete(reference="INV-1-aaaaaa", amount=D("120.00"), customer=customer, method="eft",
                                   provider="netcash", provider_transaction_id="T1")
    confirmed = payment_complete(reference="INV-2-bbbbbb", amount=D("80.00"), customer=customer, method="card",
                                 provider="netcash", provider_transaction_id="T2")
    old = timezone.now() - timedelta(hours=49)
    PaymentTransaction.objects.filter(pk__in=[unconfirmed.pk, confirmed.pk]).update(completed_at=old)
    stmt = NetcashStatement.objects.create(kind="interim", statement_date=timezone.localdate())
    lines = [netcash_niws.StatementLine(line_date=timezone.localdate(), code="PNC", description="PayNow credit card payment",
                                        amount=D("80.00"), effect="+", reference="INV-2-bbbbbb", account_reference="",
                                        unpaid_code="", raw=""),
             netcash_niws.StatementLine(line_date=timezone.localdate(), code="PNE", description="Pay Now EFT payment",
                                        amount=D("55.00"), effect="+", reference="INV-9-cccccc", account_reference="",
                                        unpaid_code="", raw="")]
    statement_store_lines(statement=stmt, lines=lines)
    counts = statement_lines_apply()
    assert (counts["confirmed"], counts["unmatched"]) == (1, 1)
    assert paynow_unconfirmed_flag() == 1
    assert paynow_unconfirmed_flag() == 0  # once
    issue = ReconciliationIssue.objects.get(kind="unconfirmed_payment")
    assert issue.payment_id == unconfirmed.pk and issue.alerted_at is not None
    unconfirmed.refresh_from_db()
    assert unconfirmed.needs_review and "no statement line confirmed it" in unconfirmed.review_note
    assert NotificationLog.objects.filter(event="netcash_statement_unconfirmed").count() <= 2  # ops channels, once
    receipt = ReconciliationIssue.objects.get(kind="unapplied_receipt")
    assert receipt.reference == "INV-9-cccccc" and receipt.amount == D("55.00")
    _assert_ledger_clean()


# --- 6. the report --------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_daily_report_matched_unmatched_and_totals(standin):
    _customer("62000000001", "499.00")
    _customer("62000000005", "200.00")
    _authorised_run()
    standin.collect(ACTION)
    standin.add_statement_line(ACTION, "TDD", "Two day debit order", D("10.00"), "+", "X", "NOT-OURS")
    # one of our items never shows on the statement: drop its line from the stand-in
    ours = DebitOrderItem.objects.get(amount=D("200.00"))
    standin.statement = [(d, t) for d, t in standin.statement if ours.account_reference not in t]
    _reconcile(ACTION)
    report = ReconciliationReport.objects.get(day=ACTION)
    assert (report.matched_count, report.matched_total) == (1, D("499.00"))
    assert (report.unmatched_theirs_count, report.unmatched_theirs_total) == (1, D("10.00"))
    assert (report.unmatched_ours_count, report.unmatched_ours_total) == (1, D("200.00"))
    assert (report.statement_total, report.our_total, report.totals_equal) == (D("509.00"), D("699.00"), False)


def test_unpaid_reasons_in_words():
    assert unpaid_reason("3") == "Returned unpaid by the bank: account closed (code 3)"
    assert unpaid_reason("99") == "Returned unpaid by the bank (code 99)"


def test_statement_parser_reads_contract_columns():
    text = ("2026-09-17\tOBL\t0\tOpening Balance\t0.00\t+\t0\t\t\n"
            "2026-09-17\tTDD\t1\tTwo day debit order\t499.00\t+\t0\tCT-DO-1\tM-CT-1\n"
            "2026-09-18\tDRU\t4\tDebit order unpaid - Code 2\t350.00\t-\t0\tCT-DO-1\tM-CT-2\n"
            "garbage line\n")
    lines = netcash_niws.parse_statement(text)
    assert [(line.code, line.amount, line.effect, line.reference, line.account_reference, line.unpaid_code)
            for line in lines] == [("OBL", D("0.00"), "+", "", "", ""),
                                   ("TDD", D("499.00"), "+", "CT-DO-1", "M-CT-1", ""),
                                   ("DRU", D("350.00"), "-", "CT-DO-1", "M-CT-2", "2")]


@pytest.mark.django_db(transaction=True)
def test_statement_without_account_key_is_refused_clearly(standin, settings):
    settings.NETCASH = {**settings.NETCASH, "ACCOUNT_SERVICE_KEY": ""}
    result = netcash_reconcile(kind="daily", day=ACTION, sleep=lambda s: None)
    assert "NETCASH_ACCOUNT_SERVICE_KEY is not set" in result["fetch_error"]
    assert not standin.calls


# --- 7. concurrency (PostgreSQL): two runs at once apply each line once ----------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reconciliations_at_once_settle_each_line_once(standin):
    from tests.concurrency import run_concurrently

    for n in range(6):
        _customer(f"6200000010{n}", "100.00")
    _authorised_run()
    standin.collect(ACTION)
    netcash_reconcile(kind="daily", day=ACTION, sleep=lambda s: None)  # FILE NOT READY
    from payments.services.netcash_statement import statement_fetch
    statement_fetch(kind="daily", day=ACTION, sleep=lambda s: None)
    outcomes = run_concurrently(lambda: statement_lines_apply(batch_size=2), [(), (), ()])
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert sum(o["settled"] for o in outcomes) == 6
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 6
    assert DebitOrderItem.objects.filter(status="settled").count() == 6
    _assert_ledger_clean()


# --- 8. the admin shows each step ---------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_admin_shows_runs_lines_issues_and_reports(standin, client, settings):
    from tests.factories import UserFactory

    settings.NETCASH = {**settings.NETCASH, "AUTO_AUTHORISE": False}
    _customer("62000000001", "499.00")
    run = _authorised_run()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/payments/debitorderrun/").content.decode()
    assert "Awaiting authorisation" in page and "2026-09-15 23:59 (authorise in the NetCash portal)" in page
    standin.authorise_in_portal(run.batch_name)
    debit_order_run_check(run=run, now=BEFORE_CUTOFF, sleep=lambda s: None)
    standin.collect(ACTION)
    standin.add_statement_line(ACTION, "PNE", "Pay Now EFT payment", D("55.00"), "+", "INV-9-cccccc")
    _reconcile(ACTION)
    for path in ("netcashstatement", "netcashstatementline", "reconciliationissue", "reconciliationreport",
                 "debitorderitem", "mandate"):
        resp = client.get(f"/admin/payments/{path}/")
        assert resp.status_code == 200, path
    assert "INV-9-cccccc" in client.get("/admin/payments/reconciliationissue/?resolved_at__isnull=True").content.decode()
    statement = NetcashStatement.objects.get(kind="daily")
    assert client.get(f"/admin/payments/netcashstatement/{statement.pk}/change/").status_code == 200
    issue = ReconciliationIssue.objects.get()
    resp = client.post("/admin/payments/reconciliationissue/", {
        "action": "resolve", "_selected_action": [issue.pk], "apply": "1", "reason": "Customer paid twice; refunded"})
    assert resp.status_code == 302
    issue.refresh_from_db()
    assert issue.resolved_at and issue.resolution == "Customer paid twice; refunded"
    empty = client.post("/admin/payments/reconciliationissue/", {
        "action": "resolve", "_selected_action": [issue.pk], "apply": "1", "reason": ""})
    assert empty.status_code == 200  # the form asks again for a reason


@pytest.mark.django_db(transaction=True)
def test_bulk_return_without_fee_has_the_returns_path_effects(standin, settings):
    """No unpaid fee configured: returns go through the bulk path; same effects as `payment_reverse`."""
    settings.NETCASH = {**settings.NETCASH, "UNPAID_FEE": D("0.00")}
    bouncer, invoice = _customer("62000000002", "350.00")
    _authorised_run()
    standin.collect(ACTION)
    _reconcile(ACTION)
    assert BillingAccount.objects.get(customer=bouncer).balance == D("0.00")
    result = _reconcile(ACTION + timedelta(days=1))
    assert result["returned"] == 1
    item = DebitOrderItem.objects.get()
    payment = item.payment
    assert (item.status, item.unpaid_code, payment.status) == ("returned", "2", "reversed")
    assert payment.reversal_reason == unpaid_reason("2") and payment.reversed_at
    assert LedgerEntry.objects.get(reference=f"payment_reversal:{payment.pk}").amount == D("350.00")
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0 and invoice.status in ("unpaid", "overdue")
    assert BillingAccount.objects.get(customer=bouncer).balance == D("350.00")
    assert not Invoice.objects.filter(customer=bouncer, invoice_type="adjustment").exists()
    log = NotificationLog.objects.get(event="payment_failed", customer=bouncer)
    assert log.idempotency_key == f"payment_reversed:{payment.pk}" and "insufficient funds" in log.context["reason"]
    assert payment.zoho_sync_status == "pending"
    _assert_ledger_clean()
    # The returns path run again for the same item changes nothing (idempotent by state).
    from payments.services.debit_orders import debit_order_item_return
    debit_order_item_return(item=item, reason="again")
    assert LedgerEntry.objects.filter(entry_type="reversal").count() == 1


@pytest.mark.django_db(transaction=True)
def test_command_reads_the_statement_and_refuses_bad_input(standin, capsys, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    _customer("62000000001", "499.00")
    _authorised_run()
    standin.collect(ACTION)
    call_command("reconcile_netcash_statement", "--date", ACTION.isoformat())
    assert "still preparing" in capsys.readouterr().out
    call_command("reconcile_netcash_statement", "--date", ACTION.isoformat())
    out = capsys.readouterr().out
    assert f"Statement {ACTION.isoformat()} (daily): lines 3, settled 1" in out and "Totals equal." in out
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile_netcash_statement", "--date", "17/09/2026")
    settings.NETCASH = {**settings.NETCASH, "ACCOUNT_SERVICE_KEY": ""}
    with pytest.raises(CommandError, match="NETCASH_ACCOUNT_SERVICE_KEY"):
        call_command("reconcile_netcash_statement")


@pytest.mark.django_db(transaction=True)
def test_a_large_statement_is_applied_by_extra_job_processes_too(standin, settings, queued):
    """STATEMENT_PARALLEL_FROM lines or more: the job queues STATEMENT_APPLY_WORKERS - 1 helpers (each applies
    what is left and rebuilds the report); below it, none (positive control)."""
    from payments.services.netcash_statement import statement_apply_helper

    _customer("62000000001", "499.00")
    _customer("62000000003", "299.00")
    _authorised_run()
    standin.collect(ACTION)
    settings.NETCASH = {**settings.NETCASH, "STATEMENT_APPLY_WORKERS": 2, "STATEMENT_PARALLEL_FROM": 10_000}
    first = netcash_reconcile(kind="daily", day=ACTION, sleep=lambda s: None)
    assert first["statement"] == "requested"
    settings.NETCASH = {**settings.NETCASH, "STATEMENT_PARALLEL_FROM": 2}
    result = netcash_reconcile(kind="daily", day=ACTION, sleep=lambda s: None)
    helpers = [args for func, args in queued if func == "payments.tasks.apply_netcash_statement_lines"]
    assert result["helpers"] == 1 and helpers == [(ACTION.isoformat(),)]
    assert result["settled"] == 2
    assert statement_apply_helper(day=ACTION) == {}  # the helper came late: nothing left, the report stands
    _assert_ledger_clean()
    settings.NETCASH = {**settings.NETCASH, "STATEMENT_PARALLEL_FROM": 10_000}
    queued.clear()
    assert netcash_reconcile(kind="daily", day=ACTION, sleep=lambda s: None)["helpers"] == 0
