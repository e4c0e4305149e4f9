"""Receivables reports for the admin index: aging, DSO, collections and payment-method mix.

Each figure carries the admin changelist URL that lists the rows behind it, filtered the way the
figure is computed (same statuses, same dates).

"Collected" (this month) and the payment-method mix (last `DSO_DAYS` days) count the same money:
every payment *received* in the period (status completed, partially_refunded or refunded, by
`completed_at`) net of what has been refunded of it so far (`amount - amount_refunded`; a refund
still pending at the provider is not subtracted until it is booked). A fully refunded payment
still counts as a payment (count) but adds R 0.00; a reversed payment (a debit order returned
unpaid) was never collected and is left out, as are pending and failed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing.models import Invoice
from payments.models import PaymentTransaction
from payments.selectors import RECEIVED_STATUSES
from portal.selectors import MONEY_FIELD, ZERO

OPEN = ",".join(Invoice.OPEN_STATUSES)
NOT_VOID = ",".join(s for s in Invoice.Status.values if s != Invoice.Status.VOID)
DSO_DAYS = 90
COLLECTED_HELP = ("Payments received (completed, partly or fully refunded) net of what was refunded of them; "
                  "reversed debit orders are not counted.")


def admin_changelist_url(app_label: str, model: str, query: str = "") -> str | None:
    """The admin list of `app_label.model`, filtered by `query`; None when that model has no admin page."""
    try:
        url = reverse(f"admin:{app_label}_{model}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


@dataclass
class Bar:
    label: str
    amount: Decimal
    count: int
    url: str | None
    percent: int = 0  # of the largest bar, for drawing  # not money


def _sum(expr_filter: Q):
    return Coalesce(Sum("amount_due", filter=expr_filter), Value(ZERO), output_field=MONEY_FIELD)


def _received(first: date, last: date):
    """Payments received from `first` to `last` (inclusive, local dates), with `net` = amount - amount_refunded."""
    return (PaymentTransaction.objects.filter(status__in=RECEIVED_STATUSES, completed_at__date__gte=first,
                                              completed_at__date__lte=last)
            .annotate(net=F("amount") - F("amount_refunded")))


def _received_query(first: date, last: date) -> str:
    return f"received=yes&completed_at__date__gte={first}&completed_at__date__lte={last}"


def receivables_report(today: date | None = None) -> dict:
    today = today or timezone.localdate()
    d = lambda n: today - timedelta(days=n)  # noqa: E731
    buckets = [
        ("Current", Q(due_date__gte=today), f"due_date__gte={today}"),
        ("1-30 days", Q(due_date__lt=today, due_date__gte=d(30)), f"due_date__lt={today}&due_date__gte={d(30)}"),
        ("31-60 days", Q(due_date__lt=d(30), due_date__gte=d(60)), f"due_date__lt={d(30)}&due_date__gte={d(60)}"),
        ("61-90 days", Q(due_date__lt=d(60), due_date__gte=d(90)), f"due_date__lt={d(60)}&due_date__gte={d(90)}"),
        ("90+ days", Q(due_date__lt=d(90)), f"due_date__lt={d(90)}"),
    ]
    aggs = {}
    for i, (_label, q, _query) in enumerate(buckets):
        aggs[f"a{i}"] = _sum(q)
        aggs[f"n{i}"] = Count("pk", filter=q)
    open_qs = Invoice.objects.filter(status__in=Invoice.OPEN_STATUSES)
    row = open_qs.aggregate(**aggs)
    aging = [Bar(label=label, amount=row[f"a{i}"], count=row[f"n{i}"],
                 url=admin_changelist_url("billing", "invoice", f"status__in={OPEN}&{query}"))
             for i, (label, _q, query) in enumerate(buckets)]
    top = max((b.amount for b in aging), default=ZERO)
    for b in aging:
        b.percent = int((b.amount * 100 / top).to_integral_value(ROUND_HALF_UP)) if top else 0
    receivable = sum((b.amount for b in aging), ZERO)

    since = today - timedelta(days=DSO_DAYS)
    sales = (Invoice.objects.filter(issue_date__gt=since, issue_date__lte=today).exclude(status=Invoice.Status.VOID)
             .aggregate(s=Coalesce(Sum("total"), Value(ZERO), output_field=MONEY_FIELD))["s"])
    dso = (receivable / sales * DSO_DAYS).quantize(Decimal("0.1"), ROUND_HALF_UP) if sales else None

    month_start = today.replace(day=1)
    invoiced = (Invoice.objects.filter(issue_date__gte=month_start, issue_date__lte=today)
                .exclude(status=Invoice.Status.VOID)
                .aggregate(s=Coalesce(Sum("total"), Value(ZERO), output_field=MONEY_FIELD))["s"])
    collected = (_received(month_start, today)
                 .aggregate(s=Coalesce(Sum("net"), Value(ZERO), output_field=MONEY_FIELD))["s"])
    coll_top = max(invoiced, collected)
    collections = {
        "invoiced": invoiced, "collected": collected,
        "invoiced_pct": int((invoiced * 100 / coll_top).to_integral_value(ROUND_HALF_UP)) if coll_top else 0,
        "collected_pct": int((collected * 100 / coll_top).to_integral_value(ROUND_HALF_UP)) if coll_top else 0,
        "rate": (collected * 100 / invoiced).quantize(Decimal("0.1"), ROUND_HALF_UP) if invoiced else None,
        "invoiced_url": admin_changelist_url(
            "billing", "invoice", f"status__in={NOT_VOID}&issue_date__gte={month_start}&issue_date__lte={today}"),
        "collected_url": admin_changelist_url("payments", "paymenttransaction",
                                              _received_query(month_start, today)),
        "collected_help": COLLECTED_HELP,
    }

    mix_start = since + timedelta(days=1)  # the last DSO_DAYS days: after `since`, up to today
    mix_rows = (_received(mix_start, today).values("method")
                .annotate(n=Count("pk"), s=Coalesce(Sum("net"), Value(ZERO), output_field=MONEY_FIELD))
                .order_by("-s", "method"))
    labels = dict(PaymentTransaction.Method.choices)
    mix = [Bar(label=labels.get(r["method"], r["method"]), amount=r["s"], count=r["n"],
               url=admin_changelist_url("payments", "paymenttransaction",
                                        f"{_received_query(mix_start, today)}&method__exact={r['method']}"))
           for r in mix_rows]
    mix_total = sum((b.amount for b in mix), ZERO)
    for b in mix:
        b.percent = int((b.amount * 100 / mix_total).to_integral_value(ROUND_HALF_UP)) if mix_total else 0
    return {
        "today": today, "aging": aging, "receivable": receivable,
        "receivable_url": admin_changelist_url("billing", "invoice", f"status__in={OPEN}"),
        "dso": dso, "dso_days": DSO_DAYS, "sales": sales, "collections": collections, "mix": mix,
        "mix_total": mix_total,
    }
