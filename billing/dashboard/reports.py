"""Receivables reports for the admin index: aging, DSO, collections and payment-method mix.

Each figure carries the admin changelist URL (filtered) that lists the rows behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing.dashboard.selectors import MONEY_FIELD, ZERO
from billing.models import Invoice
from payments.models import PaymentTransaction

OPEN = ",".join(Invoice.OPEN_STATUSES)
DSO_DAYS = 90


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
    paid_q = PaymentTransaction.objects.filter(status=PaymentTransaction.Status.COMPLETED,
                                               completed_at__date__gte=month_start, completed_at__date__lte=today)
    collected = paid_q.aggregate(s=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY_FIELD))["s"]
    coll_top = max(invoiced, collected)
    collections = {
        "invoiced": invoiced, "collected": collected,
        "invoiced_pct": int((invoiced * 100 / coll_top).to_integral_value(ROUND_HALF_UP)) if coll_top else 0,
        "collected_pct": int((collected * 100 / coll_top).to_integral_value(ROUND_HALF_UP)) if coll_top else 0,
        "rate": (collected * 100 / invoiced).quantize(Decimal("0.1"), ROUND_HALF_UP) if invoiced else None,
        "invoiced_url": admin_changelist_url("billing", "invoice", f"issue_date__gte={month_start}"),
        "collected_url": admin_changelist_url("payments", "paymenttransaction",
                                              f"status=completed&completed_at__date__gte={month_start}"),
    }

    mix_rows = (PaymentTransaction.objects.filter(status=PaymentTransaction.Status.COMPLETED,
                                                  completed_at__date__gt=since)
                .values("method").annotate(n=Count("pk"), s=Sum("amount")).order_by("-s"))
    labels = dict(PaymentTransaction.Method.choices)
    mix = [Bar(label=labels.get(r["method"], r["method"]), amount=r["s"] or ZERO, count=r["n"],
               url=admin_changelist_url("payments", "paymenttransaction", f"status=completed&method={r['method']}"))
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
