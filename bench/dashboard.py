"""Benchmark the dashboard hot path: `GET /api/dashboard/summary` and the home page `/dashboard/`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_dash_bench \\
        .venv/bin/python bench/dashboard.py [--customers 100000] [--invoices 2000000] [--requests 500]

Seeds the database with COPY (PostgreSQL only): customers with users and billing accounts, one
service each, `--invoices` invoices spread evenly over the customers (about a third open), one
payment per two invoices and `--usage-days` days of usage per service. Then signs in random
customers with Django's test client and times each request (sign-in outside the timing). Prints
p50/p95/p99/max in ms and the queries per request. Target: p95 < 50 ms.

The database is created and migrated if missing and its rows are wiped first (refuses a database
whose name does not contain "bench" unless --force). `--reuse` skips seeding when the counts match.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/circletel_dash_bench")


def ensure_database() -> None:
    import psycopg
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    params = settings.DATABASES["default"]
    with psycopg.connect(host=params.get("HOST") or "127.0.0.1", port=params.get("PORT") or 5432,
                         user=params.get("USER") or "postgres", password=params.get("PASSWORD") or None,
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


import django  # noqa: E402

django.setup()
ensure_database()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import _seed  # noqa: E402

TODAY = timezone.localdate()
NOW = timezone.now()


def fill(model, given: dict) -> tuple[list[str], list]:
    return _seed.fill(model, given, now=NOW)


copy_rows = _seed.copy_rows


def seed(customers: int, invoices: int, usage_days: int) -> None:
    from django.contrib.auth import get_user_model

    from billing.models import BillingAccount, Customer, CustomerService, Invoice
    from payments.models import PaymentTransaction
    from usage.models import UsageRecord

    User = get_user_model()
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (User, Customer):
            cursor.execute(f'TRUNCATE "{model._meta.db_table}" RESTART IDENTITY CASCADE')
    password = make_password("bench-password-123")

    def load(model, given_cols, gen):
        extra_cols, consts = fill(model, dict.fromkeys(given_cols))
        return copy_rows(model, ["id", *given_cols, *extra_cols], ((*row, *consts) for row in gen))

    load(User, ["username", "email", "password", "is_staff", "is_active", "is_superuser", "first_name",
                "last_name", "date_joined"],
         ((i, f"bench{i}@example.co.za", f"bench{i}@example.co.za", password, False, True, False, "B", "C", NOW)
          for i in range(1, customers + 1)))
    load(Customer, ["account_number", "first_name", "last_name", "email", "user_id", "account_type"],
         ((i, f"CT-2026-{i:07d}", "Bench", f"Customer{i}", f"bench{i}@example.co.za", i, "personal")
          for i in range(1, customers + 1)))
    load(BillingAccount, ["customer_id", "balance"], ((i, i, Decimal("899.00")) for i in range(1, customers + 1)))
    load(CustomerService, ["customer_id", "service_type", "package_name", "monthly_price", "billing_day",
                           "status", "data_cap_gb", "download_mbps", "upload_mbps", "activation_date"],
         ((i, i, "fibre", "Fibre 50/50", Decimal("899.00"), (1, 5, 25, 30)[i % 4], "active", 200, 50, 50,
           date(2024, 1, 1)) for i in range(1, customers + 1)))
    print(f"  customers, users, accounts, services: {customers:,} each ({time.perf_counter() - t0:.1f}s)")

    per = max(1, invoices // customers)

    def invoice_rows():
        n = 0
        for c in range(1, customers + 1):
            for k in range(per):
                n += 1
                if n > invoices:
                    return
                issue = TODAY - timedelta(days=30 * (per - k))
                open_ = k >= per - max(1, per // 3)
                yield (n, f"INV-B-{n:09d}", c, c, "recurring", issue, issue + timedelta(days=7), issue, True,
                       Decimal("781.74"), Decimal("117.26"), Decimal("899.00"),
                       Decimal("0.00") if open_ else Decimal("899.00"),
                       ("overdue" if issue + timedelta(days=7) < TODAY else "unpaid") if open_ else "paid")

    t1 = time.perf_counter()
    total_inv = load(Invoice, ["number", "customer_id", "service_id", "invoice_type", "issue_date", "due_date",
                               "period_start", "prices_include_vat", "subtotal", "vat_amount", "total",
                               "amount_paid", "status"], invoice_rows())
    print(f"  invoices: {total_inv:,} ({time.perf_counter() - t1:.1f}s)")

    t2 = time.perf_counter()
    n_pay = load(PaymentTransaction, ["customer_id", "invoice_id", "amount", "method", "provider", "reference",
                                      "status", "completed_at"],
                 ((i, (i * 2 - 1) // per + 1, i * 2 - 1, Decimal("899.00"), "debit_order", "netcash",
                   f"PAY-B-{i:09d}", "completed", NOW - timedelta(days=i % 700))
                  for i in range(1, total_inv // 2 + 1)))
    print(f"  payments: {n_pay:,} ({time.perf_counter() - t2:.1f}s)")

    t3 = time.perf_counter()
    n_use = load(UsageRecord, ["service_id", "date", "upload_mb", "download_mb", "cycle_start", "source"],
                 ((s * usage_days + d, s, TODAY - timedelta(days=d), Decimal("120.00"), Decimal("1400.00"),
                   TODAY - timedelta(days=d), "interstellio")
                  for s in range(1, customers + 1) for d in range(usage_days)))
    print(f"  usage records: {n_use:,} ({time.perf_counter() - t3:.1f}s)")

    with connection.cursor() as cursor:
        for model in (User, Customer, BillingAccount, CustomerService, Invoice, PaymentTransaction, UsageRecord):
            t = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), (SELECT MAX(id) FROM \"{t}\"))")
            cursor.execute(f'ANALYZE "{t}"')
    print(f"  seeded in {time.perf_counter() - t0:.1f}s")


def percentile(values: list[float], p: float) -> float:  # not money
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def measure(url: str, customers: int, requests: int, rng: random.Random) -> dict:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    client = Client()
    timings, queries = [], []
    warm = min(20, requests)
    for i in range(requests + warm):
        user = User.objects.get(pk=rng.randint(1, customers))
        client.force_login(user)
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000  # not money
        assert response.status_code == 200, (url, response.status_code)
        if i >= warm:
            timings.append(elapsed)
            queries.append(len(ctx.captured_queries))
    return {"url": url, "n": len(timings), "p50": statistics.median(timings), "p95": percentile(timings, 95),
            "p99": percentile(timings, 99), "max": max(timings), "queries": sorted(set(queries))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=2_000_000)
    parser.add_argument("--usage-days", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse", action="store_true", help="keep existing rows when the counts match")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("bench/dashboard.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    name = connection.settings_dict["NAME"]
    if "bench" not in name and not args.force:
        sys.exit(f"refusing to wipe database {name!r}: its name does not contain 'bench' (use --force)")
    call_command("migrate", verbosity=0)

    from billing.models import Customer, Invoice

    if args.reuse and Customer.objects.count() == args.customers and Invoice.objects.count() == args.invoices:
        print(f"reusing {args.customers:,} customers and {args.invoices:,} invoices in {name}")
    else:
        print(f"seeding {args.customers:,} customers and {args.invoices:,} invoices into {name} ...")
        seed(args.customers, args.invoices, args.usage_days)

    rng = random.Random(args.seed)
    print(f"\n{args.requests} requests each, random customers, Django test client, DEBUG off")
    print(f"{'endpoint':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  queries/request")
    ok = True
    for url in ("/api/dashboard/summary", "/dashboard/"):
        r = measure(url, args.customers, args.requests, rng)
        ok &= r["p95"] < 50
        print(f"{r['url']:<26}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}  {r['queries']}")
    print(f"\ntarget p95 < 50 ms: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
