"""Rows to domain objects and back; the only place that knows both shapes."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar, get_args, get_type_hints
from uuid import UUID

from sqlalchemy import Table, bindparam, select
from sqlalchemy.sql import ColumnElement, Select

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.tables import schools
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
from school_payments.domain.currency import Currency
from school_payments.domain.entities import School
from school_payments.domain.errors import NotFoundError
from school_payments.domain.money import Money

R = TypeVar("R")

Row = Any  # a SQLAlchemy Row; its typed form adds nothing over attribute access here


def scoped(statement: Select[Any], school_column: ColumnElement[Any], scope: Scope) -> Select[Any]:
    """Limits a query to the scope's school: the one place tenancy becomes SQL."""
    if scope.school_id is None:
        return statement
    return statement.where(school_column == scope.school_id)


# -- rows ⇄ domain records, by column name -------------------------------------------------------
# A record's attribute and its column share a name. What differs is said once, here: money is
# an integer column beside the row's `currency`, a currency is its code, an enum its value.


Decode = Callable[[Any, Any], Any]
"""(column value, the row's currency code) → attribute value."""


def _decoder(hint: Any) -> Decode | None:
    """How a column becomes the attribute of type `hint` (None: as it is)."""
    kinds = {hint} | set(get_args(hint))
    if Money in kinds:
        return lambda value, currency: (
            None if value is None else Money(int(value), Currency.of(currency))
        )
    if Currency in kinds:
        return lambda value, _currency: None if value is None else Currency.of(value)
    enum = next((k for k in kinds if isinstance(k, type) and issubclass(k, Enum)), None)
    if enum is not None:
        return lambda value, _currency: enum(value)
    return None


@functools.cache
def _columns_of(cls: type[Any]) -> tuple[tuple[str, Decode | None], ...]:
    hints = get_type_hints(cls)
    return tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls) if f.init)


@functools.lru_cache(maxsize=1024)
def reader_of(cls: type[R], fields: tuple[str, ...], prefix: str = "") -> Callable[..., R]:
    """How to read a `cls` record from rows of these columns: `read(row, **given)`, with each
    attribute's position (and the currency's) worked out once per query shape. Statements map
    hundreds of rows a request: a query's rows share one reader, planned before the first."""
    at = {name: index for index, name in enumerate(fields)}
    steps = tuple(
        (name, at[prefix + name], decode)
        for name, decode in _columns_of(cls)  # type: ignore[arg-type]  # classes are hashable
        if prefix + name in at
    )
    currency_at = at.get(prefix + "currency")

    def read(row: Row, **given: Any) -> R:
        currency = None if currency_at is None else row[currency_at]
        values: dict[str, Any] = {}
        for name, index, decode in steps:
            if name not in given:
                value = row[index]
                values[name] = value if decode is None else decode(value, currency)
        values.update(given)
        return cls(**values)

    return read


def record_from(cls: type[R], row: Row, *, prefix: str = "", **given: Any) -> R:
    """The `cls` record a row holds (its columns named like the attributes, after `prefix` in a
    joined row: `payment__id` → `id`); attributes with no column (loaded collections) come from
    `given` or keep their defaults. For many rows of one query, take `reader_of` once."""
    # Classes are hashable; typeshed's lru_cache asks for `Hashable`, which `type[R]` is not.
    read: Callable[..., R] = reader_of(cls, tuple(row._fields), prefix)  # type: ignore[arg-type]
    return read(row, **given)


def _encoded(value: Any) -> Any:
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, Currency):
        return value.code
    return value.value if isinstance(value, Enum) else value


def record_values(table: Table, record: Any) -> dict[str, Any]:
    """The row of `table` that stores `record` (its `currency` column from its money)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name == "currency":
            values["currency"] = (
                record.currency.code if isinstance(record.currency, Currency) else record.currency
            )
        elif hasattr(record, column.name):
            value = getattr(record, column.name)
            values[column.name] = (
                0 if value is None and column.server_default is not None else _encoded(value)
            )
    return values


# -- pages and the school lookup every read starts from ----------------------------------------


def page_query(query: Select[Any], id_column: Any, page: PageRequest) -> Select[Any]:
    if page.after is not None:
        query = query.where(id_column > page.after)
    return query.order_by(id_column).limit(page.limit + 1)


def page_of(rows: Any, page: PageRequest, convert: Any) -> Page[Any]:
    items = [convert(row) for row in rows[: page.limit]]
    more = len(rows) > page.limit
    return Page(items, items[-1].id if more and items else None)


@functools.cache
def _by_id(table: Table, *, scoped: bool, for_update: bool, for_share: bool = False) -> Select[Any]:
    """`SELECT … WHERE id = :id` [`AND <tenant> = :scope`] [`FOR UPDATE` | `FOR KEY SHARE`],
    built once."""
    query = select(table).where(table.c.id == bindparam("id"))
    if scoped:
        # Tenancy becomes SQL here: a school's scope filters on the row's tenant key.
        tenant = table.c.id if table is schools else table.c.school_id
        query = query.where(tenant == bindparam("scope"))
    if for_share:
        # PostgreSQL's FOR KEY SHARE (SQLite ignores it: its writers run one at a time).
        return query.with_for_update(read=True, key_share=True)
    return query.with_for_update() if for_update else query


async def row_in_scope(
    sql: SqlConnection,
    table: Table,
    scope: Scope,
    row_id: UUID,
    resource: str,
    *,
    for_update: bool = False,
    for_share: bool = False,
) -> Any:
    """The row with this id if the scope may see it; otherwise NotFoundError, as if missing."""
    scoped = scope.school_id is not None
    params: dict[str, Any] = {"id": row_id, "scope": scope.school_id} if scoped else {"id": row_id}
    query = _by_id(table, scoped=scoped, for_update=for_update, for_share=for_share)
    row = (await sql.execute(query, params)).first()
    if row is None:
        raise NotFoundError(resource, row_id)
    return row


async def school_in_scope(sql: SqlConnection, scope: Scope, school_id: UUID) -> School:
    return record_from(School, await row_in_scope(sql, schools, scope, school_id, "school"))


async def children_page(
    sql: SqlConnection,
    scope: Scope,
    parent: tuple[Table, UUID, str],
    children: tuple[Table, str, type[R]],
    page: PageRequest,
) -> Page[R]:
    """A page of the records under one parent (a payment's refunds, an invoice's payments…);
    a parent the scope may not see is reported missing, as if it did not exist."""
    table, parent_id, resource = parent
    child_table, foreign_key, record = children
    await row_in_scope(sql, table, scope, parent_id, resource)
    query = select(child_table).where(child_table.c[foreign_key] == parent_id)
    rows = await sql.rows(page_query(query, child_table.c.id, page))
    return page_of(rows, page, functools.partial(record_from, record))
