"""Demo data for payments (`manage.py seed_demo`): idempotent, only on top of billing's demo invoices.

On the first three demo customers' oldest invoices: two card payments (sandbox) and one decline;
then a duplicate card payment by the first customer, refunded in full, and an EFT paid in advance
by the second, partly refunded. Every completed demo payment gets its receipt (number, PDF, receipt
email) through `receipt_issue`, before any refund, as in real life. Refunds go through
`refund_create`: sandbox and NetCash payments are recorded for finance to pay back by hand (no HTTP).
A second run finds every payment by its reference and every refund on its payment, and changes nothing.

The NetCash debit-order cycle (`_netcash_cycle`), against the local NIWS stand-in
(`payments.netcash_standin`, on 127.0.0.1, started and stopped here): two more demo customers go on
auto-pay with a debit-order account, their eMandates are requested and signed, a TwoDay batch is
uploaded, its load report read, the run waits "awaiting authorisation" until it is authorised in the
(stand-in) portal, NetCash collects, and the statement settles one debit order and returns the other
unpaid (code 2, insufficient funds) through the returns path. The admin shows each step: Debit-order
runs and items, Mandates, NetCash statements and their lines, Reconciliation reports and differences.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from billing.models import Invoice
from payments.models import Mandate, PaymentMethod, PaymentTransaction
from payments.services.mandates import mandate_account_reference, mandate_update_status
from payments.services.methods import payment_method_add_debit_order
from payments.services.payments import payment_complete, payment_fail
from payments.services.receipts import RECEIPTED, receipt_issue
from payments.services.refunds import refund_create

logger = logging.getLogger(__name__)
ADVANCE = Decimal("1000.00")  # the second customer's EFT paid ahead of their invoices
ADVANCE_REFUND = Decimal("150.00")  # of which part is paid back at their request


def _demo_invoices() -> list[Invoice]:
    """The oldest invoice of each of the first three demo customers (stable across runs)."""
    invoices = (Invoice.objects.select_related("customer")
                .filter(customer__services__provider_order_id__startswith="DEMO-")
                .exclude(status=Invoice.Status.VOID).distinct().order_by("customer_id", "issue_date", "pk"))
    chosen: dict[int, Invoice] = {}
    for invoice in invoices:
        chosen.setdefault(invoice.customer_id, invoice)
        if len(chosen) == 3:
            break
    return list(chosen.values())


def seed_demo(stdout) -> None:
    invoices = _demo_invoices()
    if not invoices:
        stdout.write("payments: no demo invoices yet; nothing to pay.")
        return
    paid = declined = 0
    for position, invoice in enumerate(invoices):
        if position == 2:
            reference = f"DEMO-DECLINED-{invoice.pk}"
            if not PaymentTransaction.objects.filter(reference=reference).exists() and invoice.amount_due > 0:
                payment_fail(reference=reference, amount=invoice.amount_due, customer=invoice.customer,
                             method="card", provider="sandbox", invoice=invoice,
                             reason="Demo: card declined by the issuing bank", provider_method="Card")
                declined += 1
            continue
        reference = f"DEMO-PAY-{invoice.pk}"
        if not PaymentTransaction.objects.filter(reference=reference).exists() and invoice.amount_due > 0:
            paid += _complete_once(reference=reference, amount=invoice.amount_due, customer=invoice.customer,
                                   method="card", provider="sandbox", invoice=invoice, provider_method="Card")
    extra = _extra_payments(invoices)
    receipts = _issue_receipts()  # before the refunds: a receipt shows the payment as it was made
    refunds = _refunds(invoices)
    methods = 0
    if settings.FIELD_ENCRYPTION_KEYS and invoices:
        customer = invoices[0].customer
        if not PaymentMethod.objects.filter(customer=customer, method_type="debit_order").exists():
            with transaction.atomic():
                method = payment_method_add_debit_order(customer=customer, account_holder=str(customer),
                                                        account_number="62001234567", branch_code="250655",
                                                        bank_name="FNB")
                reference = mandate_account_reference(method)
                Mandate.objects.get_or_create(account_reference=reference, defaults={
                    "customer": customer, "payment_method": method, "mandate_amount": invoices[0].total,
                    "agreement_reference": reference})
                mandate_update_status(account_reference=reference, successful=True)
            methods += 1
    stdout.write(f"payments: {paid + extra} demo payment(s), {declined} declined, {methods} debit-order method(s) "
                 f"(masked, mandate active), {receipts} receipt(s) with PDF, {refunds} refund(s) "
                 f"(full and partial, recorded for manual pay-back).")
    _netcash_cycle(stdout)


DEMO_ACCOUNTS = ("62000000001", "62000000002")  # the second one's debit order comes back unpaid (code 2)


def _netcash_cycle(stdout) -> None:
    """Mandate signed, one debit order collected, one returned unpaid, all through the NIWS stand-in."""
    from datetime import timedelta

    from django.utils import timezone

    from billing.models import BillingAccount
    from payments.models import DebitOrderItem
    from payments.netcash_standin import NiwsStandIn
    from payments.services.debit_orders import (
        debit_order_run_check,
        debit_order_run_prepare,
        debit_order_run_submit,
        twoday_action_date,
    )
    from payments.services.mandates import mandate_request
    from payments.services.netcash_statement import netcash_reconcile

    if not settings.FIELD_ENCRYPTION_KEYS or transaction.get_connection().in_atomic_block:
        stdout.write("netcash: debit-order demo skipped (needs FIELD_ENCRYPTION_KEYS, outside a transaction).")
        return
    invoices = (Invoice.objects.select_related("customer")
                .filter(customer__services__provider_order_id__startswith="DEMO-", status__in=Invoice.OPEN_STATUSES)
                .distinct().order_by("customer_id", "issue_date", "pk"))
    skip = {i.customer_id for i in _demo_invoices()}
    if (DebitOrderItem.objects.filter(customer__services__provider_order_id__startswith="DEMO-")
            .exclude(customer_id__in=skip).exists()):
        stdout.write("netcash: debit-order demo already shown (see Debit-order runs and NetCash statements).")
        return
    chosen: dict[int, Invoice] = {}
    for invoice in invoices:
        if invoice.customer_id not in skip and invoice.amount_due > 0:
            chosen.setdefault(invoice.customer_id, invoice)
    pair = list(chosen.values())[:2]
    if len(pair) < 2:
        stdout.write("netcash: debit-order demo skipped (needs two more demo customers with an open invoice).")
        return
    standin = NiwsStandIn(unpaid_accounts={DEMO_ACCOUNTS[1]: "2"}).start()
    original = settings.NETCASH
    settings.NETCASH = {**original, "DEBIT_ORDER_SERVICE_KEY": "DEMO-STANDIN-DEBIT-KEY",
                        "ACCOUNT_SERVICE_KEY": "DEMO-STANDIN-ACCOUNT-KEY", "WS_URL": standin.url,
                        "AUTO_AUTHORISE": False, "UNPAID_FEE": original.get("UNPAID_FEE") or Decimal("0.00")}
    try:
        for invoice, account in zip(pair, DEMO_ACCOUNTS, strict=True):
            customer = invoice.customer
            BillingAccount.objects.filter(customer_id=customer.pk).update(auto_pay=True)
            method = payment_method_add_debit_order(customer=customer, account_holder=str(customer),
                                                    account_number=account, branch_code="250655", bank_name="FNB")
            mandate = mandate_request(method=method, mandate_amount=max(invoice.total * 2, Decimal("1000.00")))
            standin.sign_mandate(mandate.account_reference)
            # NetCash posts the signed mandate to our postback URL; the stand-in's answer, applied the same way.
            mandate_update_status(account_reference=mandate.account_reference, successful=True,
                                  raw={"MandateSuccessful": "1", "source": "NetCash stand-in"})
        run_date = timezone.localdate()
        latest_due = max(i.due_date for i in pair)
        while twoday_action_date(run_date) < latest_due:
            run_date += timedelta(days=1)
        plan = debit_order_run_prepare(run_date=run_date)
        run = debit_order_run_submit(run=plan.run)
        before_cutoff = min(timezone.now(), run.authorise_by - timedelta(hours=1))
        run = debit_order_run_check(run=run, now=before_cutoff)  # load report: awaiting authorisation
        standin.authorise_in_portal(run.batch_name)  # staff authorise it in the NetCash portal
        run = debit_order_run_check(run=run, now=before_cutoff)
        standin.collect(run.action_date)
        for day in (run.action_date, run.action_date + timedelta(days=1)):
            netcash_reconcile(kind="daily", day=day)  # FILE NOT READY: the polling id is kept
            netcash_reconcile(kind="daily", day=day)
    except Exception:  # a demo problem must not stop seed_demo
        logger.exception("netcash demo cycle failed")
        stdout.write("netcash: debit-order demo failed (see the log).")
        return
    finally:
        settings.NETCASH = original
        standin.stop()
    statuses = sorted(DebitOrderItem.objects.filter(customer_id__in=[i.customer_id for i in pair])
                      .values_list("status", flat=True))
    stdout.write(f"netcash: 2 mandates signed, batch {run.batch_name} uploaded and authorised, debit orders "
                 f"{', '.join(statuses)} from the statement (NIWS stand-in).")


def _complete_once(*, reference: str, **kwargs) -> int:
    if PaymentTransaction.objects.filter(reference=reference).exists():
        return 0
    payment_complete(reference=reference, **kwargs)
    return 1


def _extra_payments(invoices: list[Invoice]) -> int:
    """A duplicate card payment by the first customer and an EFT paid in advance by the second."""
    paid = 0
    first = invoices[0]
    if first.payments.filter(reference=f"DEMO-PAY-{first.pk}").exists():
        paid += _complete_once(reference=f"DEMO-DUP-{first.pk}", amount=first.total, customer=first.customer,
                               method="card", provider="sandbox", invoice=first, provider_method="Card")
    if len(invoices) > 1:
        second = invoices[1]
        paid += _complete_once(reference=f"DEMO-EFT-{second.pk}", amount=ADVANCE, customer=second.customer,
                               method="eft", provider="netcash", provider_method="Bank EFT")
    return paid


def _refund_once(*, reference: str, amount: Decimal | None, reason: str) -> int:
    payment = PaymentTransaction.objects.filter(reference=reference).first()
    if payment is None or payment.refunds.exists():
        return 0
    refund_create(payment=payment, amount=amount, reason=reason, actor="seed_demo")
    return 1


def _refunds(invoices: list[Invoice]) -> int:
    """The duplicate is refunded in full, part of the advance EFT is paid back."""
    first, second = invoices[0], invoices[1] if len(invoices) > 1 else None
    count = _refund_once(reference=f"DEMO-DUP-{first.pk}", amount=None,
                         reason=f"Duplicate card payment for {first.number}")
    if second is not None:
        count += _refund_once(reference=f"DEMO-EFT-{second.pk}", amount=ADVANCE_REFUND,
                              reason="Part of an advance payment returned at the customer's request")
    return count


def _issue_receipts() -> int:
    """Receipt, PDF and receipt email for every completed demo payment still without them (the
    worker's `issue_receipt` task would make them too, later; it then finds them done)."""
    issued = 0
    demo = (PaymentTransaction.objects.filter(reference__startswith="DEMO-", status__in=RECEIPTED)
            .filter(Q(receipt__isnull=True) | Q(receipt__pdf="")))
    for payment_id in demo.order_by("pk").values_list("pk", flat=True):
        try:
            issued += receipt_issue(payment_id=payment_id) is not None
        except Exception:  # a PDF problem must not stop the demo; the receipt email went out without it
            logger.exception("demo receipt for payment %s: the PDF could not be rendered", payment_id)
    return issued
