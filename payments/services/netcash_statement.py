"""NetCash statement reconciliation: the statement is NetCash's own record of money (CONTRACTS 2.1 item 3,
2.5: "the single point of comprehensive reconciliation"), so it alone settles debit orders.

    statement = statement_fetch(kind="daily", day=date(2026, 9, 17))   # request / poll (outside a transaction)
    statement_lines_apply()                                           # each stored line applied once
    paynow_unconfirmed_flag()                                         # notify-applied payments no line confirmed
    reconciliation_report_build(day=date(2026, 9, 17))

- Lines are stored once (`NetcashStatementLine.line_key`, a hash of the line and its ordinal among
  identical lines of its date): the same statement read twice, or the interim then the full one,
  adds nothing. Each line is applied once: `processed_at` is set in the transaction that applies it,
  under its row lock (`skip_locked`: two runs at once share the lines, never apply one twice).
- Debit-order success codes (`TDD`, `SDD`, `TDC`, `SDC`, `DCS`) settle the submitted item with that
  account reference and amount (action date on or before the line's date). The common case is
  settled in bulk, a constant number of queries per batch of lines: payment completed, ledger
  `payment:{pk}`, balance, invoice paid amount and status, allocation, item settled, the ZOHO mirror
  queued; receipts and the dunning hook follow after commit in one task each. Anything unusual (the
  invoice changed since the run) goes through `debit_order_item_settle`, one line at a time.
- Unpaid codes (`DRU`, `DCU`, `DCX`, `DCD`) return the settled item through the existing returns path
  (`debit_order_item_return` -> `payment_reverse`: reason code in words, unpaid fee, invoices reopen
  for dunning, ZOHO mirror, the customer told); an unpaid line for an item no success line settled
  fails its payment instead.
- Pay Now receipt codes confirm (or, for a still-pending EFT, complete) the payment with that
  reference; the codes are [UNCONFIRMED] (CONTRACTS 2.5: "not listed"), kept in `CODE_KINDS` only, and
  unknown codes are logged and left for staff.
- A line that matches nothing of ours changes nothing: it is `unmatched` and listed for staff
  (`ReconciliationIssue` "on the statement, never applied"), so a forged or duplicated line is
  harmless. A Pay Now payment applied from a notify that no line confirms within
  `NETCASH["STATEMENT_CONFIRM_HOURS"]` is flagged for review, ops alerted once.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DecimalField, F, Q, Sum, Value, When
from django.utils import timezone

from billing.models import BillingAccount, Invoice, LedgerEntry
from billing.services.ledger import invoice_status_for
from circletel.http import ProviderError
from circletel.queue import enqueue, enqueue_document
from notifications.services import notify_ops
from payments.clients import netcash_niws
from payments.models import (
    DebitOrderItem,
    NetcashStatement,
    NetcashStatementLine,
    PaymentAllocation,
    PaymentTransaction,
    ReconciliationIssue,
    ReconciliationReport,
)
from payments.services.debit_orders import debit_order_item_fail, debit_order_item_return, debit_order_item_settle
from payments.services.payments import payment_complete
from zoho_sync.models import SyncStatus

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)
BATCH_SIZE = 1000
Kind = NetcashStatementLine.Kind
Outcome = NetcashStatementLine.Outcome
Item = DebitOrderItem.Status
PStatus = PaymentTransaction.Status

# Transaction code -> kind: the one table (CONTRACTS 2.5 for debit orders and balances, [3P] circletel
# netcash-statement-service.ts). Pay Now codes are [UNCONFIRMED] ("not listed" in CONTRACTS 2.5); taken
# from the [3P] statement fixture of paycycledevops/netcash_api (spec/fixtures/statement.txt).
CODE_KINDS = {
    "TDD": Kind.DEBIT_SUCCESS, "SDD": Kind.DEBIT_SUCCESS, "TDC": Kind.DEBIT_SUCCESS, "SDC": Kind.DEBIT_SUCCESS,
    "DCS": Kind.DEBIT_SUCCESS,
    "DRU": Kind.DEBIT_UNPAID, "DCU": Kind.DEBIT_UNPAID, "DCX": Kind.DEBIT_UNPAID, "DCD": Kind.DEBIT_UNPAID,
    "OBL": Kind.BALANCE, "CBL": Kind.BALANCE,
    "PNC": Kind.PAYNOW_RECEIPT, "PNE": Kind.PAYNOW_RECEIPT, "PNP": Kind.PAYNOW_RECEIPT, "PNM": Kind.PAYNOW_RECEIPT,
    "PNU": Kind.PAYNOW_REVERSAL, "PND": Kind.PAYNOW_REVERSAL, "PNZ": Kind.PAYNOW_REVERSAL,
    "PNQ": Kind.PAYNOW_REVERSAL, "PNW": Kind.PAYNOW_REVERSAL,
}
KNOWN_OTHER_CODES = {"ELM", "DCM", "NSF", "VAT", "BTR", "DTT", "IAT", "INP", "INR"}  # fees, transfers, mandates
# The bank's unpaid reason codes, in words (CONTRACTS 2.5).
UNPAID_REASONS = {
    "2": "not provided for (insufficient funds)", "3": "account closed", "4": "account does not exist",
    "5": "payment stopped", "6": "account frozen", "7": "refer to drawer", "8": "account in dispute",
    "10": "invalid account number", "12": "invalid branch code", "14": "account dormant", "22": "account closed",
    "60": "blocked (consecutive failures)",
}
PAYNOW_METHODS = (PaymentTransaction.Method.CARD, PaymentTransaction.Method.EFT,
                  PaymentTransaction.Method.INSTANT_EFT, PaymentTransaction.Method.CASH)
CONFIRMED_STATUSES = (PStatus.COMPLETED, PStatus.PARTIALLY_REFUNDED, PStatus.REFUNDED)


def code_kind(code: str) -> str:
    return CODE_KINDS.get((code or "").upper(), Kind.OTHER)


def unpaid_reason(code: str) -> str:
    """The unpaid reason in words, for the customer's email and the item: "Returned unpaid by the bank:
    not provided for (insufficient funds) (code 2)"."""
    words = UNPAID_REASONS.get((code or "").lstrip("0") or code, "")
    if words:
        return f"Returned unpaid by the bank: {words} (code {code})"
    return f"Returned unpaid by the bank (code {code})" if code else "Returned unpaid by the bank"


def line_keys(lines: list[netcash_niws.StatementLine]) -> list[str]:
    """One key per line: its fields plus its ordinal among identical lines of the same text, so two real
    identical lines stay two and the same statement read again gives the same keys."""
    seen: Counter = Counter()
    keys = []
    for line in lines:
        fields = (line.line_date.isoformat(), line.code, str(line.amount), line.effect, line.reference,
                  line.account_reference, line.description)
        ordinal = seen[fields]
        seen[fields] += 1
        keys.append(hashlib.sha256("|".join((*fields, str(ordinal))).encode()).hexdigest())
    return keys


def _raw_cursor():
    """A server-side-binding psycopg cursor on Django's connection (same transaction): parameters travel
    apart from the SQL instead of being quoted into it in Python (Django's default client-side binding),
    which is what makes arrays of 1,000 values cheap."""
    connection.ensure_connection()
    return _CountingCursor(connection.connection)


class _CountingCursor:
    """Counts the raw statements (`raw_statements`), so the bench's queries-per-batch includes them."""

    def __init__(self, conn):
        import psycopg

        self._cursor = psycopg.Cursor(conn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._cursor.close()

    def execute(self, sql, params):
        global raw_statements
        raw_statements += 1
        return self._cursor.execute(sql, params)

    @property
    def rowcount(self):
        return self._cursor.rowcount


raw_statements = 0  # raw statements run so far (bench/netcash_statement.py reads the difference)


def _in(queryset, field: str, values):
    """`field IN values` as one array parameter on PostgreSQL (`= ANY(%s)`): a list of 1,000 ids is one
    parameter, not 1,000 quoted ones. `__in` elsewhere."""
    values = list(values)
    if connection.vendor != "postgresql":
        return queryset.filter(**{f"{field}__in": values})
    model = queryset.model
    column = model._meta.get_field(field).column
    return queryset.extra(where=[f'"{model._meta.db_table}"."{column}" = ANY(%s)'], params=[values])


def _update_rows(model, key: str, columns: list[tuple[str, str]], rows: list[tuple], *, expressions=None) -> None:
    """Set per-row values in ONE statement on PostgreSQL: `UPDATE t SET col = v.col FROM unnest(<one array per
    column>) v WHERE t.key = v.key` (Django's `bulk_update` builds a CASE per row and column, slow to compile
    for 1,000 rows; one array per column keeps the parameters few). `expressions` overrides a column's
    assignment (e.g. balance = balance - v.balance: amounts move, never read-modify-write). Elsewhere
    (SQLite in tests) it falls back to one ORM UPDATE per row."""
    if not rows:
        return
    table = model._meta.db_table
    names = [key, *(name for name, _ in columns)]
    if connection.vendor != "postgresql":
        for row in rows:
            values = dict(zip(names, row, strict=True))
            assignments = {}
            for name, _ in columns:
                expr = (expressions or {}).get(name)
                if expr:
                    assignments[name] = F(name) - values[name] if " - v." in expr else F(name) + values[name]
                else:
                    assignments[name] = values[name]
            model._base_manager.filter(**{key: values[key]}).update(**assignments)
        return
    types = ["integer", *(sql_type for _, sql_type in columns)]
    arrays = ", ".join(f"%b::{t}[]" for t in types)
    sets = ", ".join(f'"{name}" = {(expressions or {}).get(name) or f"v.{name}"}' for name, _ in columns)
    sql = (f'UPDATE "{table}" SET {sets} FROM unnest({arrays}) AS v({", ".join(names)}) '
           f'WHERE "{table}"."{key}" = v.{key}')
    with _raw_cursor() as cursor:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])


def _insert_rows(model, columns: list[tuple[str, str]], rows: list[tuple], build) -> None:
    """INSERT many rows in ONE statement on PostgreSQL (`INSERT ... SELECT * FROM unnest(<arrays>)`); elsewhere
    `bulk_create` of `build(row)` instances."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([build(row) for row in rows])
        return
    names = ", ".join(f'"{name}"' for name, _ in columns)
    arrays = ", ".join(f"%b::{t}[]" for _, t in columns)
    with _raw_cursor() as cursor:
        cursor.execute(f'INSERT INTO "{model._meta.db_table}" ({names}) SELECT * FROM unnest({arrays})',
                       [list(column) for column in zip(*rows, strict=True)])


# --- fetch and store ------------------------------------------------------------------------------------------
def statement_store_lines(*, statement: NetcashStatement, lines: list[netcash_niws.StatementLine]) -> int:
    """Store the lines not stored before (bulk, conflicts on `line_key` ignored). Returns how many were new."""
    keys = line_keys(lines)
    if connection.vendor == "postgresql":
        return _store_lines_pg(statement, keys, lines)
    with transaction.atomic():
        existing = set()
        for start in range(0, len(keys), 5000):
            existing.update(NetcashStatementLine.objects.filter(line_key__in=keys[start:start + 5000])
                            .values_list("line_key", flat=True))
        rows = []
        for key, line in zip(keys, lines, strict=True):
            if key in existing:
                continue
            existing.add(key)
            kind = code_kind(line.code)
            rows.append(NetcashStatementLine(
                statement=statement, line_key=key, line_date=line.line_date, code=line.code[:6], kind=kind,
                description=line.description[:300], amount=line.amount, effect=line.effect,
                reference=line.reference[:100], account_reference=line.account_reference[:100],
                unpaid_code=line.unpaid_code[:10]))
        NetcashStatementLine.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    return len(rows)


def _store_lines_pg(statement, keys, lines) -> int:
    """One INSERT ... SELECT FROM unnest(...) ON CONFLICT (line_key) DO NOTHING per 5,000 lines."""
    table = NetcashStatementLine._meta.db_table
    columns = [("statement_id", "integer"), ("line_key", "varchar"), ("line_date", "date"), ("code", "varchar"),
               ("kind", "varchar"), ("description", "varchar"), ("amount", "numeric"), ("effect", "varchar"),
               ("reference", "varchar"), ("account_reference", "varchar"), ("unpaid_code", "varchar"),
               ("outcome", "varchar"), ("note", "varchar"), ("created_at", "timestamptz")]
    now = timezone.now()
    rows = [(statement.pk, key, line.line_date, line.code[:6], code_kind(line.code), line.description[:300],
             line.amount, line.effect, line.reference[:100], line.account_reference[:100], line.unpaid_code[:10],
             Outcome.PENDING, "", now) for key, line in zip(keys, lines, strict=True)]
    names = ", ".join(f'"{name}"' for name, _ in columns)
    arrays = ", ".join(f"%b::{t}[]" for _, t in columns)
    new = 0
    with transaction.atomic(), _raw_cursor() as cursor:
        for start in range(0, len(rows), 5000):
            chunk = rows[start:start + 5000]
            cursor.execute(f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays}) '
                           f'ON CONFLICT (line_key) DO NOTHING', [list(c) for c in zip(*chunk, strict=True)])
            new += cursor.rowcount
    return new


def statement_fetch(*, kind: str, day: date, sleep=None, refetch: bool = False) -> NetcashStatement:
    """Request the statement (or keep polling with the id we have) and store its lines once.

    Outside any transaction (NetCash calls). Daily: one row per date; a retrieved daily statement is
    not fetched again unless `refetch`. `FILE NOT READY` leaves the row `requested` with its polling id
    for the next run; an error is kept on the row (and the polling id dropped, so the next run asks anew).
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("statement_fetch calls NetCash: run it outside a transaction")
    S = NetcashStatement.Status
    if kind == NetcashStatement.Kind.DAILY:
        statement, _ = NetcashStatement.objects.get_or_create(kind=kind, statement_date=day)
        if statement.status in (S.RETRIEVED, S.NO_CHANGE) and not refetch:
            return statement
        if refetch and statement.status in (S.RETRIEVED, S.NO_CHANGE):
            NetcashStatement.objects.filter(pk=statement.pk).update(polling_id="", status=S.REQUESTED)
            statement.refresh_from_db()
    else:
        statement = (NetcashStatement.objects.filter(kind=kind, statement_date=day, status=S.REQUESTED)
                     .exclude(polling_id="").order_by("-pk").first()
                     or NetcashStatement.objects.create(kind=kind, statement_date=day))
    try:
        if not statement.polling_id:
            polling_id = (netcash_niws.request_merchant_statement(from_date=day, sleep=sleep)
                          if kind == NetcashStatement.Kind.DAILY
                          else netcash_niws.request_interim_merchant_statement(sleep=sleep))
            NetcashStatement.objects.filter(pk=statement.pk).update(polling_id=polling_id[:100], status=S.REQUESTED,
                                                                    error="")
            statement.polling_id = polling_id[:100]
        retrieval = netcash_niws.retrieve_merchant_statement(polling_id=statement.polling_id, sleep=sleep)
    except ProviderError as exc:
        NetcashStatement.objects.filter(pk=statement.pk).update(status=S.FAILED, polling_id="",
                                                                error=exc.message[:2000])
        statement.refresh_from_db()
        raise
    if retrieval.state == "not_ready":
        return statement
    if retrieval.state == "no_change":
        NetcashStatement.objects.filter(pk=statement.pk).update(status=S.NO_CHANGE, retrieved_at=timezone.now())
        statement.refresh_from_db()
        return statement
    lines = netcash_niws.parse_statement(retrieval.text)
    new = statement_store_lines(statement=statement, lines=lines)
    NetcashStatement.objects.filter(pk=statement.pk).update(
        status=S.RETRIEVED, retrieved_at=timezone.now(), raw_text=retrieval.text[:2_000_000], line_count=len(lines),
        new_line_count=new, error="")
    statement.refresh_from_db()
    return statement


# --- apply ------------------------------------------------------------------------------------------------------
def statement_lines_apply(*, batch_size: int = BATCH_SIZE, limit: int | None = None) -> Counter:
    """Apply every stored line not applied yet, oldest first, in batches (one transaction each)."""
    totals: Counter = Counter()
    after = 0  # walk forward by primary key: lines are stored in statement order (dates ascending), and a
    # scan by id never revisits the dead index entries that applied lines leave behind
    while limit is None or totals["lines"] < limit:
        counts = _apply_batch(batch_size=batch_size if limit is None else min(batch_size, limit - totals["lines"]),
                              after=after)
        if not counts["lines"]:
            break
        after = counts.pop("last_pk")
        totals.update(counts)
    return totals


def _apply_batch(*, batch_size: int, after: int = 0) -> Counter:
    counts: Counter = Counter()
    now = timezone.now()
    with transaction.atomic():
        lines = list(NetcashStatementLine.objects.select_for_update(skip_locked=True)
                     .filter(processed_at__isnull=True, pk__gt=after).order_by("pk")[:batch_size])
        if not lines:
            return counts
        counts["lines"] = len(lines)
        counts["last_pk"] = lines[-1].pk
        by_kind = defaultdict(list)
        for line in lines:
            by_kind[line.kind].append(line)
        used_items: set[int] = set()
        _apply_debit_success(by_kind[Kind.DEBIT_SUCCESS], used_items, now, counts)
        _apply_debit_unpaids(by_kind[Kind.DEBIT_UNPAID], used_items, now, counts)
        _apply_paynow_receipts(by_kind[Kind.PAYNOW_RECEIPT], counts)
        for line in by_kind[Kind.PAYNOW_REVERSAL]:
            _unmatched(line, "Pay Now unpaid, recall or dispute: review the payment by hand (never reversed "
                             "automatically).", counts)
        for line in (*by_kind[Kind.BALANCE], *by_kind[Kind.OTHER]):
            line.outcome = Outcome.IGNORED
            if line.kind == Kind.OTHER and line.code not in KNOWN_OTHER_CODES:
                line.note = f"Unknown transaction code {line.code}: not applied; check with NetCash."
                logger.warning("netcash statement: unknown transaction code %s (%s)", line.code, line.description[:80])
            counts["ignored"] += 1
        for line in lines:
            line.processed_at = now
        _update_rows(NetcashStatementLine, "id", [("outcome", "varchar"), ("note", "varchar"),
                                                  ("debit_order_item_id", "integer"), ("payment_id", "integer"),
                                                  ("processed_at", "timestamptz")],
                     [(line.pk, line.outcome, line.note, line.debit_order_item_id, line.payment_id, now)
                      for line in lines])
        issues = [ReconciliationIssue(kind=ReconciliationIssue.Kind.UNAPPLIED_RECEIPT, line=line,
                                      amount=line.amount, reference=line.account_reference or line.reference,
                                      note=line.note[:300])
                  for line in lines if line.outcome == Outcome.UNMATCHED and line.kind != Kind.OTHER]
        ReconciliationIssue.objects.bulk_create(issues, ignore_conflicts=True)
    return counts


def _unmatched(line: NetcashStatementLine, note: str, counts: Counter) -> None:
    line.outcome = Outcome.UNMATCHED
    line.note = note[:300]
    counts["unmatched"] += 1


def _candidates(lines, statuses) -> dict[str, list[DebitOrderItem]]:
    refs = {line.account_reference for line in lines if line.account_reference}
    if not refs:
        return {}
    latest = max(line.line_date for line in lines)
    found: dict[str, list[DebitOrderItem]] = defaultdict(list)
    items = (_in(DebitOrderItem.objects.select_for_update(of=("self",)), "account_reference", refs)
             .filter(status__in=statuses, action_date__lte=latest)
             .order_by("action_date", "pk")
             .only("pk", "status", "account_reference", "amount", "action_date", "payment_id", "invoice_id",
                   "customer_id", "payment_method_id"))
    for item in items:
        found[item.account_reference].append(item)
    return found


def _take(found, line, used_items, *, newest=False) -> DebitOrderItem | None:
    pool = found.get(line.account_reference) or []
    ordered = reversed(pool) if newest else pool
    for item in ordered:
        if item.pk not in used_items and item.amount == line.amount and item.action_date <= line.line_date:
            used_items.add(item.pk)
            return item
    return None


def _apply_debit_success(lines, used_items: set[int], now, counts: Counter) -> None:
    if not lines:
        return
    found = _candidates(lines, (Item.SUBMITTED,))
    pairs = []
    for line in lines:
        if line.effect != "+":
            _unmatched(line, "A debit-order success line with a '-' effect: not applied.", counts)
            continue
        item = _take(found, line, used_items)
        if item is None:
            _unmatched(line, "No submitted debit order with this account reference and amount.", counts)
            continue
        pairs.append((line, item))
    slow = _settle_bulk(pairs, now, counts)
    for line, item in slow:  # the invoice changed since the run: the full single-payment path
        payment = debit_order_item_settle(item=item)
        line.outcome, line.debit_order_item_id, line.payment_id = Outcome.SETTLED, item.pk, payment.pk
        counts["settled"] += 1


LEDGER_COLUMNS = [("customer_id", "integer"), ("entry_type", "varchar"), ("amount", "numeric"),
                  ("reference", "varchar"), ("description", "varchar"), ("effective_date", "date"),
                  ("invoice_id", "integer"), ("payment_id", "integer"), ("created_by", "varchar"),
                  ("created_at", "timestamptz")]


def _ledger_entry(row) -> LedgerEntry:
    names = [name.removesuffix("_id") + ("_id" if name.endswith("_id") else "") for name, _ in LEDGER_COLUMNS]
    return LedgerEntry(**dict(zip(names, row, strict=True)))


def _lock_for_items(items) -> tuple[list[int], dict, dict]:
    """Lock, in the house order (billing.services.credit), the items' customers' money locks (BillingAccount
    rows, ascending), then their invoices (ascending), then their payments. Returns (customer ids,
    invoices by id, payments by id)."""
    customer_ids = sorted({i.customer_id for i in items})
    list(_in(BillingAccount.objects.select_for_update(no_key=True), "customer_id", customer_ids)
         .order_by("customer_id").values_list("pk", flat=True))
    invoices = {inv.pk: inv for inv in _in(Invoice.objects.select_for_update(), "id", {i.invoice_id for i in items})
                .order_by("pk").only("pk", "status", "total", "amount_paid", "due_date", "customer_id")}
    payments = {p.pk: p for p in _in(PaymentTransaction.objects.select_for_update(), "id",
                    {i.payment_id for i in items if i.payment_id}).order_by("pk")
                .only("pk", "status", "amount", "amount_refunded", "customer_id", "reference", "invoice_id",
                      "zoho_sync_status")}
    return customer_ids, invoices, payments


def _settle_bulk(pairs, now, counts: Counter) -> list:
    """Settle the common case in a constant number of queries; returns the pairs that need the slow path.

    Locks in the house order (billing.services.credit): the customers' money locks (BillingAccount rows,
    ascending), then the invoices (ascending), then the payments; the items are already locked.
    """
    if not pairs:
        return []
    items = [item for _, item in pairs]
    customer_ids, invoices, payments = _lock_for_items(items)
    left = {pk: inv.total - inv.amount_paid for pk, inv in invoices.items() if inv.status in Invoice.OPEN_STATUSES}
    fast, slow = [], []
    for line, item in pairs:
        payment = payments.get(item.payment_id)
        if (payment is None or payment.status != PStatus.PENDING or payment.amount != item.amount
                or payment.customer_id != item.customer_id or left.get(item.invoice_id, ZERO) < item.amount):
            slow.append((line, item))
            continue
        left[item.invoice_id] -= item.amount
        fast.append((line, item, payment))
    if not fast:
        return slow
    payment_ids = [p.pk for _, _, p in fast]
    enabled = settings.ENABLE_ZOHO_SYNC
    # One write per payment row: completed and queued for the ZOHO mirror in the same UPDATE.
    _zoho_queue(payment_ids, now, enabled, status=PStatus.COMPLETED, completed_at=now, updated_at=now)
    today = timezone.localdate()
    _insert_rows(LedgerEntry, LEDGER_COLUMNS,
                 [(item.customer_id, LedgerEntry.EntryType.PAYMENT, -item.amount, f"payment:{payment.pk}",
                   f"Payment {payment.reference}"[:300], today, item.invoice_id, payment.pk, "system", now)
                  for _, item, payment in fast], _ledger_entry)
    per_customer: dict[int, Decimal] = defaultdict(lambda: ZERO)
    per_invoice: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for _, item, _ in fast:
        per_customer[item.customer_id] += item.amount
        per_invoice[item.invoice_id] += item.amount
    # Balances move by the amounts (never read-modify-write): balance = balance - v.balance.
    _update_rows(BillingAccount, "customer_id", [("balance", "numeric")], sorted(per_customer.items()),
                 expressions={"balance": f'"{BillingAccount._meta.db_table}"."balance" - v.balance'})
    changed = []
    for invoice_id, amount in sorted(per_invoice.items()):
        invoice = invoices[invoice_id]
        invoice.amount_paid += amount
        invoice.status = invoice_status_for(invoice, today=today)
        changed.append((invoice.pk, invoice.amount_paid, invoice.status, now))
    _update_rows(Invoice, "id", [("amount_paid", "numeric"), ("status", "varchar"), ("updated_at", "timestamptz")],
                 changed)
    _insert_rows(PaymentAllocation, [("payment_id", "integer"), ("invoice_id", "integer"), ("amount", "numeric"),
                                     ("created_at", "timestamptz")],
                 [(payment.pk, item.invoice_id, item.amount, now) for _, item, payment in fast],
                 lambda row: PaymentAllocation(payment_id=row[0], invoice_id=row[1], amount=row[2]))
    _in(DebitOrderItem.objects, "id", [item.pk for _, item, _ in fast]).update(status=Item.SETTLED, updated_at=now)
    for line, item, payment in fast:
        line.outcome, line.debit_order_item_id, line.payment_id = Outcome.SETTLED, item.pk, payment.pk
    counts["settled"] += len(fast)
    customers = sorted(per_customer)
    transaction.on_commit(lambda: _after_bulk_settle(payment_ids, customers, enabled))
    _documents_follow(sorted(per_invoice))
    return slow


def _documents_follow(invoice_ids: list[int]) -> None:
    """The invoices' PDFs follow the money (billing.services.pdf): one documents task per batch, after commit."""
    if invoice_ids:
        transaction.on_commit(lambda: enqueue_document("billing.tasks.render_invoice_pdfs", invoice_ids,
                                                       group="billing-pdf"))


def _zoho_queue(payment_ids: list[int], now, enabled: bool, **also) -> None:
    """`zoho_sync.services.outbox.enqueue_sync` for many payments in two statements: rows being synced keep
    the worker's claim (its marker moves by a microsecond, so it re-queues them); the rest become pending
    (due now when sync is on; the task is queued once after commit by the caller)."""
    _in(PaymentTransaction.objects, "id", payment_ids).filter(zoho_sync_status=SyncStatus.SYNCING).update(
        zoho_next_attempt_at=F("zoho_next_attempt_at") + timedelta(microseconds=1), **also)
    _in(PaymentTransaction.objects, "id", payment_ids).exclude(zoho_sync_status=SyncStatus.SYNCING).update(
        zoho_sync_status=SyncStatus.PENDING, zoho_attempts=0, zoho_last_error="",
        zoho_next_attempt_at=now if enabled else None, **also)


def _after_bulk_settle(payment_ids: list[int], customer_ids: list[int], zoho_enabled: bool) -> None:
    """After commit, one task each (never undoing the settlement): receipts (number, PDF, email), the
    dunning hook (reactivate non-payment suspensions), and the ZOHO sweep for the rows now due."""
    for func, args, documents in (("payments.tasks.issue_receipts", (payment_ids,), True),
                                  ("payments.tasks.payments_received_hooks", (customer_ids,), False)):
        try:
            (enqueue_document if documents else enqueue)(func, *args)
        except Exception:  # the receipts sweep and dunning's own pass catch up
            logger.exception("could not queue %s after a statement settlement", func)
    if zoho_enabled:
        try:
            enqueue("zoho_sync.tasks.retry_due", triggered_by="netcash_statement", group="zoho:payment")
        except Exception:
            logger.exception("could not queue the ZOHO sweep after a statement settlement")


def _apply_debit_unpaids(lines, used_items: set[int], now, counts: Counter) -> None:
    """Unpaid lines: settled items are returned (in bulk when simple, else one at a time through
    `debit_order_item_return`); items no success line settled fail; anything else is unmatched."""
    if not lines:
        return
    found = _candidates(lines, (Item.SETTLED, Item.SUBMITTED))
    to_return, to_fail = [], []
    for line in lines:
        item = _take(found, line, used_items, newest=True)
        if item is None or line.effect != "-":
            _unmatched(line, "No settled or submitted debit order with this account reference and amount.", counts)
            continue
        (to_return if item.status == Item.SETTLED else to_fail).append((line, item))
    for line, item in _return_bulk(to_return, now, counts):
        reason = unpaid_reason(line.unpaid_code)
        payment = debit_order_item_return(item=item, reason=reason, unpaid_code=line.unpaid_code)
        line.outcome, line.debit_order_item_id, line.payment_id = Outcome.RETURNED, item.pk, payment.pk
        counts["returned"] += 1
    for line, item in to_fail:
        payment = debit_order_item_fail(item=item, reason=unpaid_reason(line.unpaid_code), unpaid_code=line.unpaid_code)
        line.outcome, line.debit_order_item_id, line.payment_id = Outcome.FAILED_ITEM, item.pk, payment.pk
        counts["failed"] += 1


def _return_bulk(pairs, now, counts: Counter) -> list:
    """`payment_reverse` for the simple case, in a constant number of queries: the payment paid exactly its
    item's invoice (one allocation, nothing refunded), no unpaid fee is configured, and the customer holds
    no other credit (else credit would be re-applied: the single path does that). Same effects: ledger
    `payment_reversal:{pk}` (+amount), balance, invoice reopened (dunning picks it up), payment reversed
    with the reason in words, item returned with the code, the ZOHO mirror queued; the customer's
    "payment failed" email (`payment_reversed:{pk}`, as `payment_reverse` sends) goes out from one task
    after commit. Returns the pairs that need the single path."""
    fee = settings.NETCASH.get("UNPAID_FEE")
    if not pairs or (fee and fee > 0):
        return pairs
    from billing.services.credit import customers_with_credit

    items = [item for _, item in pairs]
    customer_ids, invoices, payments = _lock_for_items(items)
    allocations = defaultdict(list)
    for payment_id, invoice_id, amount in _in(PaymentAllocation.objects, "payment_id", payments).values_list(
            "payment_id", "invoice_id", "amount"):
        allocations[payment_id].append((invoice_id, amount))
    with_credit = customers_with_credit(among=customer_ids)
    fast, slow = [], []
    for line, item in pairs:
        payment = payments.get(item.payment_id)
        invoice = invoices.get(item.invoice_id)
        if (payment is None or payment.status != PStatus.COMPLETED or payment.amount_refunded
                or allocations.get(payment.pk) != [(item.invoice_id, payment.amount)] or invoice is None
                or invoice.status == Invoice.Status.VOID or item.customer_id in with_credit):
            slow.append((line, item))
            continue
        fast.append((line, item, payment, invoice))
    if not fast:
        return slow
    enabled = settings.ENABLE_ZOHO_SYNC
    today = timezone.localdate()
    _insert_rows(LedgerEntry, LEDGER_COLUMNS,
                 [(item.customer_id, LedgerEntry.EntryType.REVERSAL, payment.amount, f"payment_reversal:{payment.pk}",
                   f"Returned: {payment.reference} ({unpaid_reason(line.unpaid_code)})"[:300], today,
                   payment.invoice_id, payment.pk, "system", now) for line, item, payment, _ in fast], _ledger_entry)
    per_customer: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for _, item, payment, _ in fast:
        per_customer[item.customer_id] += payment.amount
    _update_rows(BillingAccount, "customer_id", [("balance", "numeric")], sorted(per_customer.items()),
                 expressions={"balance": f'"{BillingAccount._meta.db_table}"."balance" + v.balance'})
    changed = {}
    for _, _, payment, invoice in fast:
        invoice.amount_paid -= payment.amount
        invoice.status = invoice_status_for(invoice, today=today)
        changed[invoice.pk] = (invoice.pk, invoice.amount_paid, invoice.status, now)
    _update_rows(Invoice, "id", [("amount_paid", "numeric"), ("status", "varchar"), ("updated_at", "timestamptz")],
                 [changed[k] for k in sorted(changed)])
    _update_rows(PaymentTransaction, "id", [("status", "varchar"), ("reversed_at", "timestamptz"),
                                            ("reversal_reason", "text"), ("updated_at", "timestamptz")],
                 [(payment.pk, PStatus.REVERSED, now, unpaid_reason(line.unpaid_code)[:500], now)
                  for line, _, payment, _ in fast])
    reversed_ids = [payment.pk for _, _, payment, _ in fast]
    _zoho_queue(reversed_ids, now, enabled)
    _update_rows(DebitOrderItem, "id", [("status", "varchar"), ("hold_reason", "varchar"),
                                        ("unpaid_code", "varchar"), ("updated_at", "timestamptz")],
                 [(item.pk, Item.RETURNED, unpaid_reason(line.unpaid_code)[:200], line.unpaid_code[:10], now)
                  for line, item, _, _ in fast])
    for line, item, payment, _ in fast:
        line.outcome, line.debit_order_item_id, line.payment_id = Outcome.RETURNED, item.pk, payment.pk
    counts["returned"] += len(fast)
    payment_ids = [payment.pk for _, _, payment, _ in fast]
    transaction.on_commit(lambda: _after_bulk_return(payment_ids, enabled))
    _documents_follow(sorted(changed))
    return slow


def _after_bulk_return(payment_ids: list[int], zoho_enabled: bool) -> None:
    try:
        enqueue("payments.tasks.notify_payments_reversed", payment_ids)
    except Exception:
        logger.exception("could not queue the returned-debit-order emails")
    if zoho_enabled:
        try:
            enqueue("zoho_sync.tasks.retry_due", triggered_by="netcash_statement", group="zoho:payment")
        except Exception:
            logger.exception("could not queue the ZOHO sweep after statement returns")


def payments_reversed_notify(*, payment_ids: list[int]) -> int:
    """The customer's "payment failed" email for payments reversed in bulk: the same event, context and
    idempotency key (`payment_reversed:{pk}`) as `payment_reverse` sends, so it goes out once."""
    from notifications.services import notify

    sent = 0
    for payment in (PaymentTransaction.objects.select_related("customer", "invoice")
                    .filter(pk__in=payment_ids, status=PStatus.REVERSED)):
        customer = payment.customer
        notify(event="payment_failed", customer=customer, idempotency_key=f"payment_reversed:{payment.pk}",
               context={"customer_name": f"{customer.first_name} {customer.last_name}".strip(),
                        "amount": payment.amount, "method": payment.method, "reference": payment.reference,
                        "invoice_number": payment.invoice.number if payment.invoice else "",
                        "reason": payment.reversal_reason})
        sent += 1
    return sent


def _apply_paynow_receipts(lines, counts: Counter) -> None:
    if not lines:
        return
    refs = {line.reference for line in lines if line.reference}
    payments = defaultdict(list)
    for payment in (PaymentTransaction.objects.select_related("customer", "invoice")
                    .filter(reference__in=refs, provider=PaymentTransaction.Provider.NETCASH)):
        payments[payment.reference].append(payment)
    confirmed = []
    for line in lines:
        candidates = [p for p in payments.get(line.reference, []) if p.amount == line.amount]
        payment = candidates[0] if candidates else None
        if payment is None or line.effect != "+":
            _unmatched(line, "A Pay Now receipt for no payment of ours with this reference and amount.", counts)
            continue
        if payment.status == PStatus.PENDING:
            # The statement is proof of money (CONTRACTS 2.1 item 3): a pending EFT completes here.
            payment = payment_complete(reference=payment.reference, amount=payment.amount, customer=payment.customer,
                                       method=payment.method, provider=payment.provider, invoice=payment.invoice,
                                       expect_existing=True)
            counts["completed"] += 1
        elif payment.status not in CONFIRMED_STATUSES:
            _unmatched(line, f"A Pay Now receipt for payment {payment.reference}, which is {payment.status}.", counts)
            continue
        line.outcome, line.payment_id = Outcome.CONFIRMED, payment.pk
        confirmed.append(payment.pk)
        counts["confirmed"] += 1
    if confirmed:
        ReconciliationIssue.objects.filter(kind=ReconciliationIssue.Kind.UNCONFIRMED_PAYMENT, payment_id__in=confirmed,
                                           resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by="statement", resolution="Confirmed by a later statement line.")


# --- Pay Now payments no line confirms --------------------------------------------------------------------------
def paynow_unconfirmed_flag(*, now=None) -> int:
    """Pay Now payments applied from a notify more than the window ago that no statement line confirmed:
    one issue each, the payment flagged `needs_review`, ops alerted once. Returns how many were new."""
    now = now or timezone.now()
    hours = int(settings.NETCASH.get("STATEMENT_CONFIRM_HOURS") or 48)
    due = (PaymentTransaction.objects
           .filter(provider=PaymentTransaction.Provider.NETCASH, method__in=PAYNOW_METHODS,
                   status__in=CONFIRMED_STATUSES, completed_at__lt=now - timedelta(hours=hours),
                   completed_at__gte=now - timedelta(days=60))
           .exclude(statement_lines__outcome=Outcome.CONFIRMED)
           .exclude(reconciliation_issues__kind=ReconciliationIssue.Kind.UNCONFIRMED_PAYMENT)
           .order_by("pk")[:500])
    created = 0
    for payment in due:
        note = (f"Applied from a NetCash notify on {timezone.localtime(payment.completed_at):%Y-%m-%d %H:%M}; "
                f"no statement line confirmed it within {hours} hours.")
        with transaction.atomic():
            issue, new = ReconciliationIssue.objects.get_or_create(
                kind=ReconciliationIssue.Kind.UNCONFIRMED_PAYMENT, payment=payment,
                defaults={"amount": payment.amount, "reference": payment.reference, "note": note[:300]})
            if not new:
                continue
            PaymentTransaction.objects.filter(pk=payment.pk).update(
                needs_review=True, review_note=(f"{payment.review_note}\n{note}".strip())[:2000])
            created += 1
        _alert_once(issue, note)
    return created


def _alert_once(issue: ReconciliationIssue, note: str) -> None:
    try:
        with transaction.atomic():
            notify_ops(event="netcash_statement_unconfirmed", idempotency_key=f"netcash_unconfirmed:{issue.pk}",
                       context={"reference": issue.reference, "amount": issue.amount, "note": note}, email=True)
            ReconciliationIssue.objects.filter(pk=issue.pk, alerted_at__isnull=True).update(alerted_at=timezone.now())
    except Exception:  # an alert must never undo the flag
        logger.exception("could not alert ops about reconciliation issue %s", issue.pk)


# --- the daily report ----------------------------------------------------------------------------------------
MATCHED = (Outcome.SETTLED, Outcome.RETURNED, Outcome.FAILED_ITEM, Outcome.CONFIRMED)


def _signed_sum(queryset) -> tuple[int, Decimal]:
    row = queryset.aggregate(
        n=Sum(Value(1)), s=Sum(Case(When(effect="+", then=F("amount")), default=-F("amount"), output_field=MONEY)))
    return int(row["n"] or 0), Decimal(row["s"] or ZERO).quantize(Decimal("0.01"))


def reconciliation_report_build(*, day: date) -> ReconciliationReport:
    """matched, unmatched ours, unmatched theirs and the two totals for `day` (rebuilt on every run)."""
    lines = NetcashStatementLine.objects.filter(line_date=day).exclude(kind__in=(Kind.BALANCE, Kind.OTHER))
    matched_n, matched_total = _signed_sum(lines.filter(outcome__in=MATCHED))
    theirs_n, theirs_total = _signed_sum(lines.filter(outcome=Outcome.UNMATCHED))
    waiting = DebitOrderItem.objects.filter(status=Item.SUBMITTED, action_date__lte=day).aggregate(
        n=Sum(Value(1)), s=Sum("amount"))
    unconfirmed = PaymentTransaction.objects.filter(
        reconciliation_issues__kind=ReconciliationIssue.Kind.UNCONFIRMED_PAYMENT,
        reconciliation_issues__resolved_at__isnull=True, completed_at__date=day).aggregate(n=Sum(Value(1)),
                                                                                           s=Sum("amount"))
    ours_n = int(waiting["n"] or 0) + int(unconfirmed["n"] or 0)
    ours_total = Decimal(waiting["s"] or ZERO) + Decimal(unconfirmed["s"] or ZERO)
    statement_total, our_total = matched_total + theirs_total, matched_total + ours_total
    defaults = {
        "matched_count": matched_n, "matched_total": matched_total, "unmatched_ours_count": ours_n,
        "unmatched_ours_total": ours_total, "unmatched_theirs_count": theirs_n, "unmatched_theirs_total": theirs_total,
        "statement_total": statement_total, "our_total": our_total,
        "totals_equal": statement_total == our_total and not ours_n and not theirs_n}
    try:
        with transaction.atomic():
            report, _ = ReconciliationReport.objects.update_or_create(day=day, defaults=defaults)
    except IntegrityError:  # another job process created it at the same moment: update theirs
        report, _ = ReconciliationReport.objects.update_or_create(day=day, defaults=defaults)
    return report


def statement_apply_helpers_queue(*, day: date) -> int:
    """Queue extra job processes to apply a large statement beside this one (NETCASH
    STATEMENT_APPLY_WORKERS / STATEMENT_PARALLEL_FROM). Returns how many were queued."""
    workers = int(settings.NETCASH.get("STATEMENT_APPLY_WORKERS", 1) or 1)
    pending = NetcashStatementLine.objects.filter(processed_at__isnull=True).count()
    if workers <= 1 or pending < int(settings.NETCASH.get("STATEMENT_PARALLEL_FROM", 5000)):
        return 0
    for _ in range(workers - 1):
        enqueue("payments.tasks.apply_netcash_statement_lines", day.isoformat(), group="netcash-statement")
    return workers - 1


def statement_apply_helper(*, day: date) -> dict:
    """One extra job process: apply what is left, then rebuild the day's report (the last one to finish
    leaves it complete)."""
    counts = statement_lines_apply()
    reconciliation_report_build(day=day)
    return dict(counts)


def netcash_reconcile(*, kind: str = NetcashStatement.Kind.DAILY, day: date | None = None, now=None, sleep=None,
                      job=None) -> dict:
    """The job: fetch (daily: yesterday's full statement; interim: today's), apply every pending line, flag
    unconfirmed Pay Now payments, rebuild the report for the days touched. Safe to run twice or at once."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    day = day or (today - timedelta(days=1) if kind == NetcashStatement.Kind.DAILY else today)
    result: dict = {"day": day.isoformat(), "kind": kind}
    try:
        statement = statement_fetch(kind=kind, day=day, sleep=sleep)
        result |= {"statement": statement.status, "lines": statement.line_count, "new_lines": statement.new_line_count}
    except (ProviderError, ImproperlyConfigured) as exc:
        result["fetch_error"] = str(getattr(exc, "message", exc))[:300]
        if job is not None:
            job.fail_item(f"statement {day}", exc)
    days = set(NetcashStatementLine.objects.filter(processed_at__isnull=True).values_list("line_date", flat=True))
    result["helpers"] = statement_apply_helpers_queue(day=day)
    counts = statement_lines_apply()
    result |= dict(counts)
    result["unconfirmed_flagged"] = paynow_unconfirmed_flag(now=now)
    for report_day in sorted(days | {day}):
        report = reconciliation_report_build(day=report_day)
        if report_day == day:
            result["totals_equal"] = report.totals_equal
    return result


def reconciliation_issue_resolve(*, issue: ReconciliationIssue, actor: str, resolution: str) -> ReconciliationIssue:
    """Staff mark an issue handled (the row stays, with who and why)."""
    if not (resolution or "").strip():
        from payments.errors import PaymentError

        raise PaymentError("Say how the difference was resolved.")
    ReconciliationIssue.objects.filter(pk=issue.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor[:150], resolution=resolution.strip()[:2000])
    issue.refresh_from_db()
    return issue


def unmatched_lines():
    """Statement lines that matched nothing of ours (the admin list)."""
    return NetcashStatementLine.objects.filter(Q(outcome=Outcome.UNMATCHED))
