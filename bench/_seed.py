"""Database set-up shared by the webhook benchmarks (call after `django.setup()`)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from decimal import Decimal


def fresh_bench_database(*, script: str, force: bool) -> None:
    """Refuse anything but a PostgreSQL database named *bench* (or --force), migrate, and empty the
    customer, webhook, notification and task-queue tables."""
    from django.core.management import call_command
    from django.db import connection
    from django_q.brokers import get_broker

    from billing.models import Customer
    from inbox.models import WebhookEvent
    from notifications.models import NotificationLog

    if connection.vendor != "postgresql":
        sys.exit(f"{script} needs PostgreSQL: set DATABASE_URL=postgres://.../circletel_..._bench")
    if "bench" not in connection.settings_dict["NAME"] and not force:
        sys.exit("refusing to wipe a database whose name does not contain 'bench' (use --force)")
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the database cache (qcluster stats) when REDIS_URL is unset
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Customer._meta.db_table}, {WebhookEvent._meta.db_table}, "
                       f"{NotificationLog._meta.db_table} RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM django_q_ormq")
    get_broker().purge_queue()  # the Redis list too, when REDIS_URL is set


def open_invoices(count: int) -> list:
    """`count` customers with one open invoice each, large enough that every payment is partial."""
    from billing.models import BillingAccount, Customer, Invoice

    today = date.today()
    customers = Customer.objects.bulk_create([
        Customer(account_number=f"CT-2026-{i:05d}", first_name="Bench", last_name=f"Customer{i}",
                 email=f"bench{i}@example.co.za") for i in range(1, count + 1)])
    BillingAccount.objects.bulk_create([BillingAccount(customer=c) for c in customers])
    return Invoice.objects.bulk_create([
        Invoice(number=f"INV-2026-{i:05d}", customer=c, invoice_type="recurring", issue_date=today,
                due_date=today + timedelta(days=30), prices_include_vat=True, subtotal=Decimal("869565.22"),
                vat_amount=Decimal("130434.78"), total=Decimal("1000000.00"))
        for i, c in enumerate(customers, start=1)])


def copy_rows(model, columns: list[str], rows) -> int:
    """COPY rows (tuples in `columns` order) into the model's table; returns the count (PostgreSQL)."""
    from django.db import connection

    table = model._meta.db_table
    n = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def fill(model, given: dict, *, now) -> tuple[list[str], list]:
    """Columns and constant values for every concrete, non-generated field not in `given` (auto
    timestamps get `now`, JSON defaults their dump, nullable None, blank text "")."""
    import json

    from django.db import models

    cols, consts = [], []
    for f in model._meta.concrete_fields:
        if f.generated or f.column in given or f.attname in given or f.primary_key:
            continue
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            value = now
        elif f.has_default():
            value = f.get_default()
            if isinstance(value, dict | list):
                value = json.dumps(value)
        elif f.null:
            value = None
        elif f.blank and isinstance(f, models.CharField | models.TextField | models.FileField):
            value = ""
        else:
            raise RuntimeError(f"bench seed: no value for {model.__name__}.{f.name}")
        cols.append(f.column)
        consts.append(value)
    return cols, consts
