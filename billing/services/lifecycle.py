"""Service lifecycle: activate, suspend, reactivate, cancel. The only code that changes a service's status.

Legal transitions: pending->active, active->suspended, suspended->active,
pending|active|suspended->cancelled. Every action needs a non-empty reason, runs under the
service's row lock, and appends a ServiceActionLog with before/after snapshots. An illegal
transition raises `IllegalTransitionError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from billing.models import BillingAccount, CustomerService, Invoice, ServiceActionLog, Suspension
from billing.proration import BILLING_DAYS, billing_period, explain_prorata
from billing.services.invoices import (
    activation_lines,
    credit_note_create,
    credited_applied,
    credited_total,
    explanation_line,
    invoice_create,
    invoice_totals,
    invoice_void,
    line_credit,
    prices_include_vat_for,
)
from circletel.errors import ApplicationError

S = CustomerService.Status
ZERO = Decimal("0.00")
CANCELLATION_POLICIES = ("credit_unused", "bill_to_period_end")


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


def _lock_with_reason(service: CustomerService, action: str, reason: str) -> tuple[CustomerService, str]:
    """Check the reason is given, then lock the service row; returns (locked service, stripped reason)."""
    reason = (reason or "").strip()
    if not reason:
        raise LifecycleError("A reason is required.", {"action": action})
    locked = (CustomerService.objects.select_for_update(of=("self",)).select_related("customer__billing_account")
              .get(pk=service.pk))
    return locked, reason


def _begin(service: CustomerService, action: str, reason: str) -> tuple[CustomerService, dict, str]:
    """Lock the row, check the reason and the transition; returns (locked service, before, target)."""
    locked, reason = _lock_with_reason(service, action, reason)
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
                    skip_billing: bool = False, actor=None, on: date | None = None,
                    customer_message: str = "") -> Suspension:
    """active -> suspended with a Suspension row (`skip_billing` days are not invoiced).

    `reason` is staff's (the action log); the customer is told `customer_message`, or the standard
    words for the kind (`Suspension.STANDARD_MESSAGES`), never the internal reason."""
    customer_message = " ".join((customer_message or "").split())[:300]
    on = on or timezone.localdate()
    if kind not in Suspension.Kind.values:
        raise LifecycleError("Unknown suspension kind.", {"kind": kind})
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.SUSPEND, reason)
        locked.status = S.SUSPENDED
        locked.suspension_date = on
        locked.save(update_fields=["status", "suspension_date", "updated_at"])
        suspension = Suspension.objects.create(service=locked, kind=kind, reason=reason, suspended_on=on,
                                               skip_billing=skip_billing, customer_message=customer_message)
        _finish(locked, ServiceActionLog.Action.SUSPEND, before, reason, actor)
        _notify("service_suspended", locked, f"service_suspended:{suspension.pk}",
                {"kind": kind, "suspended_on": on.isoformat(), "message": suspension.message_for_customer})
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


@dataclass(frozen=True)
class PlannedCredit:
    """One step of undoing days already invoiced: void an untouched invoice, or credit some of it."""

    invoice: Invoice
    action: str  # "void" | "credit"
    amount: Decimal  # what the customer gets back (VAT-inclusive)
    reason: str
    period_start: date | None = None  # the days a credit gives back: [period_start, period_end)
    period_end: date | None = None


def _credited_days(invoice: Invoice) -> set[date]:
    """Days of this invoice that earlier time-based credits already gave back (never credited twice)."""
    days: set[date] = set()
    for first, after in invoice.credit_notes.filter(period_start__isnull=False).values_list("period_start",
                                                                                             "period_end"):
        days.update(first + timedelta(days=i) for i in range((after - first).days))
    return days


def _unused_days_plan(service: CustomerService, start: date, end: date | None, why: str) -> list[PlannedCredit]:
    """What to give back for the days [start, end) (end None: open-ended) of periods already invoiced.

    Computed from the invoiced lines (their price and VAT basis, `line_credit`), never today's
    price. A monthly invoice whose whole period lies inside the range and that nothing has paid is
    voided; everything else gets a credit note for the days, capped at what is still uncredited."""
    invoices = (Invoice.objects.filter(service=service, period_start__isnull=False, period_end__gt=start)
                .exclude(status=Invoice.Status.VOID).prefetch_related("lines").order_by("pk"))
    if end is not None:
        invoices = invoices.filter(period_start__lt=end)
    plan = []
    for invoice in invoices:
        lines = list(invoice.lines.all())
        whole = invoice.period_start >= start and (end is None or invoice.period_end <= end)
        if (whole and invoice.invoice_type == Invoice.InvoiceType.RECURRING
                and invoice.amount_paid <= credited_applied(invoice)):
            plan.append(PlannedCredit(invoice, "void", invoice.total - credited_total(invoice), why))
            continue
        gross = sum((x.amount for x in lines), ZERO)
        already = _credited_days(invoice)
        amount, days_text, given = ZERO, [], []
        for line in lines:
            if line.days_in_period is None or line.period_start is None or line.period_end is None:
                continue  # once-off charges (installation, router) are not time-based
            first, after = max(line.period_start, start), line.period_end if end is None else min(line.period_end, end)
            wanted = [first + timedelta(days=i) for i in range(max(0, (after - first).days))]
            new_days = [d for d in wanted if d not in already]  # a day is given back once, whatever changes
            if not new_days:
                continue
            amount += line_credit(invoice, line, len(new_days), gross_lines=gross)
            days_text.append(f"{min(len(new_days), line.days_charged or 0)}/{line.days_in_period} days")
            given += new_days
        amount = min(amount, invoice.total - credited_total(invoice))
        if amount > 0:
            plan.append(PlannedCredit(invoice, "credit", amount, f"{why}: {', '.join(days_text)} not used",
                                      min(given), max(given) + timedelta(days=1)))
    return plan


def _carry_out(plan: list[PlannedCredit], actor) -> None:
    # Voids first: a credit issued before them would pay the untouched invoice from account credit,
    # and an invoice money has paid can no longer be voided.
    for step in sorted(plan, key=lambda step: step.action != "void"):
        if step.action == "void":
            invoice_void(invoice=step.invoice, reason=step.reason, actor=_actor_label(actor))
        else:
            credit_note_create(invoice=step.invoice, amount=step.amount, created_by=_actor_label(actor),
                               reason=step.reason, period_start=step.period_start, period_end=step.period_end)


def _settle_skipped_days(service: CustomerService, suspension: Suspension, actor) -> None:
    start, end = suspension.suspended_on, suspension.reactivated_on
    _carry_out(_unused_days_plan(service, start, end, f"Suspended {start} to {end}"), actor)
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


def cancellation_policy() -> str:
    policy = settings.BILLING.get("CANCELLATION_POLICY", "credit_unused")
    if policy not in CANCELLATION_POLICIES:
        raise ImproperlyConfigured(f"BILLING['CANCELLATION_POLICY'] must be one of {CANCELLATION_POLICIES}, not {policy!r}")
    return policy


def _cancellation_plan(service: CustomerService, on: date, reason: str) -> list[PlannedCredit]:
    """Periods invoiced for days from `on`: with "credit_unused" every unused day comes back; with
    "bill_to_period_end" only periods that start on or after `on` (the current one stays billed)."""
    why = f"Service cancelled on {on}: {reason}"
    plan = []
    open_skip = Suspension.objects.filter(service=service, reactivated_on__isnull=True, skip_billing=True).first()
    if open_skip is not None and open_skip.suspended_on < on:
        # Suspended without billing until today: those days are not charged either.
        plan += _unused_days_plan(service, open_skip.suspended_on, on, f"Suspended {open_skip.suspended_on} to {on}")
    if cancellation_policy() == "credit_unused":
        plan += _unused_days_plan(service, on, None, why)
    else:
        plan += [step for step in _unused_days_plan(service, on, None, why) if step.invoice.period_start >= on]
    return plan


def service_cancellation_quote(*, service: CustomerService, on: date | None = None) -> dict:
    """What cancelling on `on` would give back, before anyone confirms (dashboard and admin show it)."""
    on = on or timezone.localdate()
    plan = _cancellation_plan(service, on, "quote") if service.status != S.CANCELLED else []
    credit = sum((step.amount for step in plan), ZERO)
    balance = BillingAccount.objects.filter(customer_id=service.customer_id).values_list("balance", flat=True).first()
    balance = balance if balance is not None else ZERO
    return {"on": on, "policy": cancellation_policy(), "credit": credit, "balance_after": balance - credit,
            "steps": [{"invoice": step.invoice.number, "action": step.action, "amount": step.amount}
                      for step in plan]}


def service_cancel(*, service: CustomerService, reason: str, actor=None, on: date | None = None) -> ServiceActionLog:
    """pending|active|suspended -> cancelled (no further invoices).

    Days already invoiced from `on` follow `BILLING["CANCELLATION_POLICY"]` (`_cancellation_plan`);
    a period starting on `on` itself (cancelling on the billing date) is never kept."""
    on = on or timezone.localdate()
    with transaction.atomic():
        locked, before, reason = _begin(service, ServiceActionLog.Action.CANCEL, reason)
        locked.status = S.CANCELLED
        locked.cancellation_date = on
        locked.save(update_fields=["status", "cancellation_date", "updated_at"])
        plan = _cancellation_plan(locked, on, reason)
        Suspension.objects.filter(service=locked, reactivated_on__isnull=True).update(reactivated_on=on)
        _carry_out(plan, actor)
        log = _finish(locked, ServiceActionLog.Action.CANCEL, before, reason, actor)
        _zoho(locked)
    _sync_back(service, locked)
    return log


# --- changes of billing day and price (the admin fields are read-only: these are the only way) -------------

@dataclass(frozen=True)
class RebillPlan:
    """Re-plan a live service from `start`: give back what was invoiced from there, bill the stub to
    the next billing date under the new terms, and let the invoice run continue from `next_billing_date`."""

    start: date
    credits: list[PlannedCredit]
    stub: object | None  # LineSpec for [start, next_billing_date), or None when start is a billing date
    next_billing_date: date

    @property
    def amount(self) -> Decimal:
        """Positive: the customer pays more; negative: they get credit (VAT-inclusive, from the invoices)."""
        charge = ZERO
        if self.stub is not None:
            charge = invoice_totals([self.stub], prices_include_vat=self._inclusive).total
        return charge - sum((c.amount for c in self.credits), ZERO)

    _inclusive: bool = True


def _rebill_plan(service: CustomerService, start: date, *, billing_day: int, price: Decimal, why: str,
                 label: str = "") -> RebillPlan:
    if service.next_billing_date is not None and service.next_billing_date < start:
        raise LifecycleError("The invoice run has not billed this service's current period yet; try again after "
                             "the next run.", {"next_billing_date": service.next_billing_date.isoformat()})
    credits = _unused_days_plan(service, start, None, why)
    period_start, period_end = billing_period(start, billing_day)
    stub = None
    if period_start != start:
        priced = CustomerService(pk=service.pk, package_name=service.package_name, monthly_price=price,
                                 billing_day=billing_day)
        stub = explanation_line(priced, explain_prorata(price, start, billing_day), label=label)
    next_date = period_end if period_start != start else start
    return RebillPlan(start=start, credits=credits, stub=stub, next_billing_date=next_date,
                      _inclusive=prices_include_vat_for(service.customer))


def _carry_out_rebill(locked: CustomerService, plan: RebillPlan, actor, *, issue_date: date) -> Invoice | None:
    _carry_out(plan.credits, actor)
    invoice = None
    if plan.stub is not None:
        invoice = invoice_create(customer=locked.customer, service=locked, invoice_type=Invoice.InvoiceType.PRO_RATA,
                                 lines=[plan.stub], issue_date=issue_date, period_start=plan.start,
                                 period_end=plan.next_billing_date, created_by=_actor_label(actor))
    locked.next_billing_date = plan.next_billing_date
    return invoice


def _check_live(locked: CustomerService, what: str) -> None:
    if locked.status not in (S.PENDING, S.ACTIVE):
        raise IllegalTransitionError(f"Cannot change the {what} of a service that is {locked.status}.",
                                     {"status": locked.status, "allowed_from": [S.ACTIVE, S.PENDING]})


def _day_change_start(service: CustomerService, on: date) -> date:
    """The current period stays as billed: the change starts at the first old billing date on or after `on`."""
    period_start, period_end = billing_period(on, service.billing_day)
    return on if period_start == on else period_end


def _check_day(new_day) -> int:
    if new_day not in BILLING_DAYS:
        raise LifecycleError(f"The billing day must be one of {', '.join(map(str, BILLING_DAYS))}.",
                             {"billing_day": new_day})
    return new_day


def billing_day_change_quote(*, service: CustomerService, new_day: int, on: date | None = None) -> dict:
    """What moving `service` to billing day `new_day` would cost (or give back), before confirming."""
    on = on or timezone.localdate()
    _check_day(new_day)
    if service.status == S.PENDING or new_day == service.billing_day:
        return {"amount": ZERO, "starts": None, "next_billing_date": None,
                "description": "No charge: the billing day applies from activation." if service.status == S.PENDING
                else "No change."}
    _check_live(service, "billing day")
    start = _day_change_start(service, on)
    plan = _rebill_plan(service, start, billing_day=new_day, price=service.monthly_price, why="quote")
    last = plan.next_billing_date - timedelta(days=1)
    if plan.stub is not None:
        text = (f"From {start:%d %b %Y} you are billed on day {new_day}: {start:%d %b} to {last:%d %b %Y} is "
                f"billed pro-rata, then monthly from {plan.next_billing_date:%d %b %Y}.")
    else:
        text = f"From {start:%d %b %Y} you are billed monthly on day {new_day}."
    return {"amount": plan.amount, "starts": start, "next_billing_date": plan.next_billing_date, "description": text}


def service_change_billing_day(*, service: CustomerService, new_day: int, reason: str, actor=None,
                               on: date | None = None) -> Invoice | None:
    """Move a live service to another billing day (1, 5, 25 or 30). Returns the stub invoice, if any.

    The period being used stays as billed; from the next old billing date the stub up to the first
    new billing date is billed pro-rata (its line explains the days), and anything already invoiced
    from that date (the 7-days-ahead run) is voided or credited from its invoiced line. A pending
    service just takes the new day. Audited with the reason (ServiceActionLog "update")."""
    on = on or timezone.localdate()
    _check_day(new_day)
    return _change_terms(service, field="billing_day", value=new_day, what="billing day", reason=reason, actor=actor,
                         on=on, same="The service is already billed on that day.",
                         rebill_from=lambda locked: _day_change_start(locked, on) if locked.status == S.ACTIVE else None,
                         why=lambda locked: f"Billing day changed from {locked.billing_day} to {new_day}")


def price_change_quote(*, service: CustomerService, new_price: Decimal, immediate: bool,
                       on: date | None = None) -> dict:
    """What a price change would do: from the next period (nothing now), or from `on` with pro-rata."""
    on = on or timezone.localdate()
    _check_price(new_price)
    if not immediate or service.status != S.ACTIVE:
        starts = service.next_billing_date
        return {"amount": ZERO, "starts": starts,
                "description": f"The new price applies from the next period ({starts:%d %b %Y})." if starts
                else "The new price applies from activation."}
    plan = _rebill_plan(service, on, billing_day=service.billing_day, price=new_price, why="quote")
    return {"amount": plan.amount, "starts": on,
            "description": f"From {on:%d %b %Y}: the rest of this period is credited at the old price and billed "
                           f"at the new one."}


MAX_MONTHLY_PRICE = Decimal("100000.00")  # a sanity bound: far above any package, far below the invoice field


def _check_price(new_price) -> Decimal:
    if (not isinstance(new_price, Decimal) or not new_price.is_finite() or new_price < 0
            or new_price != new_price.quantize(Decimal("0.01"))):
        raise LifecycleError("The monthly price is a non-negative amount in Rands and cents.",
                             {"monthly_price": str(new_price)})
    if new_price > MAX_MONTHLY_PRICE:
        raise LifecycleError(f"A monthly price above R {MAX_MONTHLY_PRICE:,.2f} is not accepted; check the amount.",
                             {"monthly_price": str(new_price)})
    return new_price


def service_change_price(*, service: CustomerService, new_price: Decimal, reason: str, immediate: bool = False,
                         actor=None, on: date | None = None) -> Invoice | None:
    """Change a service's monthly price. Returns the pro-rata invoice of an immediate change, if any.

    Default: effective from the next period the invoice run bills (periods already invoiced keep
    their price). `immediate`: from `on`, the rest of the invoiced period(s) is credited from the
    invoiced line and the days to the next billing date are billed at the new price. Audited."""
    on = on or timezone.localdate()
    _check_price(new_price)
    return _change_terms(service, field="monthly_price", value=new_price, what="price", reason=reason, actor=actor,
                         on=on, same="The service already has that price.",
                         rebill_from=lambda locked: on if immediate and locked.status == S.ACTIVE else None,
                         why=lambda locked: f"Price changed from {locked.monthly_price} to {new_price} on {on}")


def _change_terms(service: CustomerService, *, field: str, value, what: str, reason: str, actor, on: date,
                  same: str, rebill_from, why) -> Invoice | None:
    """Set the service's `field` (billing_day or monthly_price) to `value`, audited as an update. When
    `rebill_from(locked)` gives a date, what was invoiced from it is re-planned under the new terms
    (`_rebill_plan`); returns the stub invoice, if any."""
    with transaction.atomic():
        locked, reason = _lock_with_reason(service, "update", reason)
        before = snapshot(locked)
        _check_live(locked, what)
        if getattr(locked, field) == value:
            raise LifecycleError(same, {field: str(value)})
        invoice = None
        start = rebill_from(locked)
        if start is not None:
            terms = {"billing_day": locked.billing_day, "price": locked.monthly_price,
                     "billing_day" if field == "billing_day" else "price": value}
            plan = _rebill_plan(locked, start, billing_day=terms["billing_day"], price=terms["price"], why=why(locked))
            setattr(locked, field, value)
            invoice = _carry_out_rebill(locked, plan, actor, issue_date=on)
        setattr(locked, field, value)
        locked.save(update_fields=[field, "next_billing_date", "updated_at"])
        _finish(locked, ServiceActionLog.Action.UPDATE, before, reason, actor)
        _zoho(locked)
    _sync_back(service, locked)
    setattr(service, field, value)
    return invoice
