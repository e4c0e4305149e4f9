"""The debit-order run as NetCash runs it: pick due invoices, hold what breaks a limit, upload one batch,
read its load report line by line, authorise, follow the batch status. Money settles ONLY from the
merchant statement (`payments.services.netcash_statement`): a load report of `SUCCESSFUL` says the file
was read, not that anyone paid, and an uploaded batch is not collected until it is authorised
(CONTRACTS 2.2, corrected 2026-12).

    plan = debit_order_run_prepare(run_date=date(2026, 9, 1))      # writes the run + items
    debit_order_run_submit(run=plan.run)                            # uploads (outside any transaction)
    debit_order_runs_check(now=...)                                 # load report, authorise, batch status

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
- Owed: never from an account whose billing balance is <= 0 (credit pays invoices first), and never
  more than the balance: a customer's items on one date add up to at most what they owe.
- Load report: a line error (`Acc Ref :<ref><TAB>Line :<n><TAB><message>`) rejects that item: its
  pending payment fails with the reason and the invoice stays unpaid; it is never settled.
  `UNSUCCESSFUL` rejects every item.
- Authorise: `RequestBatchAuthorise` when `NETCASH["AUTO_AUTHORISE"]` is on; otherwise the run waits
  in "awaiting authorisation" until staff authorise it in the NetCash portal, by the cut-off
  (23:59 two business days before the action date). Past the cut-off unauthorised, its items fail
  ("not authorised in time") so the invoices can be collected by a later run.
- Money: Rands on our rows; the batch file carries cents (`netcash.build_twoday_batch`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

import holidays
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import Invoice
from circletel.http import ProviderError
from notifications.services import notify, notify_ops
from payments.clients import netcash, netcash_niws
from payments.errors import PaymentError
from payments.models import DebitOrderItem, DebitOrderRun, PaymentMethod, PaymentTransaction
from payments.services.payments import payment_complete, payment_fail, payment_record_pending, payment_reverse

logger = logging.getLogger(__name__)
TWO_DAY_BUSINESS_DAYS = 3
AUTHORISE_BUSINESS_DAYS_BEFORE = 2  # TwoDay: authorised by 23:59 two business days before (CONTRACTS 2.2)
ZERO = Decimal("0.00")
FIRST_TRANSACTION_LINE = 3  # H (line 1), K (line 2), then the T lines: the load report's "Line :n"
BLOCKING_STATUSES = (DebitOrderItem.Status.QUEUED, DebitOrderItem.Status.SUBMITTED, DebitOrderItem.Status.SETTLED,
                     DebitOrderItem.Status.RETURNED)
Run = DebitOrderRun.Status
Item = DebitOrderItem.Status


@lru_cache(maxsize=16)
def _za_holidays(year: int):
    return holidays.country_holidays("ZA", years=[year])


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _za_holidays(day.year)


def add_business_days(start: date, count: int) -> date:
    """`count` business days after `start` (before it when negative)."""
    day, step, left = start, (1 if count >= 0 else -1), abs(count)
    while left > 0:
        day += timedelta(days=step)
        if is_business_day(day):
            left -= 1
    return day


def twoday_action_date(run_date: date) -> date:
    """The earliest valid TwoDay action date for a batch submitted on `run_date`."""
    return add_business_days(run_date, TWO_DAY_BUSINESS_DAYS)


def authorise_cutoff(action_date: date) -> datetime:
    """23:59 (SAST) two business days before the action date: a TwoDay batch authorised later does not
    run on that date (CONTRACTS 2.2, help.netcash.co.za netconnector/debit-orders)."""
    day = add_business_days(action_date, -AUTHORISE_BUSINESS_DAYS_BEFORE)
    return timezone.make_aware(datetime.combine(day, time(23, 59)), timezone.get_default_timezone())


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
    """Create the run and its items for the TwoDay action date of `run_date` (or just plan it).

    A customer is collected only while their billing balance is above zero, and never for more than
    it: the balance already counts credit and unallocated payments (credit pays new invoices first),
    so an invoice whose "amount due" exceeds what the account owes is collected only up to the balance.
    """
    action_date = twoday_action_date(run_date)
    plan = RunPlan(run=None, action_date=action_date, dry_run=dry_run)
    line_limit = settings.NETCASH["PER_LINE_LIMIT"]
    day_limit = settings.NETCASH["PER_DAY_LIMIT"]
    try:
        with transaction.atomic():
            run = DebitOrderRun.objects.create(action_date=action_date, batch_name="pending", job_run_id=job_run_id,
                                               authorise_by=authorise_cutoff(action_date))
            run.batch_name = f"CT-DO-{action_date:%Y%m%d}-{run.pk}"
            day_total = (DebitOrderItem.objects.filter(action_date=action_date)
                         .exclude(status__in=(Item.HELD, Item.REJECTED, Item.FAILED))
                         .aggregate(s=Sum("amount"))["s"] or ZERO)
            methods = {m.customer_id: m for m in _eligible_methods()}
            owed = {cid: m.customer.billing_account.balance for cid, m in methods.items()}
            invoices = (Invoice.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(customer_id__in=list(methods), status__in=Invoice.OPEN_STATUSES,
                                due_date__lte=action_date)
                        .exclude(pk__in=DebitOrderItem.objects.filter(status__in=BLOCKING_STATUSES)
                                 .values("invoice_id"))
                        .order_by("due_date", "pk"))
            for invoice in invoices:
                amount = min(invoice.total - invoice.amount_paid, owed.get(invoice.customer_id, ZERO))
                if amount <= ZERO:  # paid, or the account owes nothing (in credit)
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
                            status=Item.HELD if reason else Item.QUEUED, hold_reason=reason)
                except IntegrityError:  # a concurrent or earlier run already has it for this date
                    plan.skipped += 1
                    continue
                if reason:
                    plan.held.append((invoice.number, amount, reason))
                else:
                    day_total += amount
                    owed[invoice.customer_id] -= amount
                    plan.queued.append((invoice.number, amount))
                    if not dry_run:
                        _notify_upcoming(item=item, invoice=invoice, method=method)
            run.item_count, run.held_count, run.total_amount = len(plan.queued), len(plan.held), plan.total
            run.status = Run.PREPARED if plan.queued else Run.EMPTY
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
    keeps its items queued with the error on the run, for staff to resubmit. Each item keeps its
    line number in the file, which the load report names for a rejected line.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("debit_order_run_submit must not run inside a transaction (it calls NetCash)")
    run.refresh_from_db()
    if run.status not in (Run.PREPARED, Run.FAILED):
        return run
    items = list(run.items.filter(status=Item.QUEUED).select_related("payment_method", "customer").order_by("pk"))
    if not items:
        DebitOrderRun.objects.filter(pk=run.pk).update(status=Run.EMPTY)
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
        token = netcash_niws.batch_file_upload(file_text=file_text, sleep=sleep)
    except (ProviderError, Exception) as exc:  # noqa: BLE001 - any failure is kept on the run for staff
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        DebitOrderRun.objects.filter(pk=run.pk).update(status=Run.FAILED, error=message[:2000])
        logger.error("debit-order run %s failed to submit: %s", run.batch_name, message)
        run.refresh_from_db()
        return run
    with transaction.atomic():
        for position, item in enumerate(items):
            payment = payment_record_pending(
                reference=f"DO-{item.pk}", amount=item.amount, customer=item.customer, method="debit_order",
                provider="netcash", invoice=item.invoice, payment_method=item.payment_method,
                provider_method="Debit order", raw={"file_token": token, "action_date": run.action_date.isoformat()})
            DebitOrderItem.objects.filter(pk=item.pk).update(status=Item.SUBMITTED, payment=payment,
                                                             line_number=FIRST_TRANSACTION_LINE + position)
        DebitOrderRun.objects.filter(pk=run.pk).update(status=Run.SUBMITTED, file_token=token,
                                                       submitted_at=timezone.now(), error="")
    run.refresh_from_db()
    return run


# --- after the upload: load report, authorisation, batch status (no money moves here) ----------------------
def debit_order_item_reject(*, item: DebitOrderItem, reason: str, status: str = Item.REJECTED) -> DebitOrderItem:
    """A submitted item NetCash will not collect (a rejected line, a rejected or unauthorised batch):
    its pending payment fails with the reason, the invoice stays unpaid (and can be collected later)."""
    with transaction.atomic():
        item = (DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment", "customer", "invoice")
                .get(pk=item.pk))
        if item.status != Item.SUBMITTED:
            return item
        if item.payment is not None:
            payment_fail(reference=item.payment.reference, amount=item.amount, customer=item.customer,
                         method="debit_order", provider="netcash", invoice=item.invoice, reason=reason)
        DebitOrderItem.objects.filter(pk=item.pk).update(status=status, hold_reason=reason[:200])
        item.status, item.hold_reason = status, reason[:200]
    return item


def _apply_load_report(*, run: DebitOrderRun, report: netcash_niws.LoadReport) -> int:
    """Reject the items the report names (by line number, else by account reference); all of them when
    the file was UNSUCCESSFUL. Returns how many items were rejected."""
    submitted = list(run.items.filter(status=Item.SUBMITTED).order_by("pk"))
    rejected: dict[int, list[str]] = {}
    if report.status == "UNSUCCESSFUL":
        reason = "NetCash rejected the batch: " + ("; ".join(report.errors) or "load report UNSUCCESSFUL")
        for item in submitted:
            rejected[item.pk] = [reason]
    else:
        by_line = {i.line_number: i for i in submitted if i.line_number}
        by_ref: dict[str, list[DebitOrderItem]] = {}
        for i in submitted:
            by_ref.setdefault(i.account_reference, []).append(i)
        for error in report.line_errors:
            item = by_line.get(error.line_number)
            if item is None or item.account_reference != error.account_reference:
                candidates = by_ref.get(error.account_reference) or []
                item = candidates[0] if len(candidates) == 1 else item
            if item is None:
                logger.warning("load report of %s names a line we did not send: %s", run.batch_name, error)
                continue
            rejected.setdefault(item.pk, []).append(error.message)
    by_pk = {i.pk: i for i in submitted}
    for pk, messages in rejected.items():
        reason = messages[0] if messages[0].startswith("NetCash rejected") else \
            "Rejected by NetCash: " + "; ".join(messages)
        debit_order_item_reject(item=by_pk[pk], reason=reason[:200])
    return len(rejected)


def _our_batch(run: DebitOrderRun, sleep=None) -> netcash_niws.BatchStatus | None:
    for batch in netcash_niws.retrieve_batch_status(sleep=sleep):
        if batch.batch_name == run.batch_name:
            return batch
    return None


def debit_order_run_check(*, run: DebitOrderRun, now=None, sleep=None) -> DebitOrderRun:
    """One step of a submitted run, as far as NetCash has got (outside any transaction: it calls NetCash).

    submitted -> load report read: rejected lines fail; the run moves to authorised (auto-authorise)
    or awaiting authorisation; UNSUCCESSFUL -> rejected. awaiting/authorised -> RetrieveBatchStatus:
    authorised (2, 3), processed (4); unauthorised past the cut-off -> expired (items fail).
    Items never settle here: only statement lines settle them.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("debit_order_run_check calls NetCash: run it outside a transaction")
    now = now or timezone.now()
    run.refresh_from_db()
    if run.status == Run.SUBMITTED and run.file_token:
        report = netcash_niws.request_load_report(file_token=run.file_token, sleep=sleep)
        if report.status == "PENDING":
            return run
        rejected = _apply_load_report(run=run, report=report)
        status = Run.REJECTED if report.status == "UNSUCCESSFUL" else Run.AWAITING_AUTHORISATION
        DebitOrderRun.objects.filter(pk=run.pk, status=Run.SUBMITTED).update(
            status=status, load_report=report.raw[:20000], load_status=report.status, rejected_count=rejected)
        run.refresh_from_db()
        if status == Run.REJECTED:
            _alert_run(run, f"NetCash rejected batch {run.batch_name}: {'; '.join(report.errors)[:200]}")
            return run
        if rejected:
            _alert_run(run, f"{rejected} line(s) of batch {run.batch_name} rejected by NetCash; "
                            "their invoices stay unpaid with the reason.")
    if run.status in (Run.AWAITING_AUTHORISATION, Run.AUTHORISED):
        if not run.items.filter(status=Item.SUBMITTED).exists() and run.status == Run.AWAITING_AUTHORISATION:
            DebitOrderRun.objects.filter(pk=run.pk).update(status=Run.REJECTED)
            run.refresh_from_db()
            return run
        batch = _our_batch(run, sleep=sleep)
        updates = {"batch_checked_at": now}
        if batch is not None:
            updates |= {"netcash_batch_id": batch.batch_id[:64], "batch_status": batch.status_name[:30]}
            if batch.status_code in (2, 3) and run.status == Run.AWAITING_AUTHORISATION:
                updates |= {"status": Run.AUTHORISED, "authorised_at": now}
            elif batch.status_code == 4:
                updates |= {"status": Run.PROCESSED, "authorised_at": run.authorised_at or now}
            elif (batch.status_code == 1 and run.status == Run.AWAITING_AUTHORISATION
                  and settings.NETCASH.get("AUTO_AUTHORISE")):
                try:
                    netcash_niws.request_batch_authorise(batch_indicator=batch.batch_id, sleep=sleep)
                    updates |= {"status": Run.AUTHORISED, "authorised_at": now, "error": ""}
                except ProviderError as exc:
                    updates |= {"error": f"RequestBatchAuthorise failed: {exc.message}"[:2000]}
                    _alert_run(run, f"Batch {run.batch_name} could not be authorised automatically: {exc.message}; "
                                    f"authorise it in the NetCash portal by {timezone.localtime(run.authorise_by):%Y-%m-%d %H:%M}.")
        DebitOrderRun.objects.filter(pk=run.pk).update(**updates)
        run.refresh_from_db()
        if run.status == Run.AWAITING_AUTHORISATION and run.authorise_by and now > run.authorise_by:
            debit_order_run_expire(run=run)
            run.refresh_from_db()
    return run


def debit_order_run_expire(*, run: DebitOrderRun) -> DebitOrderRun:
    """The cut-off passed without authorisation: NetCash will not collect on the action date."""
    reason = f"Batch not authorised by the cut-off ({timezone.localtime(run.authorise_by):%Y-%m-%d %H:%M})"
    for item in run.items.filter(status=Item.SUBMITTED):
        debit_order_item_reject(item=item, reason=reason, status=Item.FAILED)
    DebitOrderRun.objects.filter(pk=run.pk, status=Run.AWAITING_AUTHORISATION).update(status=Run.EXPIRED,
                                                                                        error=reason)
    _alert_run(run, f"{reason}: batch {run.batch_name} will not be collected.")
    run.refresh_from_db()
    return run


def _alert_run(run: DebitOrderRun, note: str) -> None:
    try:
        notify_ops(event="debit_order_run_attention", idempotency_key=f"debit_order_run:{run.pk}:{note[:60]}",
                   context={"batch": run.batch_name, "note": note}, email=False)
    except Exception:  # an alert must never stop the run
        logger.exception("could not alert ops about debit-order run %s", run.pk)


def debit_order_runs_check(*, now=None, sleep=None, job=None) -> dict:
    """Every run NetCash still has work on: one `debit_order_run_check` each. Failures are kept per run."""
    counts = {"checked": 0, "errors": 0}
    for run in DebitOrderRun.objects.filter(status__in=(Run.SUBMITTED, Run.AWAITING_AUTHORISATION, Run.AUTHORISED)):
        try:
            debit_order_run_check(run=run, now=now, sleep=sleep)
            counts["checked"] += 1
        except (ProviderError, ImproperlyConfigured) as exc:
            counts["errors"] += 1
            DebitOrderRun.objects.filter(pk=run.pk).update(error=str(getattr(exc, "message", exc))[:2000])
            if job is not None:
                job.fail_item(run.batch_name, exc)
    return counts


# --- statement outcomes for one item (the statement reconciliation calls these) -----------------------------
def debit_order_item_settle(*, item: DebitOrderItem) -> PaymentTransaction:
    """A statement success line for this item: complete its payment (allocate, receipt, ZOHO). Only the
    statement reconciliation calls this (`payments.services.netcash_statement`)."""
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment", "customer", "invoice").get(pk=item.pk)
        if item.payment is None:
            raise PaymentError("This debit order was never submitted.")
        payment = payment_complete(reference=item.payment.reference, amount=item.amount, customer=item.customer,
                                   method="debit_order", provider="netcash", invoice=item.invoice,
                                   provider_method="Debit order", payment_method=item.payment_method)
        if item.status == Item.SUBMITTED:
            DebitOrderItem.objects.filter(pk=item.pk).update(status=Item.SETTLED)
    return payment


def debit_order_item_fail(*, item: DebitOrderItem, reason: str, unpaid_code: str = "") -> PaymentTransaction:
    """An unpaid line for an item no success line settled: its payment fails, the invoice stays open."""
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment", "customer", "invoice").get(pk=item.pk)
        if item.payment is None:
            raise PaymentError("This debit order was never submitted.")
        payment = payment_fail(reference=item.payment.reference, amount=item.amount, customer=item.customer,
                               method="debit_order", provider="netcash", invoice=item.invoice, reason=reason)
        if item.status == Item.SUBMITTED:
            DebitOrderItem.objects.filter(pk=item.pk).update(status=Item.FAILED, hold_reason=reason[:200],
                                                             unpaid_code=unpaid_code[:10])
    return payment


def debit_order_item_return(*, item: DebitOrderItem, reason: str, unpaid_code: str = "") -> PaymentTransaction:
    """A settled debit order came back unpaid: reverse the payment (ledger, invoices reopen so dunning
    picks them up again, ZOHO mirror, the customer told with the reason in words), invoice the unpaid fee."""
    with transaction.atomic():
        item = DebitOrderItem.objects.select_for_update(of=("self",)).select_related("payment").get(pk=item.pk)
        if item.status == Item.RETURNED:
            return item.payment
        if item.status != Item.SETTLED:
            raise PaymentError("Only a settled debit order can be returned.")
        payment = payment_reverse(payment=item.payment, reason=reason, unpaid_fee=settings.NETCASH.get("UNPAID_FEE"))
        DebitOrderItem.objects.filter(pk=item.pk).update(status=Item.RETURNED, hold_reason=reason[:200],
                                                         unpaid_code=unpaid_code[:10])
    return payment
