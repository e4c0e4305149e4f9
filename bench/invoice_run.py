"""Benchmark the invoice run: seed N active services, time the run (PDFs excluded), then PDFs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_billing_bench \\
        .venv/bin/python bench/invoice_run.py --n 100000 [--batch-size 1000] [--pdf-sample 20]

The target database is migrated and its billing rows are wiped first (refuses a database whose
name does not contain "bench" unless --force). Prints invoices/second, queries per batch (it must
not grow with N), peak memory (max RSS), and PDFs/second on a small sample. The after-commit
follow-up tasks are counted, not queued (the broker is not part of what is measured).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

RUN_DATE = date(2026, 1, 29)


def wipe() -> None:
    """Empty the billing tables (TRUNCATE ... CASCADE on PostgreSQL; this is a bench database)."""
    from billing.models import Customer
    from circletel.models import Sequence

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Customer._meta.db_table} RESTART IDENTITY CASCADE")
    else:
        from billing.models import (
            BillingAccount,
            CreditNote,
            CustomerService,
            Invoice,
            InvoiceLine,
            LedgerEntry,
            ServiceActionLog,
            Suspension,
        )
        with transaction.atomic():
            for model in (LedgerEntry, CreditNote, InvoiceLine, Invoice, Suspension, ServiceActionLog,
                          CustomerService, BillingAccount, Customer):
                model._base_manager.all()._raw_delete(model._base_manager.db)
    Sequence.objects.filter(name="invoice").delete()


def seed(n: int, credit_every: int = 0) -> None:
    from billing.models import BillingAccount, Customer, CustomerService

    days = (1, 5, 25, 30)
    chunk = 5000
    for offset in range(0, n, chunk):
        size = min(chunk, n - offset)
        customers = Customer.objects.bulk_create([
            Customer(account_number=f"CT-2026-B{offset + i:07d}", first_name="Bench", last_name=f"Customer {offset + i}",
                     email=f"bench{offset + i}@example.co.za",
                     account_type="business" if (offset + i) % 5 == 0 else "personal")
            for i in range(size)])
        BillingAccount.objects.bulk_create([BillingAccount(customer=c) for c in customers])
        services = []
        for i, c in enumerate(customers):
            day = days[(offset + i) % 4]
            # every service falls due within the 7 lead days of the run date
            nbd = {1: date(2026, 2, 1), 5: date(2026, 2, 5), 25: date(2026, 1, 25), 30: date(2026, 1, 30)}[day]
            services.append(CustomerService(customer=c, service_type="fibre", package_name="Fibre 50/50",
                                            monthly_price=Decimal("499.00") + (offset + i) % 7 * 100,
                                            billing_day=day, next_billing_date=nbd, status="active",
                                            activation_date=date(2025, 6, 1)))
        CustomerService.objects.bulk_create(services)
        if credit_every:
            _seed_credit([c for i, c in enumerate(customers) if (offset + i) % credit_every == 0])


def _seed_credit(customers) -> None:
    """A prepayment of R 1,000 for each customer: the run must pay their new invoice from it."""
    from billing.models import BillingAccount, LedgerEntry
    from payments.models import PaymentTransaction

    payments = PaymentTransaction.objects.bulk_create([
        PaymentTransaction(customer=c, amount=Decimal("1000.00"), method="eft", provider="manual",
                           reference=f"BENCH-PREPAY-{c.pk}", status="completed") for c in customers])
    LedgerEntry.objects.bulk_create([
        LedgerEntry(customer_id=p.customer_id, entry_type="payment", amount=Decimal("-1000.00"),
                    reference=f"payment:{p.pk}", description="bench prepayment", effective_date=date(2026, 1, 1),
                    payment=p) for p in payments])
    BillingAccount.objects.filter(customer__in=customers).update(balance=Decimal("-1000.00"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pdf-sample", type=int, default=20)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--credit-every", type=int, default=0,
                        help="every Kth customer has R 1,000 of credit, paid onto the new invoice in the run (0 = none)")
    args = parser.parse_args()

    name = connection.settings_dict["NAME"]
    print(f"database: {connection.vendor} {name}")
    if "bench" not in str(name) and not args.force:
        sys.exit("refusing to wipe a database whose name lacks 'bench' (use --force)")
    call_command("migrate", verbosity=0)
    wipe()
    t = time.perf_counter()
    seed(args.n, args.credit_every)
    print(f"seeded {args.n:,} active services in {time.perf_counter() - t:.1f}s"
          + (f" (every {args.credit_every}th customer in credit)" if args.credit_every else ""))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not money

    import django_q.tasks

    followups = []
    django_q.tasks.async_task = lambda func, *a, **kw: followups.append(func)

    queries = [0]

    def counter(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    from billing.services.invoice_run import invoice_run

    with connection.execute_wrapper(counter):
        t = time.perf_counter()
        result = invoice_run(run_date=RUN_DATE, batch_size=args.batch_size, triggered_by="bench")
        elapsed = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not money
    rate = result.created / elapsed  # not money
    print(f"invoice run: {result.created:,} invoices in {elapsed:.2f}s = {rate:,.0f} invoices/second")
    print(f"batches: {result.batches} of {args.batch_size}; queries: {queries[0]:,} total = "
          f"{queries[0] / max(result.batches, 1):.1f} per batch, {queries[0] / max(result.created, 1):.4f} per invoice")
    print(f"follow-up tasks queued after commit (counted, not sent): {len(followups)}")
    print(f"peak memory (max RSS of this process): {rss_mb:.0f} MB (after seeding, before the run: {rss_before:.0f} MB)")

    if args.credit_every:
        from billing.models import Invoice as Inv

        paid = Inv.objects.filter(invoice_type="recurring", amount_paid__gt=0).count()
        expected = len(range(0, args.n, args.credit_every))
        print(f"invoices paid (in full or part) from credit in the run: {paid:,} (expected {expected:,})")
    rerun = invoice_run(run_date=RUN_DATE, batch_size=args.batch_size, triggered_by="bench")
    print(f"rerun created {rerun.created} invoices (must be 0)")
    t = time.perf_counter()
    call_command("check_ledger", verbosity=0, stdout=open(os.devnull, "w"))
    print(f"check_ledger: OK in {time.perf_counter() - t:.1f}s")

    from billing.models import Invoice

    sample = list(Invoice.objects.order_by("pk").values_list("pk", flat=True)[: args.pdf_sample])
    try:
        from billing.services.pdf import invoice_render_pdf
    except ImportError:
        print("PDF rendering: not available")
        return
    t = time.perf_counter()
    for pk in sample:
        invoice_render_pdf(invoice_id=pk)
    pdf_elapsed = time.perf_counter() - t
    print(f"PDF rendering: {len(sample)} PDFs in {pdf_elapsed:.2f}s = {len(sample) / pdf_elapsed:.1f} PDFs/second")  # not money


if __name__ == "__main__":
    main()
