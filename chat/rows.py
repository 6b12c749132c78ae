"""Model instances from plain SQL rows, for the statements every message and every
assignment decision make.

Compiling a queryset, or running raw(), cost more than the query itself on these
paths (docs/benchmarks.md). Here the column list is built once per model, and a row
becomes an instance through `Model.from_db` with the backend's converters applied
(SQLite hands back datetimes as text, for one), as Django's own iterables do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.expressions import Col

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]

_converters: dict[tuple[type[Model], str], list[tuple[int, Col, list[Converter]]]] = {}  # by alias
_columns: dict[tuple[type[Model], str], str] = {}  # by table alias


def columns(model: type[Model], alias: str = "") -> str:
    """The model's concrete columns, in field order, for a SELECT list."""
    key = (model, alias)
    if key not in _columns:
        prefix = f"{alias}." if alias else ""
        _columns[key] = ", ".join(prefix + field.column for field in model._meta.concrete_fields)
    return _columns[key]


def placeholders(values: Sequence[Any]) -> str:
    """One placeholder per value, comma-separated, for an IN list."""
    return ", ".join(["%s"] * len(values))


def width(model: type[Model]) -> int:
    """How many values of a row `columns(model)` selects."""
    return len(model._meta.concrete_fields)


def from_row(model: type[Model], values: Sequence[Any], connection: BaseDatabaseWrapper) -> Any:
    """An instance from the values of `columns(model)`, as loaded from `connection`."""
    converted = list(values)
    for index, column, converters in _converters_of(model, connection):
        for converter in converters:
            converted[index] = converter(converted[index], column, connection)
    return model.from_db(connection.alias, _attnames(model), converted)


def _attnames(model: type[Model]) -> list[str]:
    if model not in _names:
        _names[model] = [field.attname for field in model._meta.concrete_fields]
    return _names[model]


_names: dict[type[Model], list[str]] = {}


def _converters_of(
    model: type[Model], connection: BaseDatabaseWrapper
) -> list[tuple[int, Col, list[Converter]]]:
    """Only the columns that need converting on this backend, with their converters.

    Kept per database, not per connection object (each thread has its own): a
    converter reads the database's settings, the same for all its connections.
    """
    key = (model, connection.alias)
    if key not in _converters:
        found = []
        for index, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if converters:
                found.append((index, column, converters))
        _converters[key] = found
    return _converters[key]


def insert(obj: Model, connection: BaseDatabaseWrapper) -> None:
    """INSERT a new instance as save() would (defaults, auto_now), and set its pk.

    For models without save() overrides or signal receivers (asserted by the tests of
    each caller's behaviour, not here): save() compiles an INSERT every time.
    """
    meta = obj._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    sql = (
        f"INSERT INTO {meta.db_table} ({', '.join(field.column for field in fields)}) "  # noqa: S608
        f"VALUES ({placeholders(values)})"
    )
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {meta.pk.column}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj._state.adding = False
    obj._state.db = connection.alias


def update(obj: Model, field_names: Sequence[str], connection: BaseDatabaseWrapper) -> None:
    """UPDATE these fields of a saved instance, as save(update_fields=…) would."""
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    assignments = ", ".join(f"{field.column} = %s" for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {meta.db_table} SET {assignments} WHERE {meta.pk.column} = %s",  # noqa: S608
            [*values, obj.pk],
        )
