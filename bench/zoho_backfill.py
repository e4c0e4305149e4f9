"""Benchmark the ZOHO customer backfill against a local fake ZOHO that enforces a rate limit.

    .venv/bin/python bench/zoho_backfill.py [--n 5000] [--limit-per-second 100] [--workers 10]

The fake ZOHO (bench/fake_zoho.py, a threaded http.server on 127.0.0.1, shared with the chaos
test) answers the OAuth refresh, customer search by email and customer create, and enforces a
fixed-window limit: ZOHO's 100 calls/minute scaled to
`--limit-per-second` calls per 1-second window (clock-aligned, like ours); above it, HTTP 429 with
code 44 and Retry-After. Our side runs the real `manage.py zoho_backfill --entity customers`
with `--workers` threads, the real client and the real database-backed limiter, configured with
the same 1-second window at `--headroom` (default 97%) of the server's limit: a call that takes
the last slot of a window may land in the next one on the server.

Database: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/circletel_zoho_bench; the
name must contain "bench"); it is created if missing, migrated, and its customers are wiped.
Prints: calls, achieved call rate as a fraction of the server's limit, 429s, duplicates created.
Target: >= 95% of the limit, 0 x 429, 0 duplicates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/circletel_zoho_bench")


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench'")
    if parsed.scheme.startswith("postgres"):
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
                conn.execute(f'create database "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--limit-per-second", type=int, default=100)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--headroom", type=float, default=0.97)  # not money
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)

    from bench.fake_zoho import FakeZoho
    from billing.models import BillingAccount, Customer
    from zoho_sync.clients import zoho
    from zoho_sync.models import ApiCallCounter, CircuitBreaker, ConcurrencySlot, OutboundIntent, SyncLog

    fake = FakeZoho(limit_per_second=args.limit_per_second)
    base = fake.start()
    zoho.REGIONS["bench"] = (base, base)

    client_limit = int(args.limit_per_second * args.headroom)
    settings.ZOHO = {**settings.ZOHO, "CLIENT_ID": "bench", "CLIENT_SECRET": "bench", "REFRESH_TOKEN": "bench",
                     "ORGANIZATION_ID": "1", "REGION": "bench", "RATE_LIMIT_PER_MINUTE": client_limit,
                     "RATE_LIMIT_WINDOW_SECONDS": 1.0, "CONCURRENCY_LIMIT": args.workers}
    settings.ENABLE_ZOHO_SYNC = True
    from django.core.cache import cache

    cache.clear()

    SyncLog.objects.all().delete()
    ApiCallCounter.objects.all().delete()
    ConcurrencySlot.objects.all().delete()
    CircuitBreaker.objects.all().delete()
    OutboundIntent.objects.all().delete()
    BillingAccount.objects.all().delete()
    try:
        Customer.objects.all().delete()
    except Exception as exc:  # other apps' rows protect customers: refuse rather than guess
        raise SystemExit(f"could not wipe customers in the bench database: {exc}")
    Customer.objects.bulk_create([
        Customer(account_number=f"CT-2026-{i:05d}", first_name="Bench", last_name=f"Customer{i}",
                 email=f"bench{i}@example.co.za", city="Pretoria") for i in range(1, args.n + 1)
    ], batch_size=1000)

    print(f"backfilling {args.n} customers, server limit {args.limit_per_second}/s "
          f"(= {args.limit_per_second * 60}/min scaled), client limit {client_limit}/s, {args.workers} workers")
    t0 = time.monotonic()
    try:
        call_command("zoho_backfill", "--entity", "customers", "--workers", str(args.workers), "--no-progress",
                     "--batch-size", "500")
    except Exception as exc:
        print(f"backfill reported: {exc}")
    wall = time.monotonic() - t0  # not money
    fake.stop()

    span = (fake.last - fake.first) if fake.first and fake.last and fake.last > fake.first else wall
    rate = fake.api_calls / span if span else 0.0  # not money
    duplicates = sum(n - 1 for n in fake.creates.values() if n > 1)
    synced = Customer.objects.filter(zoho_sync_status="synced").exclude(zoho_id="").count()
    # Full windows only (the first and last are partial) for the steady-state fraction.
    windows = sorted(fake.windows.items())[1:-1]
    steady = sum(c for _, c in windows) / len(windows) if windows else rate  # not money
    print(f"customers synced:     {synced} / {args.n}")
    print(f"API calls:            {fake.api_calls} in {span:.1f} s (wall {wall:.1f} s)")
    print(f"achieved rate:        {rate:.1f}/s = {100 * rate / args.limit_per_second:.1f}% of the limit "
          f"(steady windows: {100 * steady / args.limit_per_second:.1f}%)")
    print(f"429 responses:        {fake.too_many}")
    print(f"duplicates in ZOHO:   {duplicates}")
    ok = rate >= 0.95 * args.limit_per_second and fake.too_many == 0 and duplicates == 0 and synced == args.n
    print("target (>= 95% of limit, no 429, no duplicates):", "MET" if ok else "NOT MET")


if __name__ == "__main__":
    main()
