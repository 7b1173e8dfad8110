"""
Writing many rows of this app's own models with few statements.

``bulk_create()`` and ``bulk_update()`` run every field of every row
through the ORM's expression and preparation machinery, which for a wide
model costs far more in Python than the database spends on the rows.  The
writes here are on the path of a site's own deletions and of every sweep,
so they take rows as columns (no model instances need exist), prepare a
value once where rows share it, pass text through untouched, and hand the
database a few statements of many rows.

They skip what the ORM would do per object and this app never needs:
``pre_save()`` (so ``auto_now`` fields must already hold their value),
signals, and ``save()`` overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from django.db import connections, models


def insert(objs: Sequence[models.Model], using: str, *, returning: bool = True) -> None:
    """INSERT ``objs``, all of one model, and set their primary keys.

    With ``returning``, the ids come back with RETURNING where the database
    can do that, and are otherwise read back by the model's unique ``uuid``
    field; with it false they are not asked for.
    """
    if not objs:
        return
    model = type(objs[0])
    pk = model._meta.pk
    assert pk is not None
    each = {
        field.attname: [getattr(obj, field.attname) for obj in objs]
        for field in model._meta.concrete_fields
        if field is not pk
    }
    features = connections[using].features
    if returning and features.can_return_rows_from_bulk_insert:
        ids = insert_columns(model, len(objs), using, each=each, returning=True)
    else:
        insert_columns(model, len(objs), using, each=each)
        if returning:
            uuids = [obj.uuid for obj in objs]  # type: ignore[attr-defined]
            ids = ids_by_uuid(model, uuids, using)
    for index, obj in enumerate(objs):
        obj._state.adding = False
        obj._state.db = using
        if returning:
            obj.pk = ids[index]


def insert_columns(
    model: type[models.Model],
    count: int,
    using: str,
    *,
    shared: Mapping[str, Any] | None = None,
    each: Mapping[str, Sequence[Any]] | None = None,
    returning: bool = False,
) -> list[Any]:
    """INSERT ``count`` rows of ``model`` given column by column, not as objects.

    ``shared`` maps a field's attname to the value of every row, ``each``
    to a list of one value per row.  A field in neither gets its default:
    a callable default (``uuid.uuid4``) is called for each row, any other
    is shared.  Building the rows this way costs a small part of building
    model instances, which matters on the path of a site's deletions.

    The rows go in statements of a few rows, run with the driver's
    executemany: one VALUES list for all rows would make the driver scan
    a statement as long as the data, and one row per statement costs a
    round trip (or a parse, on SQLite) per row.

    With ``returning``, return the new rows' primary keys in order, read
    with RETURNING; only on a database that can do so
    (``can_return_rows_from_bulk_insert``), since rows without a unique key
    of their own could not be found again.  Otherwise return ``[]``.
    """
    if not count:
        return []
    shared = shared or {}
    each = each or {}
    meta = model._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if field is not meta.pk]
    columns = []
    for field in fields:
        name = field.attname
        if name in each:
            values = each[name]
            if len(values) != count:
                raise ValueError(f"{name}: {len(values)} values for {count} rows")
            columns.append(_prepared(field, values, connection))
        elif name in shared:
            prepared = _plain(field.get_db_prep_save(shared[name], connection))
            columns.append([prepared] * count)
        elif field.has_default() and callable(field.default):
            made = [field.get_default() for _ in range(count)]
            columns.append(_prepared(field, made, connection))
        else:
            prepared = _plain(field.get_db_prep_save(field.get_default(), connection))
            columns.append([prepared] * count)
    unknown = (set(shared) | set(each)) - {field.attname for field in fields}
    if unknown:
        raise ValueError(f"not columns of {meta.label}: {sorted(unknown)}")

    per_statement = max(
        1,
        min(ROWS_PER_STATEMENT, connection.ops.bulk_batch_size(fields, [None] * count)),
    )
    head = "INSERT INTO {} ({}) VALUES ".format(
        quote(meta.db_table), ", ".join(quote(field.column) for field in fields)
    )
    row_sql = "({})".format(", ".join(["%s"] * len(fields)))

    def params(start: int, stop: int) -> list[Any]:
        return [column[i] for i in range(start, stop) for column in columns]

    if returning:
        if not connection.features.can_return_rows_from_bulk_insert:
            raise ValueError(f"{connection.vendor} cannot return inserted rows")
        # Spelt out rather than asked of the backend: its helpers for this
        # are private, and Django 6.0 renamed them.  PostgreSQL, SQLite and
        # MariaDB, the databases that can return rows, all write it so.
        assert meta.pk is not None
        suffix = f" RETURNING {quote(meta.pk.column)}"
        ids: list[Any] = []
        with connection.cursor() as cursor:
            for start in range(0, count, per_statement):
                stop = min(count, start + per_statement)
                sql = head + ", ".join([row_sql] * (stop - start)) + suffix
                cursor.execute(sql, params(start, stop))
                ids.extend(row[0] for row in cursor.fetchall())
        return ids

    whole = count - count % per_statement
    with connection.cursor() as cursor:
        if whole:
            cursor.executemany(
                head + ", ".join([row_sql] * per_statement),
                [params(i, i + per_statement) for i in range(0, whole, per_statement)],
            )
        if whole < count:
            rest = count - whole
            cursor.execute(head + ", ".join([row_sql] * rest), params(whole, count))
    return []


# Rows per INSERT statement: fewer round trips than one row each, without
# statements as long as the data (measured fastest on PostgreSQL and SQLite).
ROWS_PER_STATEMENT = 20


def ids_by_uuid(
    model: type[models.Model], uuids: Sequence[Any], using: str
) -> list[Any]:
    """Return the primary keys of the rows of ``model`` with these ``uuid`` values."""
    connection = connections[using]
    # As many uuids per query as the database takes parameters.
    size = max(1, connection.ops.bulk_batch_size(["uuid"], list(uuids)))
    ids: list[Any] = []
    for start in range(0, len(uuids), size):
        chunk = uuids[start : start + size]
        by_uuid = dict(
            model._default_manager.using(using)
            .filter(uuid__in=chunk)
            .values_list("uuid", "pk")
        )
        ids.extend(by_uuid[value] for value in chunk)
    return ids


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
    columns = [
        _prepared(field, [getattr(obj, field.attname) for obj in objs], connection)
        for field in fields
    ]
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
    field: models.Field[Any, Any], values: Sequence[Any], connection: Any
) -> list[Any]:
    """Return each of ``values`` of ``field``, ready for ``connection``.

    A value that several rows hold as the same object is prepared once.
    """
    if isinstance(field, _AS_IS):
        return [_plain(value) for value in values]
    done: dict[int, Any] = {}
    prepared = []
    for value in values:
        key = id(value)
        if key not in done:
            done[key] = _plain(field.get_db_prep_save(value, connection))
        prepared.append(done[key])
    return prepared


def _plain(value: Any) -> Any:
    # A member of TextChoices is a str, but database drivers may write an
    # enum by its name: hand them the value.
    return value.value if isinstance(value, Enum) else value
