"""Benchmark the Stripe webhook (`POST /api/webhooks/stripe`) with signed payment_intent.succeeded events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/circletel_pay2_bench \\
        .venv/bin/python bench/webhooks_stripe.py [--n 5000] [--dup 0.10] [--concurrency 16] [--workers 2]

Same method as bench/webhooks.py: gunicorn (2 sync workers) on 127.0.0.1 against PostgreSQL. Seeds
one open invoice per customer and one pending Stripe payment per unique event; builds N events
signed with the real SDK (`stripe.WebhookSignature.generate_signature_header`), `--dup` of them
exact redeliveries. One client process posts the unique events while a second process posts the
duplicates at the same time (so a duplicate can race its original). The Stripe webhook verifies,
records and applies inside the request (payment_complete: allocation, ledger, receipt
notification, ZOHO outbox; the receipt PDF task is only queued).

Prints accepted/s, p50/p99 latency and the final counts: completed payments and payment ledger
entries must equal the unique events, with every event processed exactly once. The database is
wiped first (its name must contain "bench").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._http_load import latency_summary, post_batches, print_summary, serve  # noqa: E402
from bench._seed import fresh_bench_database, open_invoices  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circletel.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
SECRET = "whsec_bench_stripe_secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--dup", type=float, default=0.10)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    import django

    os.environ["STRIPE_WEBHOOK_SECRET"] = SECRET
    django.setup()
    from decimal import Decimal

    import stripe
    from django.db import connection
    from django.db.models import Count

    from billing.models import LedgerEntry
    from notifications.models import NotificationLog
    from payments.models import PaymentTransaction, WebhookEvent

    fresh_bench_database(script="bench/webhooks_stripe.py", force=args.force)
    invoices = open_invoices(args.customers)

    unique = args.n - int(args.n * args.dup)
    payments = PaymentTransaction.objects.bulk_create([
        PaymentTransaction(customer_id=invoices[k % len(invoices)].customer_id, invoice=invoices[k % len(invoices)],
                           amount=Decimal("10.00"), method="stripe", provider="stripe",
                           reference=f"{invoices[k % len(invoices)].number}-{k:06X}",
                           provider_transaction_id=f"pi_bench{k:08d}", status="pending")
        for k in range(unique)])
    items = []
    now = int(time.time())
    for k, p in enumerate(payments):
        event = {"id": f"evt_bench{k:08d}", "object": "event", "type": "payment_intent.succeeded", "created": now,
                 "livemode": False, "api_version": "2026-06-24.dahlia",
                 "data": {"object": {"id": p.provider_transaction_id, "object": "payment_intent", "amount": 1000,
                                     "amount_received": 1000, "currency": "zar", "status": "succeeded",
                                     "latest_charge": f"ch_bench{k:08d}",
                                     "metadata": {"kind": "invoice_payment", "reference": p.reference,
                                                  "invoice_number": p.reference.rsplit("-", 1)[0]}}}}
        body = json.dumps(event)
        items.append(["/api/webhooks/stripe", body, {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=now)}])
    rng = random.Random(42)
    duplicates = [rng.choice(items) for _ in range(args.n - unique)]
    rng.shuffle(items)
    connection.close()

    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET}
    share = max(1, args.concurrency * 3 // 4)
    with serve(port=args.port, workers=args.workers, env=env):
        # The duplicates come from a second process at the same time, so a redelivery can race its original.
        results, wall = post_batches([(items, share), (duplicates, max(1, args.concurrency - share))], port=args.port)
    summary = latency_summary(results, wall)

    completed = PaymentTransaction.objects.filter(status="completed").count()
    ledger = LedgerEntry.objects.filter(entry_type="payment").count()
    receipts = NotificationLog.objects.filter(event="payment_received").count()
    by_status = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    print(f"stripe events: {args.n} ({unique} unique, {args.n - unique} duplicates from a second process), "
          f"concurrency {args.concurrency}, gunicorn {args.workers} workers, applied in the request")
    print_summary(summary)
    print(f"final counts: completed_payments={completed} ledger_payment_entries={ledger} "
          f"payment_received_notifications={receipts} webhook_events={by_status} unique_events={unique}")
    good = completed == ledger == receipts == unique and by_status.get("processed", 0) == unique
    print("CHECK completed == ledger == unique, every event processed once:", "OK" if good else "MISMATCH")


if __name__ == "__main__":
    main()
