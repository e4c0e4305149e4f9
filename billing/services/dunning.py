"""Overdue marking and dunning (policy in `settings.DUNNING`), and reactivation when paid.

Daily, in this order, each step idempotent by the invoice's own markers:
0. account credit is applied to open invoices (`billing.services.credit.credit_apply_sweep`), and
   non-payment suspensions of customers with nothing overdue any more are lifted;
1. open invoices past their due date become `overdue`; the customer is told once (`overdue_notified_at`);
2. a pre-due email `PRE_DUE_REMINDER_DAYS` before the due date (`pre_due_reminder_sent_at`);
3. reminders by email + SMS in the windows 1-3, 4-7, 8+ days overdue: reminder k is sent once the
   invoice is in window k, at most `MAX_REMINDERS`, at least `MIN_HOURS_BETWEEN` after the last
   message about it (`reminders_sent`, `last_reminder_at`);
4. active services of customers with an invoice `SUSPEND_AFTER_DAYS` overdue are suspended for
   non-payment (system actor, reason recorded), except a service whose current period is paid and
   any service of an account whose balance is <= 0.
`customer_payment_received` reactivates non-payment suspensions once nothing is overdue.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import Customer, CustomerService, Invoice, Suspension
from billing.services.lifecycle import LifecycleError, service_reactivate, service_suspend
from circletel.jobs import job_run

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
OPEN = list(Invoice.OPEN_STATUSES)


def _policy() -> dict:
    return settings.DUNNING


def _context(invoice: Invoice, today: date, **extra) -> dict:
    return {"customer_name": invoice.customer.display_name, "account_number": invoice.customer.account_number,
            "invoice_number": invoice.number, "amount_due": invoice.total - invoice.amount_paid,
            "due_date": invoice.due_date, "days_overdue": max(0, (today - invoice.due_date).days),
            "suspend_date": invoice.due_date + timedelta(days=_policy()["SUSPEND_AFTER_DAYS"]), **extra}


def _notify(event: str, invoice: Invoice, key: str, context: dict, channels=("email",)) -> None:
    from notifications.services import notify

    notify(event=event, customer=invoice.customer, context=context, channels=channels, idempotency_key=key)


def _locked_open(invoice_id: int) -> Invoice | None:
    return (Invoice.objects.select_for_update(of=("self",)).select_related("customer__billing_account")
            .filter(pk=invoice_id, status__in=OPEN).first())


def invoices_mark_overdue(*, today: date) -> int:
    """Open invoices past due -> overdue, with one `invoice_overdue` notice each."""
    count = 0
    ids = Invoice.objects.filter(status__in=[Invoice.Status.UNPAID, Invoice.Status.PARTIAL], due_date__lt=today)
    for pk in ids.values_list("pk", flat=True).order_by("pk").iterator(chunk_size=2000):
        with transaction.atomic():
            invoice = _locked_open(pk)
            if invoice is None or invoice.amount_paid >= invoice.total:
                continue
            invoice.status = Invoice.Status.OVERDUE
            fields = ["status", "updated_at"]
            if invoice.overdue_notified_at is None:
                _notify("invoice_overdue", invoice, f"invoice_overdue:{pk}", _context(invoice, today),
                        channels=("email", "sms"))
                invoice.overdue_notified_at = timezone.now()
                fields.append("overdue_notified_at")
            invoice.save(update_fields=fields)
            count += 1
    return count


def invoices_send_pre_due(*, today: date) -> int:
    days = _policy()["PRE_DUE_REMINDER_DAYS"]
    qs = Invoice.objects.filter(status__in=[Invoice.Status.UNPAID, Invoice.Status.PARTIAL],
                                pre_due_reminder_sent_at__isnull=True, due_date__gt=today,
                                due_date__lte=today + timedelta(days=days))
    count = 0
    for pk in qs.values_list("pk", flat=True).order_by("pk").iterator(chunk_size=2000):
        with transaction.atomic():
            invoice = _locked_open(pk)
            if invoice is None or invoice.pre_due_reminder_sent_at is not None:
                continue
            _notify("invoice_pre_due", invoice, f"invoice_pre_due:{pk}", _context(invoice, today),
                    channels=("email", "sms"))
            invoice.pre_due_reminder_sent_at = timezone.now()
            invoice.save(update_fields=["pre_due_reminder_sent_at", "updated_at"])
            count += 1
    return count


def reminder_window(days_overdue: int) -> int:
    """1-based index of the reminder window `days_overdue` falls in (0 = not overdue)."""
    index = 0
    for i, (lo, _hi) in enumerate(_policy()["REMINDER_WINDOWS"], start=1):
        if days_overdue >= lo:
            index = i
    return index


def invoices_send_reminders(*, today: date, now: datetime | None = None) -> int:
    policy = _policy()
    now = now or timezone.now()
    gap = timedelta(hours=policy["MIN_HOURS_BETWEEN"])
    qs = Invoice.objects.filter(status=Invoice.Status.OVERDUE, reminders_sent__lt=policy["MAX_REMINDERS"],
                                due_date__lt=today)
    count = 0
    for pk in qs.values_list("pk", flat=True).order_by("pk").iterator(chunk_size=2000):
        with transaction.atomic():
            invoice = _locked_open(pk)
            if invoice is None:
                continue
            days_overdue = (today - invoice.due_date).days
            due_number = min(reminder_window(days_overdue), policy["MAX_REMINDERS"])
            last_contact = max([t for t in (invoice.last_reminder_at, invoice.overdue_notified_at) if t], default=None)
            if invoice.reminders_sent >= due_number or (last_contact and now - last_contact < gap):
                continue
            number = invoice.reminders_sent + 1
            _notify("invoice_reminder", invoice, f"invoice_reminder:{pk}:{number}",
                    _context(invoice, today, reminder_number=number), channels=("email", "sms"))
            invoice.reminders_sent = number
            invoice.last_reminder_at = now
            invoice.save(update_fields=["reminders_sent", "last_reminder_at", "updated_at"])
            count += 1
    return count


def _current_period_paid(service: CustomerService, today: date) -> bool:
    """True when the invoice covering today for this service is fully paid (never cut a paid period)."""
    covering = (Invoice.objects.filter(service=service, period_start__lte=today, period_end__gt=today)
                .exclude(status=Invoice.Status.VOID))
    return covering.exists() and not covering.exclude(status=Invoice.Status.PAID).exists()


def services_suspend_for_non_payment(*, today: date) -> int:
    """Suspend for non-payment, never an account that owes nothing (balance <= 0: credit covers it)."""
    cutoff = today - timedelta(days=_policy()["SUSPEND_AFTER_DAYS"])
    late = Invoice.objects.filter(status=Invoice.Status.OVERDUE, due_date__lte=cutoff,
                                  customer__billing_account__balance__gt=0)
    customers = late.values_list("customer_id", flat=True).distinct()
    services = CustomerService.objects.filter(customer_id__in=customers, status=CustomerService.Status.ACTIVE)
    count = 0
    for service in services.select_related("customer").order_by("pk").iterator(chunk_size=500):
        if _current_period_paid(service, today):
            continue
        oldest = late.filter(customer_id=service.customer_id).order_by("due_date", "pk").first()
        reason = (f"Non-payment: invoice {oldest.number} is {(today - oldest.due_date).days} days overdue "
                  f"(R {oldest.total - oldest.amount_paid:,.2f} due).")
        try:
            service_suspend(service=service, reason=reason, kind=Suspension.Kind.NON_PAYMENT, on=today)
        except LifecycleError as exc:  # changed state meanwhile (cancelled, suspended by staff)
            logger.info("not suspending service %s: %s", service.pk, exc.message)
            continue
        count += 1
    return count


def overdue_amount(*, customer: Customer, today: date | None = None) -> Decimal:
    today = today or timezone.localdate()
    total = (Invoice.objects.filter(customer=customer, status__in=OPEN)
             .filter(Q(status=Invoice.Status.OVERDUE) | Q(due_date__lt=today)).aggregate(s=Sum("amount_due"))["s"])
    return total or ZERO


def customer_payment_received(*, customer: Customer, today: date | None = None) -> list[CustomerService]:
    """Called by payments after allocating a payment: reactivate non-payment suspensions when nothing is overdue."""
    today = today or timezone.localdate()
    suspended = CustomerService.objects.filter(
        customer=customer, status=CustomerService.Status.SUSPENDED,
        suspensions__reactivated_on__isnull=True, suspensions__kind=Suspension.Kind.NON_PAYMENT).distinct()
    suspended = list(suspended.order_by("pk"))
    if not suspended:  # the usual case: one query, and no overdue sum to compute
        return []
    if overdue_amount(customer=customer, today=today) > 0:
        return []
    reactivated = []
    for service in suspended:
        try:
            service_reactivate(service=service, on=today,
                               reason="Payment received: the overdue balance is paid in full (automatic reactivation).")
        except LifecycleError as exc:
            logger.info("not reactivating service %s: %s", service.pk, exc.message)
            continue
        reactivated.append(service)
    return reactivated


def services_reactivate_paid(*, today: date) -> int:
    """Non-payment suspensions of customers who no longer owe anything overdue (paid by credit, say)."""
    customers = (Suspension.objects.filter(kind=Suspension.Kind.NON_PAYMENT, reactivated_on__isnull=True,
                                           service__status=CustomerService.Status.SUSPENDED)
                 .values_list("service__customer_id", flat=True).distinct())
    count = 0
    for customer in Customer.objects.filter(pk__in=list(customers)).order_by("pk"):
        count += len(customer_payment_received(customer=customer, today=today))
    return count


def dunning_run(*, today: date | None = None, triggered_by: str = "schedule") -> int:
    """The daily pass; returns the JobRun id. Credit is applied first, so dunning chases only what is owed."""
    from billing.services.credit import credit_apply_sweep

    today = today or timezone.localdate()
    # One live pass per day; a pass whose worker died is resumed for the same day (billing/apps.py):
    # every step is idempotent (reminders by their notification keys, suspensions by state).
    with job_run("dunning", triggered_by=triggered_by, run_key=today.isoformat(),
                 args={"run_date": today.isoformat()}) as run:
        run.details["today"] = today.isoformat()
        run.details["credit_applied"] = str(credit_apply_sweep()["amount"])
        run.details["reactivated"] = services_reactivate_paid(today=today)
        run.details["marked_overdue"] = invoices_mark_overdue(today=today)
        run.details["pre_due_sent"] = invoices_send_pre_due(today=today)
        run.details["reminders_sent"] = invoices_send_reminders(today=today)
        run.details["suspended"] = services_suspend_for_non_payment(today=today)
        run.processed = sum(run.details[k] for k in ("reactivated", "marked_overdue", "pre_due_sent", "reminders_sent",
                                                     "suspended"))
    return run.id
