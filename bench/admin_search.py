"""Time a hostile admin search: `GET /admin/payments/paymenttransaction/?q=<1,040 words>` (issue 13).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_admin_helper \\
        .venv/bin/python bench/admin_search.py [--payments 5000] [--words 1040] [--requests 20] [--unbounded]

Creates and migrates the database if missing, then tops it up to `--payments` payments (two per customer,
marked "BENCH-SEARCH-"; nothing is wiped). Signs a superuser in with Django's test client (in process, no
gunicorn) and times the changelist with a normal one-word search and with `--words` words, printing
p50/max in ms and the LIKE conditions in the changelist's count query. `--unbounded` also times one
request with `SearchLimitMixin` lifted on that admin (what the site did before; capped by a 60 s
statement timeout).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from billing.models import BillingAccount, Customer  # noqa: E402
from payments.models import PaymentTransaction  # noqa: E402

URL = "/admin/payments/paymenttransaction/"
PREFIX = "BENCH-SEARCH-"


def ensure_database() -> None:
    import psycopg

    params = settings.DATABASES["default"]
    with psycopg.connect(host=params.get("HOST") or "127.0.0.1", port=params.get("PORT") or 5432,
                         user=params.get("USER") or "postgres", password=params.get("PASSWORD") or None,
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [params["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{params["NAME"]}"')


def seed(payments: int) -> None:
    have = PaymentTransaction.objects.filter(reference__startswith=PREFIX).count()
    start = have // 2
    customers = Customer.objects.bulk_create([
        Customer(account_number=f"CT-BS-{i:06d}", first_name=f"Bench{i}", last_name=f"Searcher{i}",
                 email=f"bench-search{i}@example.co.za", company_name=f"Bench Co {i}")
        for i in range(start, (payments + 1) // 2)])
    BillingAccount.objects.bulk_create([BillingAccount(customer=c) for c in customers])
    PaymentTransaction.objects.bulk_create([
        PaymentTransaction(customer=c, amount=Decimal("899.00"), method="card", provider="sandbox",
                           reference=f"{PREFIX}{c.account_number}-{n}", status="completed")
        for c in customers for n in (1, 2)], batch_size=2000)


def timed(client: Client, search: str, requests: int) -> tuple[list[float], int]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"q": search})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    likes = max(q["sql"].count("LIKE") for q in queries.captured_queries if "COUNT(" in q["sql"].upper())
    return times, likes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--words", type=int, default=1040)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--unbounded", action="store_true")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("bench/admin_search.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database()
    call_command("migrate", verbosity=0)
    seed(args.payments)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-search-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    words = " ".join(f"w{i}" for i in range(1, args.words + 1))
    total = PaymentTransaction.objects.count()

    client.get(URL, {"q": "bench"})  # warm-up
    for label, search in [("1 word", "Searcher42"), (f"{args.words} words", words)]:
        times, likes = timed(client, search, args.requests)
        print(f"{label:>12}: p50 {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms  "
              f"LIKE conditions {likes}  ({total} payments, {args.requests} requests)")

    if args.unbounded:
        model_admin = admin.site._registry[PaymentTransaction]
        model_admin.search_max_terms = model_admin.search_max_length = 10**9
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '60s'")
        try:
            times, likes = timed(client, words, 1)
            print(f"   unbounded: {times[0]:7.1f} ms  LIKE conditions {likes}")
        except Exception as exc:  # the statement timeout
            print(f"   unbounded: gave up ({type(exc).__name__}: {str(exc)[:80]})")


if __name__ == "__main__":
    main()
