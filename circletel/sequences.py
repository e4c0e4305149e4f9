"""Gap-free numbering: `next_values` reserves numbers from a `Sequence` row under its row lock.

The UPDATE takes the row lock and holds it until the caller's transaction ends, so concurrent
callers are serialised and a rollback returns the numbers. Must be called inside `atomic()`.
"""

from django.db import connection, transaction
from django.db.models import F

from circletel.models import Sequence


def next_values(name: str, count: int = 1) -> range:
    """Reserve `count` consecutive numbers from sequence `name`; returns them as a range."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not connection.in_atomic_block:
        raise RuntimeError("next_values() must run inside transaction.atomic()")
    updated = Sequence.objects.filter(name=name).update(value=F("value") + count)
    if not updated:
        # First use: create the row (a concurrent creator is harmless), then increment under lock.
        with transaction.atomic():
            Sequence.objects.bulk_create([Sequence(name=name, value=0)], ignore_conflicts=True)
        Sequence.objects.filter(name=name).update(value=F("value") + count)
    last = Sequence.objects.values_list("value", flat=True).get(name=name)
    return range(last - count + 1, last + 1)


def next_value(name: str) -> int:
    return next_values(name, 1)[0]


def format_number(prefix: str, year: int, value: int) -> str:
    """`CT-2026-00042`: the counter is zero-padded to at least five digits and never resets."""
    return f"{prefix}-{year}-{value:05d}"
