"""
Writing many rows of this app's own models with few statements.

``bulk_create()`` and ``bulk_update()`` run every field of every row
through the ORM's expression and preparation machinery, which for a wide
model costs far more in Python than the database spends on the rows.  The
writes here are on the path of a site's own deletions and of every sweep,
so they prepare each column once where all rows share a value, pass text
through untouched, and hand the database one statement.

They skip what the ORM would do per object and this app never needs:
``pre_save()`` (so ``auto_now`` fields must already hold their value),
signals, and ``save()`` overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from django.db import connections, models


def insert(objs: Sequence[models.Model], using: str, *, returning: bool = True) -> None:
    """INSERT ``objs``, all of one model, and set their primary keys.

    A statement of a few rows, run with the driver's executemany: one
    VALUES list for all rows would have the driver parse a statement as
    long as the data each time (psycopg caches short statements only), and
    one row per statement has the database parse each row.  With
    ``returning``, the ids are then read back by the model's unique
    ``uuid`` field, which every database can do; with it false they are
    not asked for.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    fields = [field for field in meta.concrete_fields if field is not pk]
    columns = [_prepared(field, objs, connection) for field in fields]
    per_statement = max(
        1, min(ROWS_PER_STATEMENT, connection.ops.bulk_batch_size(fields, list(objs)))
    )
    head = "INSERT INTO {} ({}) VALUES ".format(
        quote(meta.db_table), ", ".join(quote(field.column) for field in fields)
    )
    row_sql = "({})".format(", ".join(["%s"] * len(fields)))

    def params(start: int, stop: int) -> list[Any]:
        return [column[i] for i in range(start, stop) for column in columns]

    whole = len(objs) - len(objs) % per_statement
    with connection.cursor() as cursor:
        if whole:
            cursor.executemany(
                head + ", ".join([row_sql] * per_statement),
                [params(i, i + per_statement) for i in range(0, whole, per_statement)],
            )
        if whole < len(objs):
            rest = len(objs) - whole
            cursor.execute(head + ", ".join([row_sql] * rest), params(whole, len(objs)))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    if not returning:
        return
    # As many uuids per query as the database takes parameters.
    size = max(1, connection.ops.bulk_batch_size(["uuid"], list(objs)))
    for start in range(0, len(objs), size):
        chunk = objs[start : start + size]
        for obj, pk_value in zip(chunk, _ids_by_uuid(model, chunk, using), strict=True):
            obj.pk = pk_value


# Rows per INSERT statement: short enough for psycopg to cache its parse.
ROWS_PER_STATEMENT = 20


def _ids_by_uuid(model: Any, objs: Sequence[Any], using: str) -> list[Any]:
    by_uuid = dict(
        model._default_manager.using(using)
        .filter(uuid__in=[obj.uuid for obj in objs])
        .values_list("uuid", "pk")
    )
    return [by_uuid[obj.uuid] for obj in objs]


def update_each(objs: Sequence[models.Model], names: Sequence[str], using: str) -> None:
    """Save fields ``names`` of each of ``objs``: one UPDATE, run many times.

    Where ``bulk_update()`` builds a CASE expression per field and row, the
    database driver's executemany sends one statement with each row's
    values.
    """
    if not objs:
        return
    meta = type(objs[0])._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    fields = [_concrete(meta.get_field(name)) for name in names]
    columns = [_prepared(field, objs, connection) for field in fields]
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields),
        quote(pk.column),
    )
    rows = [
        [*(column[index] for column in columns), obj.pk]
        for index, obj in enumerate(objs)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _concrete(field: Any) -> models.Field[Any, Any]:
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{field!r} is not a column")
    return field


# Fields whose Python value is what the database takes, for any backend.
_AS_IS = (models.CharField, models.TextField, models.IntegerField)


def _prepared(
    field: models.Field[Any, Any], objs: Sequence[Any], connection: Any
) -> list[Any]:
    """Return ``field``'s value of each of ``objs``, ready for ``connection``."""
    values = [getattr(obj, field.attname) for obj in objs]
    first = values[0]
    if all(value is first for value in values):
        return [_plain(field.get_db_prep_save(first, connection))] * len(values)
    if isinstance(field, _AS_IS):
        return [_plain(value) for value in values]
    return [_plain(field.get_db_prep_save(value, connection)) for value in values]


def _plain(value: Any) -> Any:
    # A member of TextChoices is a str, but database drivers may write an
    # enum by its name: hand them the value.
    return value.value if isinstance(value, Enum) else value
