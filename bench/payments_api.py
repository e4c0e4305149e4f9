"""Benchmark the payments API: `POST /api/payments/process` (sandbox gateway) and `GET /api/payments/history`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_payments_api_bench \\
        .venv/bin/python bench/payments_api.py [--customers 50] [--payments 1200] [--requests 300]

Seeds the database with COPY (PostgreSQL only): `--customers` customers, each with a login, an API
token, a billing account and one active service, `--payments` paid invoices each paid in full by one
completed payment (with what the real model keeps for it: the invoice's and the payment's ledger
entries, the allocation and the receipt), and enough open invoices for the process calls (balance =
the open invoices, as `check_ledger` wants it). Then, in-process with DRF's APIClient and token
auth, times `--requests` requests of each (after 20 warm-up requests):

- `GET /api/payments/history` (first page) and `?offset=1000` (a deep page) for random customers;
  each answer's `count` and page length are checked against the seeded rows;
- `POST /api/payments/process` `{"invoice_id", "flow": "netcash"}` with an `Idempotency-Key`, the
  sandbox gateway standing in for Pay Now (SANDBOX_GATEWAY_ENABLED), each paying a different open
  invoice. Each form is then approved at `POST /payments/sandbox/complete` (the sandbox's hosted
  page; it applies its notify inline), timed on a line of its own. Every 10th process call is
  repeated with its key (must replay the first answer) and every 10th approval is posted twice (must
  not pay twice). At the end every paid invoice must have exactly one completed payment with the
  reference its process call gave, one `payment:` ledger entry and allocations equal to its total,
  and every account balance must equal its ledger.

Prints p50/p95/p99/max in ms and the queries per request. Targets (issue 18): process p95 < 100 ms;
history p95 < 500 ms with 1,000+ payments per customer. `--explain` prints the plans of the history
queries for one customer.

The database is created and migrated if missing and its rows are wiped first (refuses a database
whose name does not contain "bench" unless --force).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/circletel_payments_api_bench")
os.environ.setdefault("SANDBOX_GATEWAY_ENABLED", "true")


def ensure_database() -> None:
    import psycopg
    from django.conf import settings

    params = settings.DATABASES["default"]
    name = params["NAME"]
    if params["ENGINE"] != "django.db.backends.postgresql":
        return  # refused in main() with a message
    with psycopg.connect(host=params.get("HOST") or "127.0.0.1", port=params.get("PORT") or 5432,
                         user=params.get("USER") or "postgres", password=params.get("PASSWORD") or None,
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            if "bench" not in name and "--force" not in sys.argv:
                sys.exit(f"refusing to create database {name!r}: its name does not contain 'bench' (use --force)")
            conn.execute(f'CREATE DATABASE "{name}"')


import django  # noqa: E402

django.setup()
ensure_database()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench import _seed  # noqa: E402

TODAY = timezone.localdate()
NOW = timezone.now()
PRICE = Decimal("899.00")
SUBTOTAL, VAT = Decimal("781.74"), Decimal("117.26")
WARM = 20


def fill(model, given: dict) -> tuple[list[str], list]:
    return _seed.fill(model, given, now=NOW)


copy_rows = _seed.copy_rows


def load(model, given_cols: list[str], gen, *, pk: str | None = "id") -> int:
    extra_cols, consts = fill(model, dict.fromkeys(given_cols))
    cols = ([pk] if pk else []) + given_cols + extra_cols
    return copy_rows(model, cols, ((*row, *consts) for row in gen))


def wipe() -> None:
    """Empty every table the seed or the requests write (users and customers cascade to the rest)."""
    from django.contrib.auth import get_user_model
    from django_q.brokers import get_broker

    from billing.models import Customer
    from circletel.models import FollowUp
    from inbox.models import WebhookEvent

    tables = [get_user_model()._meta.db_table, Customer._meta.db_table, WebhookEvent._meta.db_table,
              FollowUp._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(f'TRUNCATE {", ".join(f"{chr(34)}{t}{chr(34)}" for t in tables)} RESTART IDENTITY CASCADE')
        cursor.execute("DELETE FROM django_q_ormq")
    get_broker().purge_queue()


def seed(customers: int, per_customer: int, open_per_customer: int) -> dict[int, str]:
    """Seed the rows; returns {customer id: API token}."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from billing.models import BillingAccount, Customer, CustomerService, Invoice, LedgerEntry
    from payments.models import PaymentAllocation, PaymentTransaction, Receipt

    User = get_user_model()
    t0 = time.perf_counter()
    wipe()
    password = make_password("bench-password-123")
    ids = range(1, customers + 1)
    tokens = {i: uuid.uuid5(uuid.NAMESPACE_URL, f"circletel-bench-token-{i}").hex + f"{i:08x}" for i in ids}

    load(User, ["username", "email", "password", "is_staff", "is_active", "is_superuser", "first_name",
                "last_name", "date_joined"],
         ((i, f"payer{i}@example.co.za", f"payer{i}@example.co.za", password, False, True, False, "Bench",
           f"Payer{i}", NOW) for i in ids))
    load(Token, ["key", "user_id", "created"], ((tokens[i], i, NOW) for i in ids), pk=None)
    load(Customer, ["account_number", "first_name", "last_name", "email", "user_id", "account_type"],
         ((i, f"CT-2026-{i:05d}", "Bench", f"Payer{i}", f"payer{i}@example.co.za", i, "personal") for i in ids))
    load(BillingAccount, ["customer_id", "balance"], ((i, i, PRICE * open_per_customer) for i in ids))
    load(CustomerService, ["customer_id", "service_type", "package_name", "monthly_price", "billing_day",
                           "status", "data_cap_gb", "download_mbps", "upload_mbps", "activation_date"],
         ((i, i, "fibre", "Fibre 50/50", PRICE, 1, "active", 200, 50, 50, TODAY - timedelta(days=4000))
          for i in ids))
    print(f"  customers, users, tokens, accounts, services: {customers:,} each ({time.perf_counter() - t0:.1f}s)")

    # Invoices: per customer `per_customer` paid ones (one per day going back), then the open ones
    # (the newest). Invoice id n of customer c: (c - 1) * per_invoices + k + 1.
    per_inv = per_customer + open_per_customer

    def inv_id(c: int, k: int) -> int:
        return (c - 1) * per_inv + k + 1

    def issue_of(k: int):
        return TODAY - timedelta(days=per_inv - k)

    def invoice_rows():
        for c in ids:
            for k in range(per_inv):
                n = inv_id(c, k)
                issue = issue_of(k)
                paid = k < per_customer
                status = "paid" if paid else ("overdue" if issue + timedelta(days=7) < TODAY else "unpaid")
                yield (n, f"INV-2026-{n:07d}", c, c, "recurring", issue, issue + timedelta(days=7), issue,
                       issue + timedelta(days=1), True, SUBTOTAL, VAT, PRICE, PRICE if paid else Decimal("0.00"),
                       status, NOW - timedelta(days=per_inv - k))

    t1 = time.perf_counter()
    n_inv = load(Invoice, ["number", "customer_id", "service_id", "invoice_type", "issue_date", "due_date",
                           "period_start", "period_end", "prices_include_vat", "subtotal", "vat_amount", "total",
                           "amount_paid", "status", "created_at"], invoice_rows())
    print(f"  invoices: {n_inv:,} ({per_customer:,} paid + {open_per_customer} open per customer) "
          f"({time.perf_counter() - t1:.1f}s)")

    # Payments: payment id p of customer c pays invoice inv_id(c, k), p = (c - 1) * per_customer + k + 1.
    methods = (("card", "sandbox"), ("debit_order", "netcash"), ("eft", "netcash"), ("instant_eft", "netcash"))

    def payments():
        for c in ids:
            for k in range(per_customer):
                p = (c - 1) * per_customer + k + 1
                paid_at = NOW - timedelta(days=per_inv - k - 2, minutes=c)
                method, provider = methods[k % len(methods)]
                yield p, c, inv_id(c, k), k, paid_at, method, provider

    t2 = time.perf_counter()
    n_pay = load(PaymentTransaction, ["customer_id", "invoice_id", "amount", "method", "provider", "reference",
                                      "status", "completed_at", "created_at", "updated_at", "zoho_sync_status"],
                 ((p, c, i, PRICE, method, provider, f"INV-2026-{i:07d}-{p:06X}", "completed", at, at, at, "synced")
                  for p, c, i, _, at, method, provider in payments()))
    load(PaymentAllocation, ["payment_id", "invoice_id", "amount", "created_at"],
         ((p, p, i, PRICE, at) for p, _, i, _, at, _, _ in payments()))
    load(Receipt, ["payment_id", "number", "issued_at", "emailed_at"],
         ((p, p, f"RCT-2026-{p:07d}", at, at) for p, _, _, _, at, _, _ in payments()))
    print(f"  payments, allocations, receipts: {n_pay:,} each ({time.perf_counter() - t2:.1f}s)")

    def ledger_rows():
        n = 0
        for c in ids:
            for k in range(per_inv):
                i = inv_id(c, k)
                n += 1
                yield (n, c, "invoice", PRICE, f"invoice:{i}", i, None, f"Invoice INV-2026-{i:07d}", issue_of(k))
        for p, c, i, _k, at, _, _ in payments():
            n += 1
            yield (n, c, "payment", -PRICE, f"payment:{p}", i, p, f"Payment INV-2026-{i:07d}-{p:06X}", at.date())

    t3 = time.perf_counter()
    n_led = load(LedgerEntry, ["customer_id", "entry_type", "amount", "reference", "invoice_id", "payment_id",
                               "description", "effective_date"], ledger_rows())
    print(f"  ledger entries: {n_led:,} ({time.perf_counter() - t3:.1f}s)")

    with connection.cursor() as cursor:
        for model in (User, Customer, BillingAccount, CustomerService, Invoice, PaymentTransaction,
                      PaymentAllocation, Receipt, LedgerEntry):
            t = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), (SELECT MAX(id) FROM \"{t}\"))")
        cursor.execute("ANALYZE")
    print(f"  seeded in {time.perf_counter() - t0:.1f}s")
    return tokens


def percentile(values: list[float], p: float) -> float:  # not money
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary(name: str, timings: list[float], queries: list[int]) -> dict:
    return {"name": name, "n": len(timings), "p50": statistics.median(timings), "p95": percentile(timings, 95),
            "p99": percentile(timings, 99), "max": max(timings), "queries": sorted(set(queries))}


def timed(call, *args, **kwargs):
    """(response, ms, queries) of one request, `call(*args, **kwargs)`."""
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        response = call(*args, **kwargs)
        elapsed = (time.perf_counter() - start) * 1000  # not money
    return response, elapsed, len(ctx.captured_queries)


def api_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def measure_history(tokens: dict[int, str], expected: dict[int, int], offset: int, requests: int,
                    rng: random.Random) -> dict:
    url = "/api/payments/history" + (f"?offset={offset}" if offset else "")
    timings, queries = [], []
    for i in range(requests + WARM):
        c = rng.choice(list(tokens))
        client = api_client(tokens[c])
        response, ms, nq = timed(client.get, url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        body = response.json()
        assert body["count"] == expected[c], (url, c, body["count"], expected[c])
        assert len(body["results"]) == max(0, min(settings.REST_FRAMEWORK["PAGE_SIZE"], expected[c] - offset)), \
            (url, c, len(body["results"]))
        # Seeded payment ids of customer c run (c - 1) * per + 1 .. c * per, oldest first.
        per = expected[c]
        newest_first = [c * per - offset - j for j in range(len(body["results"]))]
        assert [r["id"] for r in body["results"]] == newest_first, (url, c, "not the right page, newest first")
        if i >= WARM:
            timings.append(ms)
            queries.append(nq)
    return summary(f"GET {url}", timings, queries)


def measure_process(tokens: dict[int, str], open_invoices: dict[int, list[int]], requests: int,
                    rng: random.Random) -> tuple[dict, dict, dict, dict[int, str]]:
    """Pay `requests` (+ warm-up) different open invoices: process (timed), then approve at the sandbox
    (timed on its own line). Returns the two summaries, replay stats and {invoice id: reference}."""
    from billing.models import Invoice

    order = [c for c in tokens for _ in open_invoices[c]]
    rng.shuffle(order)
    browser = Client()
    t_proc, q_proc, t_done, q_done = [], [], [], []
    replays = {"process replayed": 0, "approvals posted twice": 0}
    references: dict[int, str] = {}
    for i, c in enumerate(order[:requests + WARM]):
        invoice_id = open_invoices[c].pop(0)
        body = {"invoice_id": invoice_id, "flow": "netcash"}
        key = f"bench-{uuid.uuid4().hex}"
        client = api_client(tokens[c])
        response, ms, nq = timed(client.post, "/api/payments/process", body, format="json",
                                 HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 200, (invoice_id, response.status_code, response.content[:300])
        answer = response.json()
        fields = answer["fields"]
        number = Invoice.objects.values_list("number", flat=True).get(pk=invoice_id)
        assert answer["action_url"].endswith("/payments/sandbox/checkout"), answer["action_url"]
        assert fields["p2"].startswith(number + "-") and Decimal(fields["p4"]) == PRICE, fields
        references[invoice_id] = fields["p2"]
        if i >= WARM:
            t_proc.append(ms)
            q_proc.append(nq)
        if i % 10 == 0:  # the same key again: the first answer, replayed
            again = client.post("/api/payments/process", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again
            assert again.json() == answer, (again.json(), answer)
            replays["process replayed"] += 1
        form = {**fields, "decision": "approve"}
        response, ms, nq = timed(browser.post, "/payments/sandbox/complete", form)
        assert response.status_code == 302 and fields["p2"] in response.headers["Location"], \
            (invoice_id, response.status_code, response.headers.get("Location"))
        if i >= WARM:
            t_done.append(ms)
            q_done.append(nq)
        if i % 10 == 5:  # approved twice (a double click): must not pay twice
            assert browser.post("/payments/sandbox/complete", form).status_code == 302
            replays["approvals posted twice"] += 1
    return (summary("POST /api/payments/process", t_proc, q_proc),
            summary("POST /payments/sandbox/complete", t_done, q_done), replays, references)


def check_payments(references: dict[int, str], seeded_payments: int) -> list[str]:
    """Every paid invoice: one completed payment with its process call's reference, one ledger entry,
    allocations equal to its total; every balance equals its ledger. Returns the problems found."""
    from django.db.models import Count, Sum

    from billing.models import BillingAccount, Invoice, LedgerEntry
    from payments.models import PaymentAllocation, PaymentTransaction

    problems = []
    new = PaymentTransaction.objects.filter(pk__gt=seeded_payments)
    by_invoice = {row["invoice_id"]: row for row in new.values("invoice_id").annotate(n=Count("id"))}
    if new.count() != len(references):
        problems.append(f"{new.count()} new payments for {len(references)} process calls")
    for pay in new.filter(invoice_id__in=list(references)).values("pk", "invoice_id", "reference", "status",
                                                                  "amount", "provider"):
        if by_invoice[pay["invoice_id"]]["n"] != 1:
            problems.append(f"invoice {pay['invoice_id']}: {by_invoice[pay['invoice_id']]['n']} payments")
        if (pay["reference"], pay["status"], pay["amount"], pay["provider"]) != (
                references[pay["invoice_id"]], "completed", PRICE, "sandbox"):
            problems.append(f"payment {pay['pk']}: {pay}")
    missing = set(references) - set(by_invoice)
    if missing:
        problems.append(f"{len(missing)} invoices with no payment, e.g. {sorted(missing)[:5]}")
    entries = LedgerEntry.objects.filter(payment__in=new, entry_type="payment")
    if entries.count() != len(references) or entries.exclude(amount=-PRICE).exists():
        problems.append(f"{entries.count()} payment ledger entries for {len(references)} payments")
    allocated = dict(PaymentAllocation.objects.filter(payment__in=new).values_list("invoice_id")
                     .annotate(s=Sum("amount")))
    wrong = [i for i in references if allocated.get(i) != PRICE]
    if wrong:
        problems.append(f"{len(wrong)} invoices allocated other than {PRICE}, e.g. {wrong[:5]}")
    not_paid = Invoice.objects.filter(pk__in=list(references)).exclude(status="paid", amount_paid=PRICE).count()
    if not_paid:
        problems.append(f"{not_paid} invoices not paid in full")
    ledger = dict(LedgerEntry.objects.values_list("customer_id").annotate(s=Sum("amount")))
    off = [a.customer_id for a in BillingAccount.objects.all() if a.balance != ledger.get(a.customer_id, 0)]
    if off:
        problems.append(f"{len(off)} balances differ from their ledger, e.g. customers {off[:5]}")
    return problems


def explain(customer_id: int, offset: int) -> None:
    """The plans of the history view's two queries (the paginator's count, then the page)."""
    from billing.models import Customer
    from payments.api.payments_views import _payments_for

    qs = _payments_for(Customer.objects.get(pk=customer_id).user).order_by("-created_at", "-pk")
    count_sql, count_params = qs.order_by().values("pk").query.sql_with_params()
    page_sql, page_params = qs[offset:offset + 25].query.sql_with_params()
    for label, sql, params in (("count", f"SELECT COUNT(*) FROM ({count_sql}) q", count_params),
                               (f"page offset={offset}", page_sql, page_params)):
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print(f"\n-- EXPLAIN {label}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--payments", type=int, default=1200, help="completed payments per customer")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--deep-offset", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true", help="print the history queries' plans")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("bench/payments_api.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    name = connection.settings_dict["NAME"]
    if "bench" not in name and not args.force:
        sys.exit(f"refusing to wipe database {name!r}: its name does not contain 'bench' (use --force)")
    if not settings.SANDBOX_GATEWAY_ENABLED or settings.NETCASH.get("PAYNOW_SERVICE_KEY"):
        sys.exit("the sandbox gateway must be on and no Pay Now service key set (SANDBOX_GATEWAY_ENABLED=true)")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)

    open_per_customer = -(-(args.requests + WARM) // args.customers) + 1
    print(f"seeding {args.customers:,} customers x {args.payments:,} completed payments into {name} ...")
    tokens = seed(args.customers, args.payments, open_per_customer)

    from billing.models import Invoice

    open_invoices: dict[int, list[int]] = {c: [] for c in tokens}
    for pk, c in Invoice.objects.filter(status__in=Invoice.OPEN_STATUSES).order_by("pk").values_list("pk", "customer"):
        open_invoices[c].append(pk)
    expected = dict.fromkeys(tokens, args.payments)
    seeded_payments = args.customers * args.payments

    rng = random.Random(args.seed)
    print(f"\n{args.requests} timed requests each (after {WARM} warm-up), random customers, DRF APIClient with "
          f"token auth, DEBUG off")
    results = [measure_history(tokens, expected, 0, args.requests, rng),
               measure_history(tokens, expected, args.deep_offset, args.requests, rng)]
    process, approve, replays, references = measure_process(tokens, open_invoices, args.requests, rng)
    results += [process, approve]
    print(f"{'request':<42}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  queries/request")
    for r in results:
        print(f"{r['name']:<42}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}  {r['queries']}")

    problems = check_payments(references, seeded_payments)
    print(f"\n{len(references)} invoices paid through process + sandbox approval "
          f"({replays['process replayed']} process calls replayed with their key, "
          f"{replays['approvals posted twice']} approvals posted twice): "
          + ("each paid once, ledger and balances agree" if not problems else "PROBLEMS"))
    for p in problems:
        print(f"  - {p}")
    history_ok = max(r["p95"] for r in results[:2]) < 500
    process_ok = process["p95"] < 100
    print(f"target process p95 < 100 ms: {'met' if process_ok else 'NOT met'}; "
          f"history p95 < 500 ms with {args.payments:,} payments per customer: {'met' if history_ok else 'NOT met'}")
    if args.explain:
        explain(1, args.deep_offset)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
