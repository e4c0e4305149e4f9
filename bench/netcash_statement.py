"""Benchmark settling a NetCash merchant statement: N debit-order lines, a share of them DRU unpaids.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_statement_bench \\
        .venv/bin/python bench/netcash_statement.py [--n 50000] [--unpaid 0.05] [--batch-size 1000]
                                                   [--unpaid-fee 0] [--workers 1]

Seeds N customers, each owing one invoice (booked on the ledger) with a submitted debit-order item and
its pending payment. The unpaid share was settled by an earlier statement (untimed, the same bulk path),
so the timed statement holds N lines: (1 - unpaid) * N `TDD` success lines for the waiting items and
unpaid * N `DRU` lines ("Debit order unpaid - Code 2") returning settled ones through the returns path
(payment reversed, invoice reopened, customer told, optional unpaid fee). The statement text is parsed,
stored and applied exactly as the daily job does (`statement_store_lines`, `statement_lines_apply`).

Prints lines/second for the whole statement (parse + store + apply), the CPU it took in this process and
in its PostgreSQL backend (read from /proc: the figure that does not depend on what else shares the
machine), the queries of every all-success batch (constant: it must not grow with N), then applies the same
statement text again and checks nothing changed, and that `check_ledger` finds no difference. The
after-commit follow-up tasks (receipts, dunning hook, notifications) are counted, not queued.
`--workers N` applies with N job processes at once (spawned and warmed before the clock starts; lines are
shared by row locks).
`--unpaid-fee` > 0 sends every return through `payment_reverse` one at a time (the fee invoice).
The database is wiped first (its name must contain "bench").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

ACTION = date(2026, 9, 17)
AMOUNT = Decimal("499.00")


def seed(n: int, unpaid: float) -> tuple[list, list]:
    """N customers owing one invoice each, with a submitted item + pending payment. Returns (items, unpaid items)."""
    from billing.models import BillingAccount, Customer, Invoice, LedgerEntry
    from payments.models import DebitOrderItem, DebitOrderRun, PaymentMethod, PaymentTransaction

    customers = Customer.objects.bulk_create([
        Customer(account_number=f"CT-2026-{i:06d}", first_name="Bench", last_name=f"Customer{i}",
                 email=f"bench{i}@example.co.za") for i in range(n)], batch_size=5000)
    BillingAccount.objects.bulk_create([BillingAccount(customer=c, auto_pay=True, balance=AMOUNT) for c in customers],
                                       batch_size=5000)
    vat = (AMOUNT * 15 / 115).quantize(Decimal("0.01"))
    invoices = Invoice.objects.bulk_create([
        Invoice(number=f"INV-2026-{i:06d}", customer=c, invoice_type="recurring", issue_date=ACTION - timedelta(days=20),
                due_date=ACTION - timedelta(days=2), prices_include_vat=True, subtotal=AMOUNT - vat, vat_amount=vat,
                total=AMOUNT) for i, c in enumerate(customers)], batch_size=5000)
    LedgerEntry.objects.bulk_create([
        LedgerEntry(customer=c, entry_type="invoice", amount=AMOUNT, reference=f"invoice:{inv.pk}",
                    description="bench", effective_date=inv.issue_date, invoice=inv)
        for c, inv in zip(customers, invoices, strict=True)], batch_size=5000)
    methods = PaymentMethod.objects.bulk_create([
        PaymentMethod(customer=c, method_type="debit_order", display_name="Bank ***4567", last_four="4567",
                      mandate_reference=f"M-{c.account_number}"[:22], mandate_status="active", is_primary=True)
        for c in customers], batch_size=5000)
    run = DebitOrderRun.objects.create(action_date=ACTION, batch_name="CT-DO-BENCH", status="authorised",
                                       item_count=n, total_amount=AMOUNT * n)
    payments = PaymentTransaction.objects.bulk_create([
        PaymentTransaction(customer=c, invoice=inv, amount=AMOUNT, method="debit_order", provider="netcash",
                           reference=f"DO-BENCH-{i}", status="pending", payment_method=m)
        for i, (c, inv, m) in enumerate(zip(customers, invoices, methods, strict=True))], batch_size=5000)
    items = DebitOrderItem.objects.bulk_create([
        DebitOrderItem(run=run, customer=c, invoice=inv, payment_method=m, payment=p, action_date=ACTION,
                       amount=AMOUNT, account_reference=m.mandate_reference, status="submitted", line_number=3 + i)
        for i, (c, inv, m, p) in enumerate(zip(customers, invoices, methods, payments, strict=True))], batch_size=5000)
    step = max(1, round(1 / unpaid)) if unpaid else 0
    bounced = [item for i, item in enumerate(items) if step and i % step == 0]
    return items, bounced


def line(day: date, code: str, description: str, effect: str, ref: str) -> str:
    return "\t".join([day.isoformat(), code, "1", description, f"{AMOUNT:.2f}", effect, "0", "CT-DO-BENCH", ref])


def statement(day: date, success_items, unpaid_items) -> str:
    rows = [line(day, "OBL", "Opening Balance", "+", "")]
    rows += [line(day, "TDD", "Two day debit order", "+", i.account_reference) for i in success_items]
    rows += [line(day, "DRU", "Debit order unpaid - Code 2", "-", i.account_reference) for i in unpaid_items]
    rows.append(line(day, "CBL", "Closing Balance", "+", ""))
    return "\n".join(rows)


def _worker_setup(unpaid_fee: str) -> None:
    """A spawned job process: the same settings as the bench's own process (no ZOHO, fee, tasks counted)."""
    settings.NETCASH = {**settings.NETCASH, "UNPAID_FEE": Decimal(unpaid_fee)}
    settings.ENABLE_ZOHO_SYNC = False
    import django_q.tasks

    django_q.tasks.async_task = lambda func, *a, **kw: None


def _apply_in_process(batch_size: int) -> dict:
    from payments.services import netcash_statement as svc

    try:
        return dict(svc.statement_lines_apply(batch_size=batch_size))
    finally:
        connection.close()


def apply_text(text: str, day: date, batch_size: int, query_log: list | None = None, workers: int = 1, pool=None):
    from payments.clients import netcash_niws
    from payments.models import NetcashStatement
    from payments.services import netcash_statement as svc

    stmt, _ = NetcashStatement.objects.get_or_create(kind="daily", statement_date=day)
    lines = netcash_niws.parse_statement(text)
    new = svc.statement_store_lines(statement=stmt, lines=lines)
    counts: Counter = Counter()
    original = svc._apply_batch

    def counted(**kwargs):
        queries = []

        def log(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        raw_before = svc.raw_statements
        with connection.execute_wrapper(log):
            result = original(**kwargs)
        raw = svc.raw_statements - raw_before  # statements on the server-side-binding cursor
        if query_log is not None and result["lines"]:
            query_log.append((result["lines"], result.get("returned", 0) + result.get("failed", 0),
                              len(queries) + raw))
        return result

    svc._apply_batch = counted
    try:
        if workers <= 1:
            counts = svc.statement_lines_apply(batch_size=batch_size)
        else:  # the job's apply run by N job processes at once: lines are shared by row locks (skip_locked)
            for result in [pool.submit(_apply_in_process, batch_size) for _ in range(workers)]:
                counts.update(result.result())
    finally:
        svc._apply_batch = original
    return len(lines), new, counts


def cpu_seconds() -> tuple[float, float]:
    """CPU used so far by this process and by its PostgreSQL backend (same machine: /proc), so the figure
    can be read apart from what other processes on a shared machine take."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    backend = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return time.process_time(), backend


def snapshot():
    from django.db.models import Sum

    from billing.models import BillingAccount, LedgerEntry
    from payments.models import DebitOrderItem, NetcashStatementLine, PaymentAllocation

    return (LedgerEntry.objects.count(), LedgerEntry.objects.aggregate(s=Sum("amount"))["s"],
            BillingAccount.objects.aggregate(s=Sum("balance"))["s"], PaymentAllocation.objects.count(),
            NetcashStatementLine.objects.count(),
            tuple(sorted(Counter(DebitOrderItem.objects.values_list("status", flat=True)).items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--unpaid", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--unpaid-fee", default="0")
    parser.add_argument("--workers", type=int, default=1, help="apply with N job processes at once (skip_locked)")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    from bench._seed import fresh_bench_database
    from billing.services.ledger_check import ledger_differences

    fresh_bench_database(script="bench/netcash_statement.py", force=args.force)
    settings.NETCASH = {**settings.NETCASH, "UNPAID_FEE": Decimal(args.unpaid_fee)}
    settings.ENABLE_ZOHO_SYNC = False
    import django_q.tasks

    followups: list = []
    django_q.tasks.async_task = lambda func, *a, **kw: followups.append(func)

    t0 = time.perf_counter()
    with transaction.atomic():
        items, bounced = seed(args.n, args.unpaid)
    bounced_ids = {i.pk for i in bounced}
    waiting = [i for i in items if i.pk not in bounced_ids]
    print(f"seeded {args.n} customers, invoices, items ({time.perf_counter() - t0:.1f} s)")

    # The unpaid share was collected by an earlier statement (same bulk path, not timed).
    t0 = time.perf_counter()
    _, _, earlier = apply_text(statement(ACTION, bounced, []), ACTION, args.batch_size)
    print(f"earlier statement: {earlier['settled']} items settled ({time.perf_counter() - t0:.1f} s, untimed)")

    day = ACTION + timedelta(days=1)  # success lines for the rest, and the unpaids of the earlier ones
    text = statement(day, waiting, bounced)
    query_log: list = []
    pool = None
    if args.workers > 1:  # N job processes (spawned and warmed up before the clock starts: they are long-lived)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_setup, initargs=(args.unpaid_fee,))
        for warm in [pool.submit(os.getpid) for _ in range(args.workers * 2)]:
            warm.result()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    total_lines, new, counts = apply_text(text, day, args.batch_size, query_log, workers=args.workers, pool=pool)
    elapsed = time.perf_counter() - t0
    if pool is not None:
        pool.shutdown()
    cpu1 = cpu_seconds()
    py_cpu, pg_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    cpu = py_cpu + pg_cpu
    money_lines = total_lines - 2  # OBL / CBL
    print(f"statement: {money_lines} debit-order lines ({len(waiting)} TDD, {len(bounced)} DRU) + 2 balance lines, "
          f"{args.workers} worker(s)")
    print(f"  stored {new} new lines; applied: {dict(counts)}")
    print(f"  {elapsed:.2f} s -> {money_lines / elapsed:,.0f} lines/s (parse + store + apply, whole statement)")
    if args.workers == 1:
        print(f"  CPU: {py_cpu:.2f} s Python + {pg_cpu:.2f} s PostgreSQL backend = {cpu:.2f} s -> "
              f"{money_lines / cpu:,.0f} lines per CPU-second")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    success_batches = [q for n, r, q in query_log if r == 0] if args.workers == 1 else []
    if success_batches:
        print(f"  queries per batch without unpaids: min {min(success_batches)}, max {max(success_batches)} "
              f"(batch size {args.batch_size}, {len(success_batches)} batches)")
    mixed = [(n, r, q) for n, r, q in query_log if r] if args.workers == 1 else []
    if mixed:
        print(f"  batches with unpaids: {len(mixed)}, queries {min(q for *_, q in mixed)}-{max(q for *_, q in mixed)} "
              f"(returns: bulk reversal, or payment_reverse one at a time when a fee or credit is involved)")

    before = snapshot()
    t0 = time.perf_counter()
    _, new_again, counts_again = apply_text(text, day, args.batch_size)
    print(f"same statement again: {new_again} new lines, applied {dict(counts_again) or 0} "
          f"({time.perf_counter() - t0:.2f} s); unchanged: {snapshot() == before}")
    differences = ledger_differences()
    print(f"check_ledger: {'clean' if not differences else f'{len(differences)} differences'}")
    print(f"follow-up tasks queued after commit (counted, not sent): {len(followups)}")
    ok = (counts["settled"] == len(waiting) and counts.get("returned", 0) == len(bounced) and new_again == 0
          and snapshot() == before and not differences)
    print("RESULT:", "OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
