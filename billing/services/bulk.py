"""Fast multi-row INSERT for batch jobs.

On PostgreSQL, `bulk_insert` sends one `INSERT ... SELECT FROM unnest(array, array, ...)` with one
array parameter per given column: no per-row model instances or per-value preparation, which is
where Django's `bulk_create` spends its time at 1,000+ rows. Columns not given get the field's
default (`auto_now(_add)` fields get now); generated columns are left to the database. Elsewhere
(SQLite in development and tests) it falls back to `bulk_create`, so both paths are exercised.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone


def bulk_insert(model, rows: list[dict], *, returning: str | None = None) -> list:
    """Insert `rows` (dicts keyed by attname, all with the same keys); returns `returning` values in row order."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = model._base_manager.bulk_create([model(**row) for row in rows])
        return [getattr(o, returning) for o in objs] if returning else []
    given = list(rows[0])
    qn = connection.ops.quote_name
    now = timezone.now()
    columns, select, const_params, arrays, unnest_types = [], [], [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or getattr(f, "generated", False):
            continue
        db_type = f.db_type(connection)
        columns.append(qn(f.column))
        if f.attname in given:
            select.append(f"u.c{len(arrays)}")
            arrays.append([row[f.attname] for row in rows])
            unnest_types.append(db_type)
        else:
            value = now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
            select.append(f"%s::{db_type}")
            const_params.append(f.get_db_prep_save(value, connection))
    unknown = set(given) - {f.attname for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"unknown columns for {model.__name__}: {sorted(unknown)}")
    aliases = ", ".join(f"c{i}" for i in range(len(arrays)))
    unnest = ", ".join(f"%s::{t}[]" for t in unnest_types)
    # WITH ORDINALITY keeps the row order for RETURNING.
    sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(columns)}) "
           f"SELECT {', '.join(select)} FROM unnest({unnest}) WITH ORDINALITY AS u({aliases}, ord) ORDER BY u.ord")
    if returning:
        sql += f" RETURNING {qn(model._meta.get_field(returning).column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*const_params, *arrays])
        return [r[0] for r in cursor.fetchall()] if returning else []
