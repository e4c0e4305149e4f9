"""The debit-order run: pick due invoices, hold what breaks a limit, submit one batch, reconcile.

    plan = debit_order_run_prepare(run_date=date(2026, 9, 1))      # writes the run + items
    debit_order_run_submit(run=plan.run)                            # uploads (outside any transaction)

Rules:
- Who: customers with auto-pay on and a primary, non-deleted debit-order method whose NetCash
  mandate is active.
- What: each open invoice with something due by the action date, collected once: unique
  (invoice, action_date) in the database, and invoices with an item queued / submitted / settled /
  returned on any date are skipped.
- When: NetCash TwoDay needs the action date at least 3 business days ahead (CONTRACTS 2.3);
  business days skip weekends and South African public holidays (`holidays`, ZA, incl. the
  Sunday -> Monday rule).
- Limits: an item above `NETCASH["PER_LINE_LIMIT"]`, or that would take the action date's total
  above `PER_DAY_LIMIT`, is stored as `held` with the reason and reported, never dropped.
- Money: Rands on our rows; the batch file carries cents (`netcash.build_twoday_batch`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

import holidays
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import Invoice
from circletel.http import ProviderError
from notifications.services import notify
from payments.clients import netcash
from payments.errors import PaymentError
from payments.models import DebitOrderItem, DebitOrderRun, PaymentMethod, PaymentTransaction
from payments.services.payments import payment_complete, payment_fail, payment_record_pending, payment_reverse

logger = logging.getLogger(__name__)
TWO_DAY_BUSINESS_DAYS = 3
ZERO = Decimal("0.00")
BLOCKING_STATUSES = (DebitOrderItem.Status.QUEUED, DebitOrderItem.Status.SUBMITTED, DebitOrderItem.Status.SETTLED,
                     DebitOrderItem.Status.RETURNED)


@lru_cache(maxsize=16)
def _za_holidays(year: int):
    return holidays.country_holidays("ZA", years=[year])


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _za_holidays(day.year)


def add_business_days(start: date, count: int) -> date:
    day = start
    while count > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def twoday_action_date(run_date: date) -> date:
    """The earliest valid TwoDay action date for a batch submitted on `run_date`."""
    return add_business_days(run_date, TWO_DAY_BUSINESS_DAYS)


@dataclass
class RunPlan:
    run: DebitOrderRun | None
    action_date: date
    queued: list = field(default_factory=list)  # (invoice number, amount)
    held: list = field(default_factory=list)  # (invoice number, amount, reason)
    skipped: int = 0
    dry_run: bool = False

    @property
    def total(self) -> Decimal:
        return sum((a for _, a in self.queued), ZERO)


def _eligible_methods():
    return (PaymentMethod.objects.select_related("customer", "customer__billing_account")
            .filter(method_type=PaymentMethod.Type.DEBIT_ORDER, is_primary=True, deleted_at__isnull=True,
                    mandate_status=PaymentMethod.MandateStatus.ACTIVE, customer__billing_account__auto_pay=True))


def _account_reference(method: PaymentMethod) -> str:
    return (method.mandate_reference or method.customer.account_number)[:22]


class _DryRunRollback(Exception):
    pass


def debit_order_run_prepare(*, run_date: date, dry_run: bool = False, job_run_id: int | None = None) -> RunPlan:
    """Create the run and its items for the TwoDay action date of `run_date` (or just plan it)."""
    action_date = twoday_action_date(run_date)
    plan = RunPlan(run=None, action_date=action_date, dry_run=dry_run)
    line_limit = settings.NETCASH["PER_LINE_LIMIT"]
    day_limit = settings.NETCASH["PER_DAY_LIMIT"]
    try:
        with transaction.atomic():
            run = DebitOrderRun.objects.create(action_date=action_date, batch_name="pending", job_run_id=job_run_id)
            run.batch_name = f"CT-DO-{action_date:%Y%m%d}-{run.pk}"
            day_total = (DebitOrderItem.objects.filter(action_date=action_date)
                         .exclude(status=DebitOrderItem.Status.HELD).aggregate(s=Sum("amount"))["s"] or ZERO)
            methods = {m.customer_id: m for m in _eligible_methods()}
            invoices = (Invoice.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(customer_id__in=list(methods), status__in=Invoice.OPEN_STATUSES,
                                due_date__lte=action_date)
                        .exclude(pk__in=DebitOrderItem.objects.filter(status__in=BLOCKING_STATUSES)
                                 .values("invoice_id"))
                        .order_by("due_date", "pk"))
            for invoice in invoices:
                amount = invoice.total - invoice.amount_paid
                if amount <= ZERO:
                    plan.skipped += 1
                    continue
                reason = ""
                if amount > line_limit:
                    reason = f"over the per-line limit R {line_limit}"
                elif day_total + amount > day_limit:
                    reason = f"over the per-day limit R {day_limit}"
                method = methods[invoice.customer_id]
                try:
                    with transaction.atomic():
                        item = DebitOrderItem.objects.create(
                            run=run, customer_id=invoice.customer_id, invoice=invoice, payment_method=method,
                            action_date=action_date, amount=amount, account_reference=_account_reference(method),
                            status=DebitOrderItem.Status.HELD if reason else DebitOrderItem.Status.QUEUED,
                            hold_reason=reason)
                except IntegrityError:  # a concurrent or earlier run already has it for this date
                    plan.skipped += 1
                    continue
                if reason:
                    plan.held.append((invoice.number, amount, reason))
                else:
                    day_total += amount
                    plan.queued.append((invoice.number, amount))
                    if not dry_run:
                        _notify_upcoming(item=item, invoice=invoice, method=method)
            run.item_count, run.held_count, run.total_amount = len(plan.queued), len(plan.held), plan.total
            run.status = DebitOrderRun.Status.PREPARED if plan.queued else DebitOrderRun.Status.EMPTY
            run.save()
            plan.run = run
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        plan.run = None
    return plan


def _notify_upcoming(*, item: DebitOrderItem, invoice: Invoice, method: PaymentMethod) -> None:
    customer = invoice.customer
    notify(event="debit_order_upcoming", customer=customer, idempotency_key=f"debit_order_upcoming:{item.pk}",
           context={"customer_name": f"{customer.first_name} {customer.last_name}".strip(), "amount": item.amount,
                    "debit_date": item.action_date, "account_masked": method.display_name,
                    "invoice_number": invoice.number})


def pending_payments_flag_stale(*, now=None, older_than_days: int = 7) -> int:
    """Pay Now EFT/retail payments still pending after `older_than_days` are flagged for staff.

    (NetCash offers no Pay Now status query in CONTRACTS; a later notify for the same reference
    completes them through the webhook.)"""
    now = now or timezone.now()
    return (PaymentTransaction.objects
            .filter(status=PaymentTransaction.Status.PENDING, needs_review=False,
                    created_at__lt=now - timedelta(days=older_than_days))
            .exclude(method=PaymentTransaction.Method.DEBIT_ORDER)
            .update(needs_review=True, review_note="Still pending after the reconciliation window; check NetCash."))


def debit_order_run_submit(*, run: DebitOrderRun, sleep=None) -> DebitOrderRun:
    """Upload the run's queued items as one TwoDay batch and record pending payments.

    The upload happens outside any transaction; the outcome is written afterwards. A failed run
    keeps its items queued with the error on the run, for staff to resubmit.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("debit_order_run_submit must not run inside a transaction (it calls NetCash)")
    run.refresh_from_db()
    if run.status not in (DebitOrderRun.Status.PREPARED, DebitOrderRun.Status.FAILED):
        return run
    items = list(run.items.filter(status=DebitOrderItem.Status.QUEUED).select_related("payment_method", "customer"))
    if not items:
        DebitOrderRun.objects.filter(pk=run.pk).update(status=DebitOrderRun.Status.EMPTY)
        run.refresh_from_db()
        return run
    lines = []
    for item in items:
        bank = item.payment_method.bank_details
        lines.append(netcash.DebitOrderLine(
            account_reference=item.account_reference, account_name=item.customer.account_number,
            holder_name=bank.get("account_holder", ""), account_type=1 if bank.get("account_type") != "savings" else 2,
            branch_code=bank.get("branch_code", ""), account_number=bank.get("account_number", ""),
            amount=item.amount))
    try:
        file_text = netcash.build_twoday_batch(batch_name=run.batch_name, action_date=run.action_date, lines=lines)
        token = netcash.batch_file_upload(file_text=file_text, sleep=sleep)
    except (ProviderError, Exception) as exc:  # noqa: BLE001 - any failure is kept on the run for staff
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        DebitOrderRun.objects.filter(pk=run.pk).update(status=DebitOrderRun.Status.FAILED, error=message[:2000])
        logger.error("debit-order run %s failed to submit: %s", run.batch_name, message)
        run.refresh_from_db()
        return run
    with transaction.atomic():
        for item in items:
            payment = payment_record_pending(
                reference=f"DO-{item.pk}", amount=item.amount, customer=item.customer, method="debit_order",
                provider="netcash", invoice=item.invoice, payment_method=item.payment_method,
                provider_method="Debit order", raw={"file_token": token, "action_date": run.action_date.isoformat()})
            DebitOrderItem.objects.filter(pk=item.pk).update(status=DebitOrderItem.Status.SUBMITTED, payment=payment)
        DebitOrderRun.objects.filter(pk=run.pk).update(status=DebitOrderRun.Status.SUBMITTED, file_token=token,
                                                       submitted_at=timezone.now(), error="")
    run.refresh_from_db()
    return run


# --- reconciliation -----------------------------------------------------------------------------------
def debit_order_item_settle(*, item: DebitOrderItem) -> PaymentTransaction:
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment", "customer", "invoice").get(pk=item.pk)
        if item.payment is None:
            raise PaymentError("This debit order was never submitted.")
        payment = payment_complete(reference=item.payment.reference, amount=item.amount, customer=item.customer,
                                   method="debit_order", provider="netcash", invoice=item.invoice,
                                   provider_method="Debit order", payment_method=item.payment_method)
        if item.status == DebitOrderItem.Status.SUBMITTED:
            DebitOrderItem.objects.filter(pk=item.pk).update(status=DebitOrderItem.Status.SETTLED)
    return payment


def debit_order_item_fail(*, item: DebitOrderItem, reason: str) -> PaymentTransaction:
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment", "customer", "invoice").get(pk=item.pk)
        if item.payment is None:
            raise PaymentError("This debit order was never submitted.")
        payment = payment_fail(reference=item.payment.reference, amount=item.amount, customer=item.customer,
                               method="debit_order", provider="netcash", invoice=item.invoice, reason=reason)
        if item.status == DebitOrderItem.Status.SUBMITTED:
            DebitOrderItem.objects.filter(pk=item.pk).update(status=DebitOrderItem.Status.FAILED, hold_reason=reason[:200])
    return payment


def debit_order_item_return(*, item: DebitOrderItem, reason: str) -> PaymentTransaction:
    """A settled debit order came back unpaid: reverse the payment, reopen, invoice the unpaid fee."""
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment").get(pk=item.pk)
        if item.status == DebitOrderItem.Status.RETURNED:
            return item.payment
        if item.status != DebitOrderItem.Status.SETTLED:
            raise PaymentError("Only a settled debit order can be returned.")
        payment = payment_reverse(payment=item.payment, reason=reason, unpaid_fee=settings.NETCASH.get("UNPAID_FEE"))
        DebitOrderItem.objects.filter(pk=item.pk).update(status=DebitOrderItem.Status.RETURNED, hold_reason=reason[:200])
    return payment


def debit_orders_reconcile(*, today: date, run=None, sleep=None) -> dict:
    """Re-check submitted runs: an UNSUCCESSFUL load report fails its items; once the action date
    has passed on a successfully loaded batch, its items settle (returns arrive later and are
    recorded with `debit_order_item_return`). NetCash calls happen outside transactions."""
    counts = {"settled": 0, "failed": 0, "waiting": 0}
    for batch in DebitOrderRun.objects.filter(status=DebitOrderRun.Status.SUBMITTED).exclude(file_token=""):
        try:
            report = netcash.request_load_report(file_token=batch.file_token, sleep=sleep)
        except ProviderError as exc:
            counts["waiting"] += 1
            if run is not None:
                run.fail_item(batch.batch_name, exc)
            continue
        DebitOrderRun.objects.filter(pk=batch.pk).update(load_report=report.raw[:20000])
        items = list(batch.items.filter(status=DebitOrderItem.Status.SUBMITTED))
        if report.status == "UNSUCCESSFUL":
            for item in items:
                debit_order_item_fail(item=item, reason="NetCash rejected the batch: " + "; ".join(report.errors)[:150])
                counts["failed"] += 1
        elif report.status.startswith("SUCCESSFUL") and batch.action_date <= today:
            for item in items:
                debit_order_item_settle(item=item)
                counts["settled"] += 1
        else:
            counts["waiting"] += len(items)
    return counts
