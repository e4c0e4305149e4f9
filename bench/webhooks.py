"""Benchmark the NetCash Pay Now webhook end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_payments_bench \\
        .venv/bin/python bench/webhooks.py [--n 20000] [--dup 0.10] [--concurrency 16] [--workers 2] [--threads 1]
                                           [--drain after|during|inline] [--q-workers 2] [--inline-apply]

Serves the app with gunicorn (`--workers`, sync workers unless `--threads` > 1) on 127.0.0.1
against PostgreSQL, then a second process posts N authenticated notifies (HMAC in Extra3, as the
real Pay Now flow), `--dup` of them exact duplicates of earlier ones, shuffled. The webhook
records each notify and queues `payments.tasks.process_webhook_event` on commit (django-q2, ORM
broker unless REDIS_URL is set); the queue is then drained by a `qcluster` started after the
posting (`--drain after`, the default: the webhook figures are the request path alone), or running
while posting (`--drain during`: web and worker share the 2 cores, as in production), or by this
process calling the task for every pending event (`--drain inline`); `--drain skip` leaves the
queue alone (request-path figures only). `--inline-apply` measures the
old path instead (NETCASH_WEBHOOK_APPLY_INLINE=true: applied inside the request).

Prints accepted per second, p50/p99 latency, the drain time and the final counts: payments must
equal unique notifications, with one ledger entry and one receipt each, and no event left
unprocessed. The database is wiped first (its name must contain "bench"). Receipts are queued
(NotificationLog + a send task); the bench stops the worker before it gets to most of them.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._http_load import latency_summary, post_batches, print_summary, serve  # noqa: E402
from bench._seed import fresh_bench_database, open_invoices  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dup", type=float, default=0.10)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--drain", choices=["after", "during", "inline", "skip"], default="after")
    parser.add_argument("--q-workers", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument("--inline-apply", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection
    from django.db.models import Count

    from billing.models import LedgerEntry
    from notifications.models import NotificationLog
    from payments.clients import netcash
    from payments.models import PaymentTransaction, WebhookEvent

    fresh_bench_database(script="bench/webhooks.py", force=args.force)
    invoices = open_invoices(args.customers)

    unique = args.n - int(args.n * args.dup)
    bodies = []
    for k in range(unique):
        invoice = invoices[k % len(invoices)]
        reference = f"{invoice.number}-{k:06X}"
        amount = Decimal("10.00")
        bodies.append(urlencode({
            "TransactionAccepted": "true", "Reason": "Success", "RequestTrace": f"BENCH-{k}",
            "Reference": reference, "Amount": netcash.rands(amount), "Extra1": "invoice",
            "Extra2": netcash.rands(amount), "Extra3": netcash.paynow_signature(reference=reference, amount=amount),
            "Method": "1"}))
    rng = random.Random(42)
    bodies += [rng.choice(bodies) for _ in range(args.n - unique)]
    rng.shuffle(bodies)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    requests = [["/api/payments/netcash/webhook", body, headers] for body in bodies]
    connection.close()

    env = {**os.environ, "NETCASH_WEBHOOK_APPLY_INLINE": "true" if args.inline_apply else "false",
           "Q_WORKERS": str(args.q_workers)}
    cluster = None

    def start_cluster():
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=str(ROOT), env=env,
                                stdout=subprocess.DEVNULL)

    if args.drain == "during" and not args.inline_apply:
        cluster = start_cluster()
    with serve(port=args.port, workers=args.workers, threads=args.threads, env=env):
        load_before = os.getloadavg()
        results, wall = post_batches([(requests, args.concurrency)], port=args.port)
        load_after_posting = os.getloadavg()

    # Drain: every recorded event applied (or failed), the queue empty.
    from django_q.models import OrmQ

    from payments.tasks import process_webhook_event

    open_statuses = [WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING]
    drain_start = time.perf_counter()
    pending_at_end_of_posting = WebhookEvent.objects.filter(status__in=open_statuses).count()
    try:
        if args.inline_apply or args.drain == "skip":
            pass  # skip: request-path figures only (quick runs); the check below then reports MISMATCH
        elif args.drain == "inline":
            for pk in WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).values_list("pk", flat=True):
                process_webhook_event(pk)
        else:
            if cluster is None:
                cluster = start_cluster()
            deadline = time.monotonic() + args.drain_timeout
            while WebhookEvent.objects.filter(status__in=open_statuses).exists():
                if time.monotonic() > deadline:
                    print(f"drain timed out after {args.drain_timeout:.0f}s")
                    break
                time.sleep(0.5)
    finally:
        if cluster is not None:
            cluster.terminate()
            try:
                cluster.wait(timeout=60)
            except subprocess.TimeoutExpired:
                cluster.kill()
    drain = time.perf_counter() - drain_start
    left_in_queue = OrmQ.objects.count() if not os.environ.get("REDIS_URL") else "n/a (Redis broker)"

    summary = latency_summary(results, wall)

    payments = PaymentTransaction.objects.count()
    ledger = LedgerEntry.objects.filter(entry_type="payment").count()
    receipts = NotificationLog.objects.filter(event="payment_received").count()
    events = WebhookEvent.objects.count()
    by_status = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    mode = "inline apply (in the request)" if args.inline_apply else f"queued on commit, drain {args.drain}"
    print(f"notifications: {args.n} ({unique} unique, {args.n - unique} duplicates), concurrency {args.concurrency}, "
          f"gunicorn {args.workers} workers x {args.threads} threads, {mode}")
    print_summary(summary)
    if not args.inline_apply:
        print(f"drain: {pending_at_end_of_posting} events open after posting, applied in {drain:.1f}s "
              f"({pending_at_end_of_posting / drain if drain else 0:.0f}/s, {args.q_workers} q workers); "
              f"ORM queue rows left (receipt sends, unacknowledged): {left_in_queue}")
    print(f"load average: {load_before[0]:.2f} before, {load_after_posting[0]:.2f} after posting, "
          f"{os.getloadavg()[0]:.2f} at the end")
    print(f"final counts: payments={payments} ledger_payment_entries={ledger} receipts={receipts} "
          f"webhook_events={events} {by_status} unique_notifications={unique}")
    applied = by_status.get("processed", 0) == events == unique
    print("CHECK payments == unique notifications:",
          "OK" if payments == ledger == receipts == unique and applied else "MISMATCH")


if __name__ == "__main__":
    main()
