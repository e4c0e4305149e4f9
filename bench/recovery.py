"""Recovery after kill -9 (issue 20): real workers, PostgreSQL, both django-q2 brokers.

    .venv/bin/python bench/recovery.py [--broker orm|redis|both] [--scenario invoice_run|webhooks|both]
                                       [--services 300] [--events 200] [--timeout 240]

Each scenario gets a fresh PostgreSQL database (from a migrated template), the production settings
(DEBUG off, the heartbeat thread on, LEASE_SECONDS/HEARTBEAT_SECONDS at their defaults), one
`manage.py qcluster` with 2 workers and only the recovery sweep's schedules installed (`recover` and
`recover_half`), and a local fake of
Resend's POST /emails on 127.0.0.1 that deduplicates on the Idempotency-Key header as Resend does
(so a send repeated after a kill is counted as a duplicate request, never as a second email).

- `invoice_run`: N services fall due; the run is started (a queued JobRun, its task queued) with
  INVOICE_RUN_BATCH=5 so it spans many batches; once some but not all are invoiced, the worker that
  runs it (the pid in JobRun.owner) is killed with SIGKILL. Nobody touches anything after that.
  Done when: every service invoiced once, the killed run `died` and a run resumed from it succeeded,
  every invoice notified once (invoice_issued sent, one email each at the fake) and rendered once
  (its PDF follow-up done on its first attempt), and no follow-up left.
- `webhooks`: M authenticated NetCash Pay Now notifies are posted (through the real view) before the
  cluster starts; once a fifth are applied, one busy worker is killed with SIGKILL.
  Done when: every event processed once, one completed payment per event, one receipt each, one
  receipt email each at the fake, no follow-up left.

Prints, per scenario and broker, the seconds from the kill until everything above held ("recovered
in"), and the counts. `tests/recovery/test_kill_recovery.py` runs the same and asserts < 120 s.
The database names contain "recovery_bench"; they are dropped and created again each time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = os.environ.get("RECOVERY_PG", "postgresql://postgres@127.0.0.1:5432/")
REDIS = os.environ.get("RECOVERY_REDIS", "redis://127.0.0.1:6379/13")
TEMPLATE = "circletel_recovery_bench_template"
NOTIFY_TOKEN = "recovery-notify-token-0123456789abcdef0123456789abcdef"


class FakeResend:
    """POST /emails like Resend: one email per Idempotency-Key (a repeat returns the first id)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_key: dict[str, dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                key = self.headers.get("Idempotency-Key") or f"none-{uuid.uuid4()}"
                with fake.lock:
                    fake.requests += 1
                    first = fake.by_key.setdefault(key, {"id": str(uuid.uuid4()), "to": body.get("to"),
                                                          "subject": body.get("subject", "")})
                answer = json.dumps({"id": first["id"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def emails_to(self, suffix: str) -> int:
        with self.lock:
            return sum(1 for m in self.by_key.values() if any(str(t).endswith(suffix) for t in m["to"] or []))

    def duplicates(self) -> int:
        with self.lock:
            return self.requests - len(self.by_key)

    def close(self):
        self.server.shutdown()


def pg(db: str = "postgres"):
    return psycopg.connect(PG + db, autocommit=True)


def env_for(db: str, broker: str, resend_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_", "DATABASE_", "REDIS_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "circletel.settings", "DEBUG": "false",
        "SECRET_KEY": "recovery-bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false",
        "FIELD_ENCRYPTION_KEYS": "Wm9vZy1UZXN0LUtleS1Pbmx5LUZvci1UZXN0cy0xMjM=",
        "NETCASH_PAYNOW_HMAC_SECRET": "recovery-paynow-hmac", "NETCASH_NOTIFY_TOKEN": NOTIFY_TOKEN,
        "DATABASE_URL": PG + db, "REDIS_URL": REDIS if broker == "redis" else "",
        "Q_DOCUMENTS_QUEUE": "", "Q_ZOHO_QUEUE": "", "Q_WORKERS": "2",
        "EMAIL_BACKEND": "notifications.clients.resend_backend.EmailBackend", "RESEND_API_KEY": "re_recovery",
        "RESEND_API_URL": resend_url, "LOG_LEVEL": "WARNING", "INVOICE_RUN_BATCH": "5",
        "LEASE_HEARTBEAT_THREAD": "true",  # as in production (a pytest parent's test settings turn it off)
    })
    return env


def django(env: dict, code: str) -> str:
    out = subprocess.run([PY, "-c", "import django; django.setup()\n" + code], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"script failed:\n{out.stderr[-3000:]}")
    return out.stdout


def manage(env: dict, *args: str) -> None:
    out = subprocess.run([PY, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")


def make_template() -> None:
    """Migrate a template database once per call (CREATE DATABASE ... TEMPLATE copies it in a second)."""
    with pg() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    env = env_for(TEMPLATE, "orm", "http://127.0.0.1:9/")
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")


def fresh_database(name: str) -> None:
    assert "recovery_bench" in name
    with pg() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS).flushdb()


def install_only_recover_schedule(env: dict) -> None:
    manage(env, "setup_schedules")
    django(env, "from django_q.models import Schedule\n"
                "Schedule.objects.exclude(func='circletel.tasks.recover').delete()")


def start_cluster(env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([PY, "manage.py", "qcluster"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_cluster(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def cluster_workers(root_pid: int) -> list[int]:
    """The django-q2 worker processes under a qcluster, busy ones first. With setproctitle, django-q2
    titles its processes "qcluster MainProcess <name>" (the cluster and its sentinel), "qcluster
    Process-<id> monitor|pusher", and a worker "qcluster Process-<id> idle" or the task it runs."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                title = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            words = title.split()
            if len(words) >= 3 and words[1].startswith("Process-") and words[2] not in ("monitor", "pusher"):
                found.append((words[2] == "idle", child))
    return [pid for _, pid in sorted(found)]


def wait_for(check, timeout: float, every: float = 0.5):
    """Poll `check()` (returns a truthy value when done) until it holds; returns (value, seconds)."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None, time.monotonic() - started
        time.sleep(every)


def one(conn, sql: str, *params):
    return conn.execute(sql, params).fetchone()


def _stage(broker: str, scenario: str) -> tuple[str, FakeResend, dict]:
    """A fresh database for the scenario, an empty Redis queue, the fake Resend, and the workers' env."""
    db = f"circletel_recovery_bench_{broker}_{scenario}"
    fresh_database(db)
    if broker == "redis":
        flush_redis()
    fake = FakeResend()
    return db, fake, env_for(db, broker, fake.url)


# --- scenario: kill -9 the worker running the invoice run ---------------------------------------------

def scenario_invoice_run(broker: str, services: int = 300, timeout: float = 240, logdir: Path = Path("/tmp")) -> dict:
    db, fake, env = _stage(broker, "invoices")
    next_bill = (date.today().replace(day=1) + timedelta(days=32)).replace(day=1)
    run_date = next_bill - timedelta(days=3)
    django(env, f"""
from datetime import date
from decimal import Decimal
from billing.models import BillingAccount, Customer, CustomerService
customers = Customer.objects.bulk_create([Customer(account_number=f"CT-2026-{{i:05d}}", first_name="Kill",
    last_name=f"Test {{i}}", email=f"kill{{i}}@invoices.example.co.za") for i in range(1, {services} + 1)])
BillingAccount.objects.bulk_create([BillingAccount(customer=c) for c in customers])
CustomerService.objects.bulk_create([CustomerService(customer=c, service_type="fibre", package_name="Fibre 50/50",
    monthly_price=Decimal("499.00"), billing_day=1, next_billing_date=date.fromisoformat("{next_bill}"),
    status="active", activation_date=date(2025, 6, 1)) for c in customers])
""")
    install_only_recover_schedule(env)
    cluster = start_cluster(env, logdir / f"recovery-{broker}-invoices.log")
    result = {"scenario": "invoice_run", "broker": broker, "services": services}
    try:
        time.sleep(3)  # the cluster is up
        django(env, f"""
from datetime import date
from django.db import transaction
from billing.services.invoice_run import invoice_run_start
with transaction.atomic():
    invoice_run_start(triggered_by="recovery bench", run_date=date.fromisoformat("{run_date}"))
""")
        with pg(db) as conn:
            def mid_run():
                row = one(conn, "SELECT id, status, owner FROM circletel_jobrun WHERE job_name='generate_invoices' "
                                "ORDER BY id LIMIT 1")
                count = one(conn, "SELECT count(*) FROM billing_invoice")[0]
                if row and row[1] != "running" and row[1] != "queued":
                    raise RuntimeError(f"the run ended ({row[1]}) before it could be killed; use more --services")
                if row and row[1] == "running" and row[2] and 0 < count < services:
                    return row, count
                return None

            found, _ = wait_for(mid_run, 60, every=0.005)
            if not found:
                raise RuntimeError("the invoice run never got going")
            (run_id, _, owner), invoiced = found
            os.kill(int(owner.rsplit(":", 1)[1]), signal.SIGKILL)
            killed_at = time.monotonic()
            result.update({"killed_run": run_id, "invoiced_at_kill": invoiced})

            def recovered():
                invoices, distinct = one(conn, "SELECT count(*), count(DISTINCT service_id) FROM billing_invoice")
                died = one(conn, "SELECT count(*) FROM circletel_jobrun WHERE id=%s AND status='died'", run_id)[0]
                resumed = one(conn, "SELECT count(*) FROM circletel_jobrun WHERE job_name='generate_invoices' "
                                    "AND status='succeeded' AND resumed_from_id IS NOT NULL")[0]
                open_follow_ups = one(conn, "SELECT count(*) FROM circletel_followup WHERE status <> 'done'")[0]
                notified = one(conn, "SELECT count(*) FROM notifications_notificationlog "
                                     "WHERE event='invoice_issued' AND status='sent'")[0]
                rendered = one(conn, "SELECT count(*) FROM billing_invoice WHERE pdf_generated_at IS NOT NULL")[0]
                emails = fake.emails_to("@invoices.example.co.za")
                state = {"invoices": invoices, "distinct_services": distinct, "died": died, "resumed_ok": resumed,
                         "open_follow_ups": open_follow_ups, "notified": notified, "rendered": rendered,
                         "emails": emails}
                result["state"] = state
                done = (invoices == distinct == services and died == 1 and resumed >= 1 and open_follow_ups == 0
                        and notified == rendered == emails == services)
                return done

            ok, _ = wait_for(recovered, timeout)
            result["recovered_in_s"] = round(time.monotonic() - killed_at, 1) if ok else None
            result["render_attempts_max"] = one(conn, "SELECT max(attempts) FROM circletel_followup "
                                                      "WHERE func='billing.tasks.render_invoice_pdfs'")[0]
            result["notification_rows"] = one(conn, "SELECT count(*) FROM notifications_notificationlog "
                                                    "WHERE event='invoice_issued'")[0]
            result["resend_duplicate_requests"] = fake.duplicates()
    finally:
        stop_cluster(cluster)
        fake.close()
    return result


# --- scenario: kill -9 a worker mid webhook drain ------------------------------------------------------

def scenario_webhooks(broker: str, events: int = 200, timeout: float = 240, logdir: Path = Path("/tmp")) -> dict:
    db, fake, env = _stage(broker, "webhooks")
    install_only_recover_schedule(env)
    # The deliveries arrive (through the real view: authenticated, recorded, apply task queued) before the
    # workers start, so the kill lands in the middle of a drain.
    django(env, f"""
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from django.test import Client
from billing.models import BillingAccount, Customer, Invoice
from payments.clients import netcash
customers = Customer.objects.bulk_create([Customer(account_number=f"CT-2026-{{i:05d}}", first_name="Kill",
    last_name=f"Hook {{i}}", email=f"kill{{i}}@webhooks.example.co.za") for i in range(1, {events} + 1)])
BillingAccount.objects.bulk_create([BillingAccount(customer=c, balance=Decimal("499.00")) for c in customers])
today = date.today()
invoices = Invoice.objects.bulk_create([Invoice(number=f"INV-2026-{{i:05d}}", customer=c, invoice_type="equipment",
    issue_date=today, due_date=today + timedelta(days=7), prices_include_vat=True, subtotal=Decimal("433.91"),
    vat_amount=Decimal("65.09"), total=Decimal("499.00")) for i, c in enumerate(customers, start=1)])
client = Client()
amount = Decimal("499.00")
for k, invoice in enumerate(invoices):
    reference = f"{{invoice.number}}-K{{k:05X}}"
    body = urlencode({{"TransactionAccepted": "true", "Reason": "Success", "RequestTrace": f"KILL-{{k}}",
        "Reference": reference, "Amount": netcash.rands(amount), "Extra1": "invoice", "Extra2": netcash.rands(amount),
        "Extra3": netcash.paynow_signature(reference=reference, amount=amount), "Method": "1"}})
    answer = client.post("/api/payments/netcash/notify/{NOTIFY_TOKEN}", body,
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.content
""")
    result = {"scenario": "webhooks", "broker": broker, "events": events}
    cluster = start_cluster(env, logdir / f"recovery-{broker}-webhooks.log")
    try:
        with pg(db) as conn:
            def drain_started():
                done = one(conn, "SELECT count(*) FROM payments_webhookevent WHERE status='processed'")[0]
                workers = cluster_workers(cluster.pid)
                return (done, workers) if done >= events // 5 and workers else None

            found, _ = wait_for(drain_started, 120, every=0.02)
            if not found:
                raise RuntimeError("the drain never got going")
            processed_at_kill, workers = found
            if processed_at_kill >= events:
                raise RuntimeError("the drain finished before the kill; use more --events")
            os.kill(workers[0], signal.SIGKILL)
            killed_at = time.monotonic()
            result["processed_at_kill"] = processed_at_kill

            def recovered():
                processed = one(conn, "SELECT count(*) FROM payments_webhookevent WHERE status='processed'")[0]
                payments, distinct = one(conn, "SELECT count(*), count(DISTINCT reference) "
                                               "FROM payments_paymenttransaction WHERE status='completed'")
                receipts = one(conn, "SELECT count(*) FROM payments_receipt")[0]
                open_follow_ups = one(conn, "SELECT count(*) FROM circletel_followup WHERE status <> 'done'")[0]
                emails = fake.emails_to("@webhooks.example.co.za")
                state = {"processed": processed, "payments": payments, "distinct_payments": distinct,
                         "receipts": receipts, "open_follow_ups": open_follow_ups, "receipt_emails": emails}
                result["state"] = state
                return (processed == payments == distinct == receipts == emails == events and open_follow_ups == 0)

            ok, _ = wait_for(recovered, timeout)
            result["recovered_in_s"] = round(time.monotonic() - killed_at, 1) if ok else None
            result["ledger_payments"] = one(conn, "SELECT count(*) FROM billing_ledgerentry WHERE entry_type='payment'")[0]
            result["resend_duplicate_requests"] = fake.duplicates()
    finally:
        stop_cluster(cluster)
        fake.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both", help="django-q2 broker(s)")
    parser.add_argument("--scenario", choices=["invoice_run", "webhooks", "both"], default="both", help="what to kill")
    parser.add_argument("--services", type=int, default=300, help="services the invoice run bills")
    parser.add_argument("--events", type=int, default=200, help="NetCash notifies in the drain")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for recovery")  # not money
    args = parser.parse_args()
    make_template()
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    for broker in brokers:
        if args.scenario in ("invoice_run", "both"):
            print(json.dumps(scenario_invoice_run(broker, args.services, args.timeout)), flush=True)
        if args.scenario in ("webhooks", "both"):
            print(json.dumps(scenario_webhooks(broker, args.events, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
