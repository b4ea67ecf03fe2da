"""Writes sent together: a command's inserts and updates reach PostgreSQL in one statement.

A payment used to cost one round trip per row it writes (the payment, the invoice's figures, the
event, the idempotency record), and each exchange cost the worker more CPU (asyncpg's protocol,
the event loop waking up) than PostgreSQL spent running the statement: under load, a third of
a worker's samples were in the driver. Deferred writes wait here until something needs them —
a read of a table they touch, a write that is not deferred, or the commit — and then go as one
statement of data-modifying CTEs:

    WITH w0 AS (INSERT INTO payments (…) VALUES ($1, …) RETURNING 1),
         w1 AS (UPDATE invoices SET … WHERE id = $12 AND status = $13 … RETURNING 1)
    SELECT (SELECT count(*) FROM w0), (SELECT count(*) FROM w1)

Each write's row count is then held to what it expected: an update guarded by the state it was
read in must touch its one row, exactly as when it ran alone. The sub-statements of one WITH all
see the snapshot from before it, so two writes of the same row never share a batch (the second
sends the first out); foreign keys and the deferred constraint triggers are checked as before.

A query whose answer is needed only after the writes (the webhook endpoints an event goes to)
may ride along as a deferred read: `ARRAY(<query>)` beside the counts, its rows handed on once
the writes are checked. It reads no table the batch writes (those go out first), so the shared
snapshot gives it what it would have read when it was asked.

The SQL of each template and of each combination is compiled once per process: building and
compiling SQLAlchemy expressions per request would cost what the round trips saved.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert, Update

_PLACEHOLDER = re.compile(r"\$(\d+)")
_MOST_SHAPES = 512
"""Compiled templates and combinations kept per process. Templates are module-level statements
and combinations follow the commands' shapes, so this is never reached in practice; past it
the caches start over rather than grow."""


@dataclass(frozen=True, slots=True)
class DeferredWrite:
    """One insert or update, waiting to be sent with the others of its transaction."""

    template: Insert | Update
    """A module-level statement whose values come from `params` (never built per call)."""
    params: dict[str, Any]
    row: tuple[str, Hashable]
    """The row it writes, as (table, key): a second write of it goes in a later batch."""
    must_touch_one: Callable[[], Exception] | None = None
    """The error to raise when the write does not touch exactly one row (None: not checked)."""

    @property
    def table(self) -> str:
        return self.row[0]

    def check(self, touched: int) -> None:
        if self.must_touch_one is not None and touched != 1:
            raise self.must_touch_one()


@dataclass(frozen=True, slots=True)
class DeferredRead:
    """A one-column query sent with the deferred writes; its values go to `then` after them."""

    query: Select[Any]
    """A module-level query whose values come from `params` (never built per call)."""
    params: dict[str, Any]
    then: Callable[[list[Any]], Awaitable[None]]
    """Called with the column's values (in the query's order) once the writes are checked."""


@dataclass(frozen=True, slots=True, eq=False)  # one per template: compared by identity
class _Compiled:
    sql: str
    """With placeholders $1…$n, as PostgreSQL's extended protocol takes them."""
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: dict[str, Any]
    """Values the template carries itself (the 1 of `count + 1`)."""

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        values = {**self.fixed, **params} if self.fixed else params
        return [
            values[name] if process is None else process(values[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]


class BatchCompiler:
    """Turns deferred writes into one statement with its arguments, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.paramstyle != "numeric_dollar":
            raise ValueError(f"batches are built for $n placeholders, not {dialect.paramstyle}")
        self._dialect = dialect
        self._templates: dict[tuple[Insert | Update | Select[Any], tuple[str, ...]], _Compiled] = {}
        self._batches: dict[tuple[tuple[_Compiled, ...], tuple[_Compiled, ...]], str] = {}

    def statement(
        self, writes: Sequence[DeferredWrite], reads: Sequence[DeferredRead] = ()
    ) -> tuple[str, list[Any]]:
        """One SQL statement that makes every write and returns one row: their row counts, then
        each read's values as an array."""
        parts = tuple(self._template(write) for write in writes)
        asked = tuple(self._template(read) for read in reads)
        key = (parts, asked)
        sql = self._batches.get(key)
        if sql is None:
            if len(self._batches) >= _MOST_SHAPES:
                self._batches.clear()
            sql = self._batches[key] = _combined(parts, asked)
        arguments: list[Any] = []
        params = [write.params for write in writes] + [read.params for read in reads]
        for part, values in zip(parts + asked, params, strict=True):
            arguments.extend(part.arguments(values))
        return sql, arguments

    def _template(self, item: DeferredWrite | DeferredRead) -> _Compiled:
        statement = item.template if isinstance(item, DeferredWrite) else item.query
        key = (statement, tuple(item.params))
        found = self._templates.get(key)
        if found is None:
            if len(self._templates) >= _MOST_SHAPES:
                self._templates.clear()
            found = self._templates[key] = self._compile(statement, item.params)
        return found

    def _compile(
        self, statement: Insert | Update | Select[Any], params: dict[str, Any]
    ) -> _Compiled:
        compiled = statement.compile(dialect=self._dialect, column_keys=list(params))
        names = tuple(compiled.positiontup or ())
        sql = compiled.string
        returns = statement._returning if not isinstance(statement, Select) else ()
        if returns or len(set(_PLACEHOLDER.findall(sql))) != len(names):
            raise ValueError(f"cannot batch this statement: {sql}")
        binds = [compiled.binds[name] for name in names]
        processors = tuple(
            bind.type.dialect_impl(self._dialect).bind_processor(self._dialect) for bind in binds
        )
        fixed = {
            name: bind.effective_value
            for name, bind in zip(names, binds, strict=True)
            if name not in params
        }
        return _Compiled(sql, names, processors, fixed)


def _combined(parts: Sequence[_Compiled], reads: Sequence[_Compiled] = ()) -> str:
    # Only SQLAlchemy's compiled SQL and generated names are joined here; values are $n arguments.
    ctes, columns, offset = [], [], 0
    for index, part in enumerate((*parts, *reads)):
        shifted = _PLACEHOLDER.sub(
            lambda match, by=offset: f"${int(match.group(1)) + by}",  # type: ignore[misc]
            part.sql,
        )
        if index < len(parts):
            ctes.append(f"w{index} AS ({shifted} RETURNING 1)")
            columns.append(f"(SELECT count(*) FROM w{index})")  # noqa: S608
        else:
            columns.append(f"ARRAY({shifted})")
        offset += len(part.names)
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    return f"{with_}SELECT {', '.join(columns)}"
