"""Consumer orders: linking them to customers, and importing a legacy order export.

Both operations are idempotent and run in one transaction each: a crash part-way leaves the
database as it was, and a dry run does the same work and then rolls it back (so its figures are
exact, including the customers `--create-missing` would create).

Problems that need a person are kept as `OrderIssue` rows, unique on (source, row_ref, reason), so
running the same thing twice records each problem once.

Legacy CSV format (UTF-8, comma separated, header row required, column names case-insensitive):

    order_id              required, unique per order (alias: external_ref); the import key
    name                  required, the customer's full name ("Thandiwe Nkosi" or "Nkosi, Thandiwe")
    email                 required, a valid email address
    phone                 optional; E.164 (+27821234567) or South African local (082 123 4567)
    package               required, the package name as sold (e.g. "Fibre 50/50")
    installation_address  required
    status                optional: new, scheduled, installed, cancelled (also pending, completed,
                          active, canceled); empty means new
    created_at            optional: YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (SAST) or ISO 8601
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from billing.models import Customer, Order, OrderIssue
from billing.services.customers import CustomerError, customer_create
from circletel.errors import ApplicationError


class OrderImportError(ApplicationError):
    """The file itself cannot be imported (missing, unreadable, not CSV, required columns missing)."""


# --- Small pure helpers ------------------------------------------------------------------------------

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_JUNK = re.compile(r"[\s\-().]")
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "adv", "mnr", "mev", "me"}


def phone_normalise(raw: str) -> str:
    """Return the number in E.164, or "" for an empty value; raise ValueError when it is not a number.

    South African local numbers (`0821234567`, `082 123 4567`) become `+27821234567`; `27...` and
    `0027...` get their `+`. A `+27` number must have exactly nine digits after the country code.
    """
    value = _PHONE_JUNK.sub("", raw or "")
    if not value:
        return ""
    if value.startswith("00"):
        value = "+" + value[2:]
    elif value.startswith("0") and len(value) == 10 and value.isdigit():
        value = "+27" + value[1:]
    elif value.startswith("27") and len(value) == 11 and value.isdigit():
        value = "+" + value
    if not _E164.match(value) or (value.startswith("+27") and len(value) != 12):
        raise ValueError(f"phone {raw.strip()!r} is not a valid number (use +27821234567 or 0821234567)")
    return value


def name_split(raw: str) -> tuple[str, str]:
    """Split a full name into (first, last); raise ValueError when there is no surname.

    "Pieter van der Merwe" -> ("Pieter", "van der Merwe"); "Nkosi, Thandiwe" -> ("Thandiwe", "Nkosi");
    a leading title (Mr, Mrs, Dr ...) is dropped.
    """
    text = " ".join((raw or "").split())
    if "," in text:
        last, _, first = text.partition(",")
        first, last = " ".join(first.split()), " ".join(last.split())
    else:
        words = text.split(" ")
        if len(words) > 2 and words[0].rstrip(".").lower() in _TITLES:
            words = words[1:]
        first, last = words[0], " ".join(words[1:])
    if not first or not last:
        raise ValueError(f"name {raw.strip()!r} has no first name and surname")
    return first[:100], last[:100]


def _email_clean(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not email:
        raise ValueError("email is missing")
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"email {raw.strip()!r} is not a valid address")
    return email


def _percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("100.0")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _issue_record(*, source: str, row_ref: str, reason: str, order: Order | None = None, data: dict | None = None):
    """Record a problem once: the (source, row_ref, reason) constraint makes a rerun a no-op."""
    issue, _ = OrderIssue.objects.get_or_create(
        source=source, row_ref=row_ref[:100], reason=reason, defaults={"order": order, "data": data or {}},
    )
    return issue


# --- Linking orders to customers -------------------------------------------------------------------


@dataclass
class LinkResult:
    total_orders: int = 0  # every order, linked or not, when the run started
    already_linked: int = 0
    linked: int = 0  # linked to an existing customer by email
    created: int = 0  # customers created from orders (--create-missing)
    linked_to_created: int = 0  # orders linked to those new customers
    orphans: int = 0  # orders left without a customer
    dry_run: bool = False
    orphan_reasons: list[tuple[int, str]] = field(default_factory=list)  # (order id, reason)

    @property
    def considered(self) -> int:
        return self.total_orders - self.already_linked

    @property
    def newly_linked(self) -> int:
        return self.linked + self.linked_to_created

    @property
    def success_rate(self) -> Decimal:
        """Percentage of all orders that have a customer after this run (100.0 with no orders)."""
        return _percent(self.already_linked + self.newly_linked, self.total_orders)


class _DryRunRollback(Exception):
    pass


def orders_link_to_customers(*, create_missing: bool = False, dry_run: bool = False) -> LinkResult:
    """Link every unlinked order to the customer with the same email (case-insensitive).

    With `create_missing`, an unmatched order that is not cancelled gets a new customer (one per
    email, from the oldest order's details). Orders that stay unlinked are recorded as
    `OrderIssue(source="link", row_ref="order:<id>")` once. A dry run rolls everything back.
    """
    result = LinkResult(dry_run=dry_run)
    try:
        with transaction.atomic():
            _link(result, create_missing=create_missing)
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return result


def _link(result: LinkResult, *, create_missing: bool) -> None:
    result.total_orders = Order.objects.count()
    result.already_linked = Order.objects.filter(customer__isnull=False).count()
    orders = list(Order.objects.filter(customer__isnull=True).order_by("pk"))
    by_email: dict[str, list[Order]] = {}
    for order in orders:
        by_email.setdefault((order.email or "").strip().lower(), []).append(order)

    existing = dict(
        Customer.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[e for e in by_email if e])
        .values_list("email_lower", "pk")
    )

    for email, group in by_email.items():
        customer_id = existing.get(email) if email else None
        if customer_id is not None:
            result.linked += _attach(group, customer_id)
            continue
        if not create_missing:
            _orphans(result, group, "No customer with this email.")
            continue
        live = [o for o in group if o.status != Order.Status.CANCELLED]
        cancelled = [o for o in group if o.status == Order.Status.CANCELLED]
        _orphans(result, cancelled, "No customer with this email; the order is cancelled, so none was created.")
        if not live:
            continue
        try:
            customer = _customer_from_order(live[0])
        except ValueError as exc:
            _orphans(result, live, f"Could not create a customer: {exc}.")
            continue
        result.created += 1
        result.linked_to_created += _attach(live, customer.pk)


def _attach(orders: list[Order], customer_id: int) -> int:
    """Link orders still unlinked (a conditional UPDATE: safe against a concurrent run) and close
    their open link issues."""
    ids = [o.pk for o in orders]
    count = Order.objects.filter(pk__in=ids, customer__isnull=True).update(customer_id=customer_id,
                                                                         updated_at=timezone.now())
    OrderIssue.objects.filter(source=OrderIssue.Source.LINK, order_id__in=ids, resolved=False).update(resolved=True)
    return count


def _orphans(result: LinkResult, orders: list[Order], reason: str) -> None:
    for order in orders:
        result.orphans += 1
        result.orphan_reasons.append((order.pk, reason))
        _issue_record(source=OrderIssue.Source.LINK, row_ref=f"order:{order.pk}", reason=reason, order=order,
                      data={"email": order.email, "name": order.name, "phone": order.phone})


def _customer_from_order(order: Order) -> Customer:
    """Create the customer for an unmatched order; ValueError with a reason when the data will not do."""
    email = _email_clean(order.email)
    first, last = name_split(order.name)
    phone = phone_normalise(order.phone)
    address = " ".join(order.installation_address.split())
    line1, line2 = address[:200], address[200:400]
    try:
        with transaction.atomic():  # a savepoint: one bad order must not undo the others
            return customer_create(first_name=first, last_name=last, email=email, phone=phone,
                                   address_line1=line1, address_line2=line2)
    except CustomerError as exc:
        raise ValueError(exc.message.rstrip("."))
    except ValidationError as exc:
        messages = [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()] if hasattr(exc, "error_dict") \
            else exc.messages
        raise ValueError("; ".join(messages).rstrip("."))


# --- Importing the legacy CSV export ------------------------------------------------------------------

REQUIRED_COLUMNS = ("order_id", "name", "email", "phone", "package", "installation_address")
OPTIONAL_COLUMNS = ("status", "created_at")
_COLUMN_ALIASES = {"external_ref": "order_id", "address": "installation_address"}
_STATUS_MAP = {
    "": Order.Status.NEW, "new": Order.Status.NEW, "pending": Order.Status.NEW,
    "scheduled": Order.Status.SCHEDULED,
    "installed": Order.Status.INSTALLED, "completed": Order.Status.INSTALLED, "complete": Order.Status.INSTALLED,
    "active": Order.Status.INSTALLED,
    "cancelled": Order.Status.CANCELLED, "canceled": Order.Status.CANCELLED,
}


@dataclass
class RejectedRow:
    line: int
    order_id: str
    reasons: list[str]


@dataclass
class ImportResult:
    filename: str
    rows: int = 0
    imported: int = 0
    skipped: int = 0  # already imported (same order_id), by an earlier run
    rejected: list[RejectedRow] = field(default_factory=list)
    dry_run: bool = False


def orders_import_csv(*, path: str | os.PathLike | None = None, file=None, filename: str = "",
                      dry_run: bool = False) -> ImportResult:
    """Import a legacy order export (format in the module docstring).

    Valid rows become orders (keyed by `order_id` -> `Order.external_ref`, so a re-import creates
    nothing twice); invalid rows are reported and recorded as `OrderIssue(source="import",
    row_ref="<file>:<line>")`. One transaction; a dry run rolls back. A file that cannot be read
    raises `OrderImportError` before anything is written.
    """
    if (path is None) == (file is None):
        raise ValueError("pass exactly one of path or file")
    if path is not None:
        filename = filename or Path(path).name
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise OrderImportError(f"File not found: {path}")
        except IsADirectoryError:
            raise OrderImportError(f"Not a file: {path}")
        except UnicodeDecodeError:
            raise OrderImportError(f"{filename} is not a UTF-8 text (CSV) file.")
        except OSError as exc:
            raise OrderImportError(f"Cannot read {path}: {exc.strerror or exc}")
    else:
        filename = filename or Path(getattr(file, "name", "") or "upload.csv").name
        text = file.read()
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise OrderImportError(f"{filename} is not a UTF-8 text (CSV) file.")
        text = text.lstrip("\ufeff")

    rows = _parse(text, filename)
    result = ImportResult(filename=filename, dry_run=dry_run)
    try:
        with transaction.atomic():
            _import_rows(result, rows)
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return result


def _parse(text: str, filename: str) -> list[tuple[int, dict[str, str]]]:
    """Read the whole file first, so a malformed file is refused before any write."""
    if "\x00" in text:
        raise OrderImportError(f"{filename} is not a CSV file (it contains binary data).")
    if not text.strip():
        raise OrderImportError(f"{filename} is empty.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        columns = [_COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise OrderImportError(
                f"{filename} is missing required column(s): {', '.join(missing)}. "
                f"Expected a header row with: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}.",
                {"missing": missing},
            )
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank line
            row = {c: (values[i] if i < len(values) else "") for i, c in enumerate(columns)}
            if len(values) > len(columns):
                row["__extra__"] = values[len(columns):]
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise OrderImportError(f"{filename} is not a valid CSV file (line {reader.line_num}: {exc}).")
    return rows


def _parse_created_at(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    bad = ValueError(f"created_at {raw!r} is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)")
    try:  # Django's parsers return None for a wrong shape and raise for an impossible date
        value = parse_datetime(raw.replace("/", "-"))
        day = parse_date(raw.replace("/", "-")) if value is None else None
    except ValueError:
        raise bad
    if value is None:
        if day is None:
            raise bad
        value = datetime.combine(day, time(0, 0))
    if timezone.is_naive(value):
        value = timezone.make_aware(value)  # the legacy system wrote local (SAST) times
    if value > timezone.now():
        raise ValueError(f"created_at {raw!r} is in the future")
    return value


def _validate_row(row: dict[str, str]) -> tuple[dict, list[str]]:
    """Return the cleaned order fields and the list of reasons the row is rejected (empty = valid)."""
    reasons: list[str] = []
    clean: dict = {}
    if "__extra__" in row:
        reasons.append("the row has more values than the header has columns")
    ref = row.get("order_id", "").strip()
    if not ref:
        reasons.append("order_id is missing")
    elif len(ref) > 64:
        reasons.append("order_id is longer than 64 characters")
    clean["external_ref"] = ref
    name = " ".join(row.get("name", "").split())
    if not name:
        reasons.append("name is missing")
    elif len(name) > 200:
        reasons.append("name is longer than 200 characters")
    clean["name"] = name
    try:
        clean["email"] = _email_clean(row.get("email", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    try:
        clean["phone"] = phone_normalise(row.get("phone", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    package = " ".join(row.get("package", "").split())
    if not package:
        reasons.append("package is missing")
    elif len(package) > 100:
        reasons.append("package is longer than 100 characters")
    clean["package"] = package
    address = " ".join(row.get("installation_address", "").split())
    if not address:
        reasons.append("installation_address is missing")
    elif len(address) > 300:
        reasons.append("installation_address is longer than 300 characters")
    clean["installation_address"] = address
    status = row.get("status", "").strip().lower()
    if status in _STATUS_MAP:
        clean["status"] = _STATUS_MAP[status]
    else:
        reasons.append(f"status {row.get('status', '').strip()!r} is not one of new, scheduled, installed, cancelled")
    try:
        clean["created_at"] = _parse_created_at(row.get("created_at", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    return clean, reasons


def _import_rows(result: ImportResult, rows: list[tuple[int, dict[str, str]]]) -> None:
    refs = {row.get("order_id", "").strip() for _, row in rows} - {""}
    existing: set[str] = set()
    ref_list = sorted(refs)
    for i in range(0, len(ref_list), 500):
        existing.update(Order.objects.filter(external_ref__in=ref_list[i:i + 500]).values_list("external_ref", flat=True))

    first_line: dict[str, int] = {}
    to_create: list[tuple[Order, datetime | None]] = []
    for line, row in rows:
        result.rows += 1
        clean, reasons = _validate_row(row)
        ref = clean["external_ref"]
        if ref and ref in first_line:
            reasons.append(f"order_id {ref!r} appears twice in the file (first on line {first_line[ref]})")
        if reasons:
            result.rejected.append(RejectedRow(line=line, order_id=ref, reasons=reasons))
            _issue_record(source=OrderIssue.Source.IMPORT, row_ref=f"{result.filename}:{line}",
                          reason="; ".join(reasons), data={k: v for k, v in row.items() if k != "__extra__"})
            continue
        first_line[ref] = line
        if ref in existing:
            result.skipped += 1
            continue
        created_at = clean.pop("created_at")
        to_create.append((Order(**clean), created_at))

    Order.objects.bulk_create([order for order, _ in to_create], batch_size=500)
    for order, created_at in to_create:
        if created_at is not None:  # auto_now_add overrides it on insert: keep the legacy date
            Order.objects.filter(external_ref=order.external_ref).update(created_at=created_at)
    result.imported = len(to_create)
