"""Benchmark a payment webhook end to end: NetCash Pay Now notifies or signed Stripe events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_payments_bench \\
        .venv/bin/python bench/webhooks.py [--provider netcash|stripe] [--n 20000] [--dup 0.10]
                                           [--concurrency 16] [--workers 2] [--threads 1]
                                           [--drain after|during|inline|skip] [--q-workers 2] [--inline-apply]
                                           [--pdf-backlog 0] [--documents separate|shared]

Serves the app with gunicorn (`--workers`, sync workers unless `--threads` > 1) on 127.0.0.1
against PostgreSQL. A client process posts the N - N*dup unique deliveries while a second client
process posts the `--dup` share of exact redeliveries at the same time (so a redelivery can race
its original):
- `netcash`: authenticated notifies (our HMAC in Extra3, as the real Pay Now flow) for open invoices;
  the webhook creates the payment.
- `stripe`: `payment_intent.succeeded` events signed with the real SDK
  (`stripe.WebhookSignature.generate_signature_header`) for seeded pending Stripe payments.
Both webhooks record the event and queue `inbox.tasks.process_webhook_event` on commit
(django-q2, ORM broker unless REDIS_URL is set). The queue is then drained by a `qcluster` started
after the posting (`--drain after`, the default: the webhook figures are the request path alone),
or running while posting (`--drain during`: web and worker share the 2 cores, as in production),
or by this process calling the task for every pending event (`--drain inline`); `--drain skip`
leaves the queue alone (request-path figures only; the final check then says MISMATCH).
`--inline-apply` measures the apply-in-the-request path instead (WEBHOOK_APPLY_INLINE=true).

Prints accepted per second, p50/p99 latency, the drain rate and the final counts: completed
payments must equal the unique deliveries, with one ledger entry each, and every event processed
exactly once. Receipts (RCT number, PDF, then the payment_received email) are made by their own
`issue_receipt` task, one PDF render each, on the documents queue (rendered by the documents
qcluster the bench starts beside the main one): the bench reports how many were issued before it
stopped the workers but does not wait for them. The database is wiped
first (its name must contain "bench").

`--pdf-backlog N` queues N invoice PDF renders before the deliveries, as an invoice run or a
debit-order run does, to show what the documents queue buys: with `--documents separate` (the
default, as deployed) the renders go to the documents queue and a `documents` qcluster
(`--doc-workers`) renders them beside the main one; with `--documents shared`
(`Q_DOCUMENTS_QUEUE=` empty) they sit on the main queue ahead of the webhook tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._http_load import latency_summary, post_batches, print_summary, serve  # noqa: E402
from bench._seed import fresh_bench_database, open_invoices  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("LEASE_HEARTBEAT_THREAD", "true")  # the workers renew their leases as in production
STRIPE_SECRET = "whsec_bench_stripe_secret"
AMOUNT = Decimal("10.00")


def netcash_requests(invoices: list, unique: int) -> list:
    from django.conf import settings

    from payments.clients import netcash

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    requests = []
    for k in range(unique):
        reference = f"{invoices[k % len(invoices)].number}-{k:06X}"
        body = urlencode({
            "TransactionAccepted": "true", "Reason": "Success", "RequestTrace": f"BENCH-{k}",
            "Reference": reference, "Amount": netcash.rands(AMOUNT), "Extra1": "invoice",
            "Extra2": netcash.rands(AMOUNT), "Extra3": netcash.paynow_signature(reference=reference, amount=AMOUNT),
            "Method": "1"})
        requests.append([f"/api/payments/netcash/notify/{settings.NETCASH['NOTIFY_TOKEN']}", body, headers])
    return requests


def stripe_requests(invoices: list, unique: int) -> list:
    """Seed one pending Stripe payment per event (as payment_intent creation does), then sign the events."""
    import stripe

    from payments.models import PaymentTransaction

    payments = PaymentTransaction.objects.bulk_create([
        PaymentTransaction(customer_id=invoices[k % len(invoices)].customer_id, invoice=invoices[k % len(invoices)],
                           amount=AMOUNT, method="stripe", provider="stripe",
                           reference=f"{invoices[k % len(invoices)].number}-{k:06X}",
                           provider_transaction_id=f"pi_bench{k:08d}", status="pending")
        for k in range(unique)])
    now = int(time.time())
    cents = int(AMOUNT * 100)
    requests = []
    for k, p in enumerate(payments):
        event = {"id": f"evt_bench{k:08d}", "object": "event", "type": "payment_intent.succeeded", "created": now,
                 "livemode": False, "api_version": "2026-06-24.dahlia",
                 "data": {"object": {"id": p.provider_transaction_id, "object": "payment_intent", "amount": cents,
                                     "amount_received": cents, "currency": "zar", "status": "succeeded",
                                     "latest_charge": f"ch_bench{k:08d}",
                                     "metadata": {"kind": "invoice_payment", "reference": p.reference,
                                                  "invoice_number": p.reference.rsplit("-", 1)[0]}}}}
        body = json.dumps(event)
        requests.append(["/api/webhooks/stripe", body, {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET,
                                                                                  timestamp=now)}])
    return requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--provider", choices=["netcash", "stripe"], default="netcash")
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
    parser.add_argument("--pdf-backlog", type=int, default=0)
    parser.add_argument("--documents", choices=["separate", "shared"], default="separate")
    parser.add_argument("--doc-workers", type=int, default=1)
    args = parser.parse_args()

    import django

    os.environ["STRIPE_WEBHOOK_SECRET"] = STRIPE_SECRET
    os.environ["Q_DOCUMENTS_QUEUE"] = "documents" if args.documents == "separate" else ""
    django.setup()
    from django.db import connection
    from django.db.models import Count

    from billing.models import LedgerEntry
    from inbox.models import WebhookEvent
    from notifications.models import NotificationLog
    from payments.models import PaymentTransaction, Receipt

    fresh_bench_database(script="bench/webhooks.py", force=args.force)
    invoices = open_invoices(args.customers)
    unique = args.n - int(args.n * args.dup)
    build = netcash_requests if args.provider == "netcash" else stripe_requests
    requests = build(invoices, unique)
    rng = random.Random(42)
    duplicates = [rng.choice(requests) for _ in range(args.n - unique)]
    rng.shuffle(requests)
    if args.pdf_backlog:
        from circletel.queue import enqueue_document

        for invoice in invoices[:args.pdf_backlog]:
            enqueue_document("billing.tasks.render_invoice_pdf", invoice.pk, group="billing-pdf")
    connection.close()

    env = {**os.environ, "WEBHOOK_APPLY_INLINE": "true" if args.inline_apply else "false",
           "Q_WORKERS": str(args.q_workers), "Q_DOCUMENT_WORKERS": str(args.doc_workers)}
    cluster = None

    class Clusters:
        """The main qcluster, and the documents one when renders have their own queue."""

        def __init__(self):
            self.procs = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=str(ROOT), env=env,
                                           stdout=subprocess.DEVNULL)]
            if args.documents == "separate":
                self.procs.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=str(ROOT),
                                                   env={**env, "Q_CLUSTER_NAME": "documents"},
                                                   stdout=subprocess.DEVNULL))

        def terminate(self):
            for proc in self.procs:
                proc.terminate()

        def wait(self, timeout):
            for proc in self.procs:
                proc.wait(timeout=timeout)

        def kill(self):
            for proc in self.procs:
                proc.kill()

    start_cluster = Clusters

    if args.drain == "during" and not args.inline_apply:
        cluster = start_cluster()
    share = max(1, args.concurrency * 3 // 4) if duplicates else args.concurrency
    batches = [(requests, share)] + ([(duplicates, max(1, args.concurrency - share))] if duplicates else [])
    with serve(port=args.port, workers=args.workers, threads=args.threads, env=env):
        load_before = os.getloadavg()
        results, wall = post_batches(batches, port=args.port)
        load_after_posting = os.getloadavg()

    # Drain: every recorded event applied (or failed), the queue empty.
    from django_q.models import OrmQ

    from billing.models import Invoice
    from inbox.tasks import process_webhook_event

    open_statuses = [WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING]
    drain_start = time.perf_counter()
    open_after_posting = WebhookEvent.objects.filter(status__in=open_statuses).count()
    try:
        if args.inline_apply or args.drain == "skip":
            pass
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

    completed = PaymentTransaction.objects.filter(status="completed").count()
    ledger = LedgerEntry.objects.filter(entry_type="payment").count()
    received = NotificationLog.objects.filter(event="payment_received").count()
    receipts = Receipt.objects.count()
    events = WebhookEvent.objects.count()
    by_status = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    mode = "inline apply (in the request)" if args.inline_apply else f"queued on commit, drain {args.drain}"
    print(f"{args.provider} deliveries: {args.n} ({unique} unique, {args.n - unique} redeliveries from a second "
          f"process), concurrency {args.concurrency}, gunicorn {args.workers} workers x {args.threads} threads, {mode}")
    print_summary(summary)
    if args.drain == "skip" and not args.inline_apply:
        print(f"drain: skipped ({open_after_posting} events left pending; request-path figures only)")
    elif not args.inline_apply:
        print(f"drain: {open_after_posting} events open after posting, applied in {drain:.1f}s "
              f"({open_after_posting / drain if drain else 0:.0f}/s, {args.q_workers} q workers); "
              f"ORM queue rows left (notification sends, receipts): {left_in_queue}")
    delays = sorted((done - got).total_seconds() for got, done in WebhookEvent.objects.filter(
        processed_at__isnull=False).values_list("received_at", "processed_at"))  # not money
    if delays and not args.inline_apply:
        print(f"delivery to applied: p50 {delays[len(delays) // 2]:.1f}s, p99 {delays[int(len(delays) * 0.99)]:.1f}s, "
              f"max {delays[-1]:.1f}s" + (" (includes waiting for the worker to start)" if args.drain == "after" else ""))
    if args.pdf_backlog:
        rendered = Invoice.objects.filter(pk__in=[i.pk for i in invoices[:args.pdf_backlog]]).exclude(pdf="").count()
        print(f"pdf backlog: {args.pdf_backlog} invoice renders queued before the deliveries "
              f"({args.documents} queue, {args.doc_workers if args.documents == 'separate' else 0} document "
              f"workers); rendered by the end of the drain: {rendered}")
    print(f"load average: {load_before[0]:.2f} before, {load_after_posting[0]:.2f} after posting, "
          f"{os.getloadavg()[0]:.2f} at the end")
    print(f"final counts: completed_payments={completed} ledger_payment_entries={ledger} "
          f"webhook_events={events} {by_status} unique={unique}; receipts issued so far={receipts}, "
          f"receipt emails={received}")
    applied = by_status.get("processed", 0) == events == unique
    print("CHECK completed == ledger == unique, every event processed once:",
          "OK" if completed == ledger == unique and applied else "MISMATCH")


if __name__ == "__main__":
    main()
