"""Reads for the dashboard pages and APIs: every query is scoped to one customer.

`dashboard_summary` is the hot path (home page and `GET /api/dashboard/summary`): it runs a fixed
number of queries however long the customer's history is (one each for services, invoice totals,
recent invoices, recent payments and this cycle's usage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from billing.models import Customer, CustomerService, Invoice, LedgerEntry, Suspension
from billing.proration import billing_period
from billing.services.invoice_run import plan_for
from billing.services.invoices import due_date_for, invoice_totals, prices_include_vat_for
from circletel.sandbox import sandbox_gateway_active
from payments.card_page import card_payments_available
from payments.models import Mandate, PaymentMethod, PaymentTransaction
from payments.selectors import payments_shown_to_customers
from payments.services.methods import payment_method_unusable_reason
from usage.models import UsageRecord

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
LIVE_SERVICE_STATUSES = (CustomerService.Status.PENDING, CustomerService.Status.ACTIVE,
                         CustomerService.Status.SUSPENDED)
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)
BILLABLE_CARD_STATUSES = (CustomerService.Status.PENDING, CustomerService.Status.ACTIVE)


# --- services and usage -------------------------------------------------------------------------

def current_cycle(service: CustomerService, today: date) -> tuple[date, date]:
    """The billing cycle [start, end) containing `today` for the service's billing day."""
    return billing_period(today, service.billing_day)


def customer_services(*, customer: Customer, include_cancelled: bool = True) -> list[CustomerService]:
    qs = CustomerService.objects.filter(customer_id=customer.pk)
    if not include_cancelled:
        qs = qs.filter(status__in=LIVE_SERVICE_STATUSES)
    return list(qs.order_by("status", "pk"))


def customer_service(*, customer: Customer, service_id: int) -> CustomerService:
    try:
        return CustomerService.objects.get(customer_id=customer.pk, pk=service_id)
    except (CustomerService.DoesNotExist, ValueError, TypeError):
        raise Http404("No such service.")


def cycle_usage_mb(*, services: list[CustomerService], today: date) -> dict[int, Decimal]:
    """Data used (MB) in each service's current cycle, in one query."""
    if not services:
        return {}
    cond = Q()
    for s in services:
        start, end = current_cycle(s, today)
        cond |= Q(service_id=s.pk, date__gte=start, date__lt=end)
    rows = (UsageRecord.objects.filter(cond).values("service_id")
            .annotate(mb=Sum("total_mb")).values_list("service_id", "mb"))
    return {sid: (mb or ZERO) for sid, mb in rows}


@dataclass
class ServiceCard:
    service: CustomerService
    cycle_start: date
    cycle_end: date
    next_billing_date: date | None
    used_mb: Decimal
    cap_mb: Decimal | None
    suspended_because: str = ""  # the customer-facing message of the open suspension (never staff's reason)

    @property
    def used_gb(self) -> Decimal:
        return (self.used_mb / Decimal(1024)).quantize(CENT, ROUND_HALF_UP)

    @property
    def percent(self) -> int | None:
        if not self.cap_mb:
            return None
        return min(100, int((self.used_mb * 100 / self.cap_mb).to_integral_value(ROUND_HALF_UP)))

    @property
    def bar_class(self) -> str:
        p = self.percent or 0
        return "bad" if p >= 95 else "warn" if p >= 80 else "ok"


def service_cards(*, services: list[CustomerService], today: date, why_suspended: bool = False) -> list[ServiceCard]:
    """The service cards; with `why_suspended`, a suspended service's card carries the customer-facing
    message of its open suspension (one query more, only when a service is suspended)."""
    usage = cycle_usage_mb(services=[s for s in services if s.status != CustomerService.Status.CANCELLED],
                           today=today)
    suspended_ids = [s.pk for s in services if s.status == CustomerService.Status.SUSPENDED] if why_suspended else []
    open_suspensions = {x.service_id: x.message_for_customer  # one query, only when something is suspended
                        for x in Suspension.objects.filter(service_id__in=suspended_ids, reactivated_on__isnull=True)
                        } if suspended_ids else {}
    cards = []
    for s in services:
        start, end = current_cycle(s, today)
        # A suspended or cancelled service has no next billing date to show (the pages say why).
        nbd = (s.next_billing_date or end) if s.status in BILLABLE_CARD_STATUSES else None
        cards.append(ServiceCard(service=s, cycle_start=start, cycle_end=end, next_billing_date=nbd,
                                 used_mb=usage.get(s.pk, ZERO),
                                 cap_mb=Decimal(s.data_cap_gb) * 1024 if s.data_cap_gb else None,
                                 suspended_because=open_suspensions.get(s.pk, "")))
    return cards


def daily_usage(*, service: CustomerService, start: date, end: date) -> list[dict]:
    """One row per day in [start, end] (missing days are zero): date, upload, download, total MB."""
    rows = {r["date"]: r for r in UsageRecord.objects.filter(service_id=service.pk, date__gte=start, date__lte=end)
            .values("date", "upload_mb", "download_mb", "total_mb")}
    out, day = [], start
    while day <= end:
        r = rows.get(day)
        out.append({"date": day, "upload_mb": r["upload_mb"] if r else ZERO,
                    "download_mb": r["download_mb"] if r else ZERO, "total_mb": r["total_mb"] if r else ZERO})
        day += timedelta(days=1)
    return out


# --- invoices and payments ----------------------------------------------------------------------

def customer_invoices(*, customer: Customer, status: str | None = None):
    qs = Invoice.objects.filter(customer_id=customer.pk).select_related("service")
    if status == "open":
        qs = qs.filter(status__in=Invoice.OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-issue_date", "-pk")


def customer_invoice(*, customer: Customer, invoice_id) -> Invoice:
    try:
        return (Invoice.objects.select_related("service", "customer")
                .prefetch_related("lines", Prefetch("payments", PaymentTransaction.objects.select_related("receipt")))
                .get(customer_id=customer.pk, pk=invoice_id))
    except (Invoice.DoesNotExist, ValueError, TypeError):
        raise Http404("No such invoice.")


def customer_payments(*, customer: Customer, status: str | None = None, method: str | None = None,
                      date_from: date | None = None, date_to: date | None = None):
    qs = payments_shown_to_customers(
        PaymentTransaction.objects.filter(customer_id=customer.pk).select_related("invoice", "receipt"))
    if status:
        qs = qs.filter(status=status)
    if method:
        qs = qs.filter(method=method)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    return qs.order_by("-created_at", "-pk")


ONLINE_PAYMENTS_UNAVAILABLE = "Online payments are not available right now."


def online_payment_unavailable_reason() -> str:
    """Why no online invoice payment can be made now ("" when one can), so the dashboard offers no
    Pay button that only leads to "not available". Mirrors the refusals of
    `payments.services.paynow_checkout.invoice_checkout` (no HMAC secret; a Pay Now key without the
    notify token; no key and the sandbox off) and adds the sandbox's own need: its notify goes to the
    secret notify path, so without the notify token no sandbox payment is ever booked (system check
    circletel.W004). Cards through Stripe (`payments.card_page.card_payments_available`) are enough
    on their own: the pay page then offers the card form."""
    if card_payments_available():
        return ""
    netcash = settings.NETCASH
    if not netcash.get("PAYNOW_HMAC_SECRET") or not netcash.get("NOTIFY_TOKEN"):
        return ONLINE_PAYMENTS_UNAVAILABLE
    if not netcash.get("PAYNOW_SERVICE_KEY") and not sandbox_gateway_active():
        return ONLINE_PAYMENTS_UNAVAILABLE
    return ""


def customer_payment_methods(*, customer: Customer) -> list[PaymentMethod]:
    """The customer's saved methods, primary first; each carries `mandate_url`, the signing link of
    its latest eMandate request ("" when NetCash returned none or no request was sent), and
    `mandate_retry` (the "Send mandate request" button applies) and `primary_refusal`, why it cannot
    be made primary now ("" when it can; `payment_method_set_primary` refuses with the same words)."""
    latest_url = (Mandate.objects.filter(payment_method_id=OuterRef("pk")).order_by("-created_at", "-pk")
                  .values("mandate_url")[:1])
    methods = list(PaymentMethod.objects.filter(customer_id=customer.pk, deleted_at__isnull=True)
                   .annotate(mandate_url=Coalesce(Subquery(latest_url), Value("")))
                   .order_by("-is_primary", "pk"))
    for m in methods:
        m.mandate_retry = mandate_can_retry(m, mandate_url=m.mandate_url)
        m.primary_refusal = payment_method_unusable_reason(m)
    return methods


MANDATE_RETRY_STATUSES = (PaymentMethod.MandateStatus.NONE, PaymentMethod.MandateStatus.PENDING)


def mandate_can_retry(method: PaymentMethod, *, mandate_url: str) -> bool:
    """A debit-order method whose mandate is not signed and has no signing link: the request was
    never sent or failed, so the customer may send it again."""
    return (method.method_type == PaymentMethod.Type.DEBIT_ORDER and method.mandate_status in MANDATE_RETRY_STATUSES
            and not mandate_url)


def customer_payment_method(*, customer: Customer, method_id) -> PaymentMethod:
    try:
        return PaymentMethod.objects.get(customer_id=customer.pk, pk=method_id, deleted_at__isnull=True)
    except (PaymentMethod.DoesNotExist, ValueError, TypeError):
        raise Http404("No such payment method.")


def customer_payment(*, customer: Customer, payment_id) -> PaymentTransaction:
    try:
        return PaymentTransaction.objects.get(customer_id=customer.pk, pk=payment_id)
    except (PaymentTransaction.DoesNotExist, ValueError, TypeError):
        raise Http404("No such payment.")


# --- the summary (hot path) -----------------------------------------------------------------------

@dataclass
class NextInvoiceItem:
    """One service's next invoice: already issued (`invoice`, by the run 7 days ahead) or planned."""

    service: CustomerService
    period_start: date
    period_end: date
    total: Decimal
    due_date: date | None
    description: str
    invoice: Invoice | None = None


@dataclass
class NextInvoice:
    """The customer's next recurring billing: the earliest upcoming period start among their services and
    the invoices for it (one per service). `estimate` while any of them is still only planned."""

    date: date | None
    amount: Decimal
    items: list[NextInvoiceItem] = field(default_factory=list)
    paused: list[CustomerService] = field(default_factory=list)  # open skip-billing suspensions: not billed

    @property
    def estimate(self) -> bool:
        return any(item.invoice is None for item in self.items)

    @property
    def invoices(self) -> list[Invoice]:
        return [item.invoice for item in self.items if item.invoice is not None]


@dataclass
class Summary:
    customer: Customer
    balance: Decimal
    amount_due: Decimal
    overdue_amount: Decimal
    open_invoice_count: int
    next_invoice: NextInvoice
    active_services: int
    cards: list[ServiceCard]
    data_used_mb: Decimal
    recent_invoices: list = field(default_factory=list)
    recent_payments: list = field(default_factory=list)
    pay_invoice: Invoice | None = None  # what the balance card's "Pay R ..." button pays (see `payable_invoice`)

    @property
    def data_used_gb(self) -> Decimal:
        return (self.data_used_mb / Decimal(1024)).quantize(CENT, ROUND_HALF_UP)

    @property
    def credit(self) -> Decimal:
        return -self.balance if self.balance < 0 else ZERO


def next_invoice_preview(*, customer: Customer, services: list[CustomerService], today: date) -> NextInvoice:
    """The next recurring invoice, planned by the invoice run's own code (one planner).

    Per service the run bills (active, or suspended without skip-billing): an invoice already issued
    for a period starting after `today` (the run issues 7 days ahead) is the next invoice itself;
    otherwise the run's plan from the service's next billing date (`invoice_run.plan_for`, less
    skip-billing suspension days, VAT as on the invoice). A service under an open skip-billing
    suspension is not billed until it is reactivated (`paused`). The earliest period start wins; two
    queries whatever the number of services."""
    billed = [s for s in services if s.status in (CustomerService.Status.ACTIVE, CustomerService.Status.SUSPENDED)]
    if not billed:
        return NextInvoice(date=None, amount=ZERO)
    ids = [s.pk for s in billed]
    closed: dict[int, list[Suspension]] = {}
    paused_ids: set[int] = set()
    for suspension in Suspension.objects.filter(service_id__in=ids, skip_billing=True):               # 1
        if suspension.reactivated_on is None:
            paused_ids.add(suspension.service_id)
        else:
            closed.setdefault(suspension.service_id, []).append(suspension)
    issued: dict[int, Invoice] = {}
    for invoice in (Invoice.objects.filter(service_id__in=ids, period_start__gt=today)               # 2
                    .exclude(status=Invoice.Status.VOID).order_by("period_start", "pk")):
        issued.setdefault(invoice.service_id, invoice)
    inclusive = prices_include_vat_for(customer)
    items, paused = [], []
    for service in billed:
        invoice = issued.get(service.pk)
        if invoice is not None:
            items.append(NextInvoiceItem(service=service, period_start=invoice.period_start,
                                         period_end=invoice.period_end, total=invoice.total,
                                         due_date=invoice.due_date, description=f"Invoice {invoice.number}",
                                         invoice=invoice))
            continue
        if service.pk in paused_ids:
            paused.append(service)
            continue
        if service.next_billing_date is None:
            continue
        plan = plan_for(service, closed.get(service.pk, []))
        if plan.line is None:  # every day of that period is a skip-billing day: the run bills nothing for it
            continue
        totals = invoice_totals([plan.line], prices_include_vat=inclusive)
        issue_on = plan.period_start - timedelta(days=settings.BILLING["INVOICE_LEAD_DAYS"])
        items.append(NextInvoiceItem(
            service=service, period_start=plan.period_start, period_end=plan.period_end, total=totals.total,
            due_date=due_date_for(customer=customer, invoice_type=Invoice.InvoiceType.RECURRING, issue_date=issue_on,
                                  period_start=plan.period_start),
            description=plan.line.description))
    if not items:
        return NextInvoice(date=None, amount=ZERO, paused=paused)
    when = min(item.period_start for item in items)
    chosen = [item for item in items if item.period_start == when]
    return NextInvoice(date=when, amount=sum((item.total for item in chosen), ZERO), items=chosen, paused=paused)


def payable_invoice(*, customer: Customer, balance: Decimal) -> Invoice | None:
    """The invoice the balance card offers to pay: the open invoice with money due that fell due
    first; None when nothing is owed (the account's balance, which counts credit and payments not
    yet allocated, is zero or in credit). The pay flow (`invoice_pay`) charges its amount due."""
    if balance <= 0:
        return None
    return (Invoice.objects.filter(customer_id=customer.pk, status__in=Invoice.OPEN_STATUSES, amount_due__gt=0)
            .order_by("due_date", "issue_date", "pk").first())


def dashboard_summary(*, customer: Customer, today: date | None = None, recent: int = 5) -> Summary:
    """Everything on the home page in six queries (the customer row is loaded by the caller); the
    sixth (`payable_invoice`) only when an open invoice is owed."""
    today = today or timezone.localdate()
    services = customer_services(customer=customer)                                   # 1
    cards = service_cards(services=services, today=today)                             # 2 (usage)
    totals = Invoice.objects.filter(customer_id=customer.pk, status__in=Invoice.OPEN_STATUSES).aggregate(
        due=Coalesce(Sum("amount_due"), Value(ZERO), output_field=MONEY_FIELD),
        overdue=Coalesce(Sum("amount_due", filter=Q(due_date__lt=today)), Value(ZERO), output_field=MONEY_FIELD),
        n=Count("pk"),
    )                                                                                 # 3
    recent_invoices = list(Invoice.objects.filter(customer_id=customer.pk)
                           .order_by("-issue_date", "-pk")[:recent])                  # 4
    recent_payments = list(PaymentTransaction.objects.filter(customer_id=customer.pk)
                           .select_related("invoice", "receipt").order_by("-created_at", "-pk")[:recent])  # 5
    account = getattr(customer, "billing_account", None)
    balance = account.balance if account else ZERO
    live_cards = [c for c in cards if c.service.status != CustomerService.Status.CANCELLED]
    return Summary(
        customer=customer,
        balance=balance,
        pay_invoice=payable_invoice(customer=customer, balance=balance) if totals["due"] > 0 else None,  # 6
        amount_due=totals["due"], overdue_amount=totals["overdue"], open_invoice_count=totals["n"],
        next_invoice=next_invoice_preview(customer=customer, services=services, today=today),
        active_services=sum(1 for s in services if s.status == CustomerService.Status.ACTIVE),
        cards=live_cards,
        data_used_mb=sum((c.used_mb for c in live_cards), ZERO),
        recent_invoices=recent_invoices, recent_payments=recent_payments,
    )


# --- billing day change (the profile's change request) --------------------------------------------------

@dataclass
class BillingDayQuoteRow:
    service: CustomerService
    amount: Decimal  # positive: billed now; negative: credited
    description: str
    changes: bool  # False: the service keeps its day (already on it, or suspended)


@dataclass
class BillingDayQuote:
    new_day: int
    rows: list[BillingDayQuoteRow]

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows if r.changes), ZERO)

    @property
    def charge(self) -> Decimal:
        return self.total if self.total > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.total if self.total < 0 else ZERO


BILLING_DAY_CHANGEABLE = (CustomerService.Status.PENDING, CustomerService.Status.ACTIVE)


def billing_day_change_quote(*, customer: Customer, new_day: int, on: date | None = None) -> BillingDayQuote:
    """What moving every live service of `customer` to billing day `new_day` costs, per service, from the
    lifecycle's own quote (`billing.services.lifecycle.billing_day_change_quote`): the same code that
    bills or credits the stub period when the change is confirmed. Suspended services keep their day."""
    from billing.services.lifecycle import billing_day_change_quote as service_quote

    rows = []
    for service in customer_services(customer=customer, include_cancelled=False):
        if service.billing_day == new_day:
            rows.append(BillingDayQuoteRow(service, ZERO, f"Already billed on day {new_day}.", False))
        elif service.status not in BILLING_DAY_CHANGEABLE:
            rows.append(BillingDayQuoteRow(
                service, ZERO, "Suspended: it keeps billing day "
                f"{service.billing_day} until it is active again (contact us to change it then).", False))
        else:
            quote = service_quote(service=service, new_day=new_day, on=on)
            rows.append(BillingDayQuoteRow(service, quote["amount"], quote["description"], True))
    return BillingDayQuote(new_day=new_day, rows=rows)


# --- statement of account ---------------------------------------------------------------------------

@dataclass
class StatementLine:
    entry: LedgerEntry
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass
class Statement:
    customer: Customer
    date_from: date
    date_to: date
    opening_balance: Decimal
    lines: list[StatementLine]
    total_debits: Decimal
    total_credits: Decimal
    closing_balance: Decimal


def statement(*, customer: Customer, date_from: date, date_to: date) -> Statement:
    """Ledger statement for [date_from, date_to] (inclusive): opening balance (entries before the
    range), each entry with a running balance, closing = opening + debits - credits."""
    opening = LedgerEntry.objects.filter(customer_id=customer.pk, effective_date__lt=date_from).aggregate(
        s=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY_FIELD))["s"]
    running = opening
    lines, debits, credits = [], ZERO, ZERO
    for e in (LedgerEntry.objects.filter(customer_id=customer.pk, effective_date__gte=date_from,
                                         effective_date__lte=date_to).order_by("effective_date", "pk")):
        running += e.amount
        debit = e.amount if e.amount > 0 else ZERO
        credit = -e.amount if e.amount < 0 else ZERO
        debits += debit
        credits += credit
        lines.append(StatementLine(entry=e, debit=debit, credit=credit, balance=running))
    return Statement(customer=customer, date_from=date_from, date_to=date_to, opening_balance=opening,
                     lines=lines, total_debits=debits, total_credits=credits,
                     closing_balance=opening + debits - credits)


# --- staff reads -------------------------------------------------------------------------------------

def customer_by_id(customer_id) -> Customer:
    try:
        return Customer.objects.select_related("billing_account").get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404("No such customer.")
