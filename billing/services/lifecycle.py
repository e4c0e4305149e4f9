"""Service lifecycle: activate, suspend, reactivate, cancel. The only code that changes a service's status.

Legal transitions: pending->active, active->suspended, suspended->active,
pending|active|suspended->cancelled. Every action needs a non-empty reason, runs under the
service's row lock, and appends a ServiceActionLog with before/after snapshots. An illegal
transition raises `IllegalTransitionError` and changes nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import CustomerService, Invoice, ServiceActionLog, Suspension
from billing.proration import billing_period, explain_prorata, overlap_days, prorata_days
from billing.services.invoices import (
    activation_lines,
    credit_note_create,
    credited_applied,
    credited_total,
    explanation_line,
    invoice_create,
    invoice_void,
)
from circletel.errors import ApplicationError

S = CustomerService.Status
ZERO = Decimal("0.00")


class LifecycleError(ApplicationError):
    pass


class IllegalTransitionError(LifecycleError):
    status_code = 409


LEGAL = {
    ServiceActionLog.Action.ACTIVATE: ({S.PENDING}, S.ACTIVE),
    ServiceActionLog.Action.SUSPEND: ({S.ACTIVE}, S.SUSPENDED),
    ServiceActionLog.Action.REACTIVATE: ({S.SUSPENDED}, S.ACTIVE),
    ServiceActionLog.Action.CANCEL: ({S.PENDING, S.ACTIVE, S.SUSPENDED}, S.CANCELLED),
}


def snapshot(service: CustomerService) -> dict:
    def iso(d):
        return d.isoformat() if d else None

    return {
        "status": service.status, "activation_date": iso(service.activation_date),
        "suspension_date": iso(service.suspension_date), "cancellation_date": iso(service.cancellation_date),
        "next_billing_date": iso(service.next_billing_date), "billing_day": service.billing_day,
        "monthly_price": str(service.monthly_price),
    }


def _actor_label(actor) -> str:
    return actor.get_username() if actor is not None else "system"


def _begin(service: CustomerService, action: str, reason: str) -> tuple[CustomerService, dict, str]:
    """Lock the row, check the reason and the transition; returns (locked service, before, target)."""
    reason = (reason or "").strip()
    if not reason:
        raise LifecycleError("A reason is required.", {"action": action})
    locked = (CustomerService.objects.select_for_update(of=("self",)).select_related("customer__billing_account")
              .get(pk=service.pk))
    allowed_from, target = LEGAL[action]
    if locked.status not in allowed_from:
        raise IllegalTransitionError(
            f"Cannot {action} a service that is {locked.status}.",
            {"action": action, "status": locked.status, "allowed_from": sorted(allowed_from)},
        )
    return locked, snapshot(locked), reason


def _finish(locked: CustomerService, action: str, before: dict, reason: str, actor) -> ServiceActionLog:
    return ServiceActionLog.objects.create(service=locked, action=action, reason=reason, actor=actor,
                                           actor_label=_actor_label(actor), previous_state=before,
                                           new_state=snapshot(locked))


def _sync_back(service: CustomerService, target: CustomerService) -> None:
    for f in ("status", "activation_date", "suspension_date", "cancellation_date", "next_billing_date",
              "zoho_sync_status"):
        setattr(service, f, getattr(target, f))


def _notify(event: str, service: CustomerService, key: str, extra: dict | None = None) -> None:
    from notifications.services import notify

    context = {"customer_name": service.customer.display_name, "account_number": service.customer.account_number,
               "package_name": service.package_name, "service_id": service.pk, **(extra or {})}
    notify(event=event, customer=service.customer, context=context, channels=("email", "sms"), idempotency_key=key)


def _zoho(service: CustomerService) -> None:
    from zoho_sync.services.outbox import enqueue_sync

    enqueue_sync(entity=service)


def service_activate(*, service: CustomerService, reason: str, actor=None, activation_date: date | None = None) -> Invoice:
    """pending -> active: set dates, issue the first (pro-rata + once-off fees) invoice; returns it."""
    activation_date = activation_date or timezone.localdate()
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.ACTIVATE, reason)
        locked.status = S.ACTIVE
        locked.activation_date = activation_date
        locked.next_billing_date = billing_period(activation_date, locked.billing_day)[1]
        locked.save(update_fields=["status", "activation_date", "next_billing_date", "updated_at"])
        invoice = invoice_create(customer=locked.customer, service=locked, invoice_type=Invoice.InvoiceType.PRO_RATA,
                                 lines=activation_lines(locked, activation_date), issue_date=activation_date,
                                 period_start=activation_date, period_end=locked.next_billing_date,
                                 created_by=_actor_label(actor))
        _finish(locked, ServiceActionLog.Action.ACTIVATE, before, reason, actor)
        _notify("service_activated", locked, f"service_activated:{locked.pk}",
                {"activation_date": activation_date, "billing_day": locked.billing_day,
                 "monthly_price": locked.monthly_price, "installation_address": locked.installation_address})
        _zoho(locked)
    _sync_back(service, locked)
    return invoice


def service_suspend(*, service: CustomerService, reason: str, kind: str = Suspension.Kind.CUSTOMER_REQUEST,
                    skip_billing: bool = False, actor=None, on: date | None = None) -> Suspension:
    """active -> suspended with a Suspension row (`skip_billing` days are not invoiced)."""
    on = on or timezone.localdate()
    if kind not in Suspension.Kind.values:
        raise LifecycleError("Unknown suspension kind.", {"kind": kind})
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.SUSPEND, reason)
        locked.status = S.SUSPENDED
        locked.suspension_date = on
        locked.save(update_fields=["status", "suspension_date", "updated_at"])
        suspension = Suspension.objects.create(service=locked, kind=kind, reason=reason, suspended_on=on,
                                               skip_billing=skip_billing)
        _finish(locked, ServiceActionLog.Action.SUSPEND, before, reason, actor)
        _notify("service_suspended", locked, f"service_suspended:{suspension.pk}",
                {"kind": kind, "suspended_on": on.isoformat(), "reason": reason})
        _zoho(locked)
    _sync_back(service, locked)
    return suspension


def service_reactivate(*, service: CustomerService, reason: str, actor=None, on: date | None = None) -> Suspension | None:
    """suspended -> active; closes the open suspension. For a skip-billing suspension the suspended
    days are not charged: days inside periods already invoiced are credited, and if the billing date
    passed while suspended a pro-rata invoice covers the rest of the current period."""
    on = on or timezone.localdate()
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.REACTIVATE, reason)
        suspension = Suspension.objects.select_for_update().filter(service=locked, reactivated_on__isnull=True).first()
        if suspension is not None:
            if on < suspension.suspended_on:
                raise LifecycleError("Reactivation cannot be before the suspension started.")
            suspension.reactivated_on = on
            suspension.save(update_fields=["reactivated_on"])
            if suspension.skip_billing:
                _settle_skipped_days(locked, suspension, actor)
        locked.status = S.ACTIVE
        locked.suspension_date = None
        locked.save(update_fields=["status", "suspension_date", "next_billing_date", "updated_at"])
        _finish(locked, ServiceActionLog.Action.REACTIVATE, before, reason, actor)
        _notify("service_reactivated", locked, f"service_reactivated:{suspension.pk if suspension else locked.pk}:{on}",
                {"reactivated_on": on.isoformat(), "reason": reason})
        _zoho(locked)
    _sync_back(service, locked)
    return suspension


def _settle_skipped_days(service: CustomerService, suspension: Suspension, actor) -> None:
    start, end = suspension.suspended_on, suspension.reactivated_on
    invoices = (Invoice.objects.filter(service=service, period_start__isnull=False, period_end__gt=start,
                                       period_start__lt=end).exclude(status=Invoice.Status.VOID).order_by("pk"))
    for invoice in invoices:
        # Credit the service charge for the suspended days inside this already-invoiced period.
        line = invoice.lines.filter(days_in_period__isnull=False).order_by("position").first()
        if line is None:
            continue
        days = overlap_days(line.period_start, line.period_end, start, end)
        _, amount = prorata_days(service.monthly_price, min(days, line.days_charged), line.days_in_period)
        amount = min(amount, invoice.total - credited_total(invoice))
        if amount > 0:
            credit_note_create(invoice=invoice, amount=amount, created_by=_actor_label(actor),
                               reason=f"Suspended {start} to {end}: {days}/{line.days_in_period} days not billed")
    if service.next_billing_date is not None and service.next_billing_date <= end:
        # The invoice run skipped this service while suspended: bill the rest of the current period
        # now, or let the run bill it when reactivated on a billing date.
        p_start, p_end = billing_period(end, service.billing_day)
        if p_start == end:
            service.next_billing_date = end
            return
        line = explanation_line(service, explain_prorata(service.monthly_price, end, service.billing_day))
        invoice_create(customer=service.customer, service=service, invoice_type=Invoice.InvoiceType.PRO_RATA,
                       lines=[line], issue_date=end, period_start=end, period_end=p_end,
                       created_by=_actor_label(actor))
        service.next_billing_date = p_end


def _undo_future_invoices(service: CustomerService, on: date, reason: str, actor) -> None:
    """Periods starting after the cancellation were invoiced in advance: void them, or credit if paid."""
    future = (Invoice.objects.filter(service=service, invoice_type=Invoice.InvoiceType.RECURRING, period_start__gt=on)
              .exclude(status=Invoice.Status.VOID).order_by("pk"))
    for invoice in future:
        if invoice.amount_paid > credited_applied(invoice):
            remaining = invoice.total - credited_total(invoice)
            if remaining > 0:
                credit_note_create(invoice=invoice, amount=remaining, created_by=_actor_label(actor),
                                   reason=f"Service cancelled on {on}: {reason}")
        else:
            invoice_void(invoice=invoice, reason=f"Service cancelled on {on}: {reason}", actor=_actor_label(actor))


def service_cancel(*, service: CustomerService, reason: str, actor=None, on: date | None = None) -> ServiceActionLog:
    """pending|active|suspended -> cancelled (no further invoices)."""
    on = on or timezone.localdate()
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.CANCEL, reason)
        locked.status = S.CANCELLED
        locked.cancellation_date = on
        locked.save(update_fields=["status", "cancellation_date", "updated_at"])
        Suspension.objects.filter(service=locked, reactivated_on__isnull=True).update(reactivated_on=on)
        _undo_future_invoices(locked, on, reason, actor)
        log = _finish(locked, ServiceActionLog.Action.CANCEL, before, reason, actor)
        _zoho(locked)
    _sync_back(service, locked)
    return log
