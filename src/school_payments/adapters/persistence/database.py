"""Engines, connections and transactions, with driver failures translated at one place.

PostgreSQL reads run in REPEATABLE READ, read-only transactions, so the several queries of one
statement see one snapshot. SQLite writes start with BEGIN IMMEDIATE: the write lock is taken up
front, which is what makes "read the invoice, decide, write" safe there (SQLite ignores
`FOR UPDATE`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, CursorResult, Row, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable, Select
from sqlalchemy.sql.util import find_tables

from school_payments.adapters.persistence.replicas import Replica, ReplicaSet
from school_payments.adapters.persistence.write_batch import (
    BatchCompiler,
    DeferredRead,
    DeferredWrite,
)
from school_payments.application.errors import DatabaseUnavailableError, QueryTimeoutError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_SQLITE_FILE = "school_payments.db"

# Failures that mean "the database cannot answer now", as opposed to a bug in a query.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # the pool had no free connection in time
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)


# SQLSTATE classes of the same: a connection exception (08…), the server shutting down, starting
# up or recovering from a crash (57P…), or out of connection slots (53300). asyncpg reports
# these as plain `PostgresError`s, which SQLAlchemy wraps in a bare DBAPIError, and a refused
# connection during a restart ("the database system is starting up") has no connection to
# invalidate: only the code tells them apart from a failing query.
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")

QUERY_CANCELED = "57014"
"""A statement that ran past statement_timeout: the database is up, this query was too long
for it right now. Reported as such (`query_timeout`), not as the database being down."""


def _sqlstate(error: BaseException) -> str | None:
    if isinstance(error, exc.DBAPIError):
        code = getattr(error.orig, "sqlstate", None)
        return code if isinstance(code, str) else None
    return None


def is_timeout(error: BaseException) -> bool:
    return _sqlstate(error) == QUERY_CANCELED


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _sqlstate(error)
        if code is not None and code.startswith(_UNAVAILABLE_SQLSTATES):
            return True
    return isinstance(error, _UNAVAILABLE)


def translated(error: Exception) -> DatabaseUnavailableError | None:
    """The service's error for a driver failure that is not a bug in a query, else None."""
    if is_timeout(error):
        return QueryTimeoutError()
    if is_unavailable(error):
        return DatabaseUnavailableError()
    return None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str | None = None
    """SQLAlchemy URL; None runs on an embedded SQLite file in the working directory."""
    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 1.0
    statement_timeout_ms: int = 5_000
    replica_urls: tuple[str, ...] = ()
    """Streaming replicas of `url` that serve reads (ADR 0020)."""


def normalize_url(url: str | None) -> str:
    """Picks the async driver: plain `postgresql://` means asyncpg, `sqlite://` means aiosqlite."""
    if not url:
        return f"sqlite+aiosqlite:///{Path(DEFAULT_SQLITE_FILE).resolve()}"
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}.get(
        parsed.drivername
    )
    if parsed.drivername == "sqlite":
        driver = "sqlite+aiosqlite"
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


class SqlConnection:
    """One connection, in its transaction; driver failures surface as DatabaseUnavailableError.

    Writes may be deferred (`defer`): on PostgreSQL they are sent together, in one statement,
    when a query needs them, before any other write, and at `commit` (see `write_batch`); so may
    a query whose answer can wait until then (`defer_read`). On SQLite both run at once.
    """

    def __init__(self, connection: AsyncConnection, batches: BatchCompiler | None = None) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self._batches = batches
        self._pending: list[DeferredWrite] = []
        self._reads: list[DeferredRead] = []

    async def execute(
        self,
        statement: Executable,
        parameters: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> CursorResult[Any]:
        if self._pending and self._needs_pending(statement):
            await self.flush()
        return await self._run(self.connection.execute(statement, parameters))

    async def rows(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        return (await self.execute(statement, parameters)).all()

    async def first(self, statement: Executable) -> Row[Any] | None:
        return (await self.execute(statement)).first()

    async def scalar(self, statement: Executable, parameters: dict[str, Any] | None = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def defer(self, write: DeferredWrite) -> None:
        """Makes `write` before the next query that could see it, or at commit."""
        if self._batches is None:
            result = await self.execute(write.template, write.params)
            write.check(result.rowcount)
            return
        if any(pending.row == write.row for pending in self._pending):
            await self.flush()
        self._pending.append(write)

    async def defer_read(self, read: DeferredRead) -> None:
        """Runs `read` with the deferred writes (at once where writes are not batched) and then
        hands its values to `read.then`; it sees every write made or deferred before it."""
        if self._batches is None:
            await read.then([row[0] for row in await self.rows(read.query, read.params)])
            return
        if self._pending and self._needs_pending(read.query):
            await self.flush()
        self._reads.append(read)

    async def flush(self) -> None:
        """Sends the deferred writes and reads, in one statement, holds each write to its
        expected count, then hands each read its values."""
        writes, self._pending = self._pending, []
        reads, self._reads = self._reads, []
        if self._batches is None or (len(writes) == 1 and not reads):
            for write in writes:
                write.check((await self.execute(write.template, write.params)).rowcount)
            return
        if not writes and not reads:
            return
        sql, arguments = self._batches.statement(writes, reads)
        result = await self._run(self.connection.exec_driver_sql(sql, tuple(arguments)))
        row = result.one()
        for write, touched in zip(writes, row, strict=False):
            write.check(int(touched))
        for read, values in zip(reads, row[len(writes) :], strict=True):
            await read.then(list(values))

    async def commit(self) -> None:
        """Sends what is deferred, then commits (both raise as `execute` does)."""
        await self.flush()
        await self.connection.commit()

    def _needs_pending(self, statement: Executable) -> bool:
        """Whether `statement` must run after the deferred writes: any other write (their order
        is kept), and any query of a table they write."""
        if not isinstance(statement, Select):
            return True
        written = {write.table for write in self._pending}
        return not written.isdisjoint(_tables_read(statement))

    @staticmethod
    async def _run(pending: Awaitable[_T]) -> _T:
        try:
            return await pending
        except Exception as error:
            found = translated(error)
            if found is not None:
                raise found from error
            raise


@functools.lru_cache(maxsize=1024)
def _tables_read(query: Select[Any]) -> frozenset[str]:
    """The tables a query reads. Queries are module-level or cached by shape, so this is worked
    out once each; walking the expression every time was 4 % of a payment's CPU."""
    return frozenset(table.name for table in find_tables(query, check_columns=True))


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except DatabaseUnavailableError:
        raise
    except Exception as error:
        found = translated(error)
        if found is not None:
            raise found from error
        raise


class Database:
    """The service's database: a write path (transactions) and a read path (snapshots)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.url = normalize_url(settings.url)
        self.dialect: Literal["postgresql", "sqlite"] = (
            "sqlite" if self.url.startswith("sqlite") else "postgresql"
        )
        self.replicas: ReplicaSet | None = None
        """Streaming replicas that serve snapshots when fresh enough (PostgreSQL only)."""
        if self.dialect == "sqlite":
            self._write_engine = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE")
            self._read_engine = _sqlite_engine(self.url, begin="BEGIN")
            self._probe_engine = self._read_engine
            self._batches: BatchCompiler | None = None
        else:
            engine = _postgres_engine(self.url, settings)
            self._write_engine = self._read_engine = engine
            # /readyz asks on connections of its own: when every pooled connection is busy
            # with requests, the database is still up, and readiness must say so.
            self._probe_engine = _postgres_engine(
                self.url, settings, pool_size=1, max_overflow=2, pool_timeout=1.0
            )
            self._batches = BatchCompiler(engine.dialect)
            if settings.replica_urls:
                self.replicas = ReplicaSet(
                    [
                        Replica.named(url, _postgres_engine(normalize_url(url), settings))
                        for url in settings.replica_urls
                    ]
                )

    @property
    def engine(self) -> AsyncEngine:
        return self._write_engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlConnection]:
        """A read-write transaction; the caller commits with `SqlConnection.commit()`."""
        async with _translated(), self._write_engine.connect() as connection:
            await connection.begin()
            yield SqlConnection(connection, self._batches)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlConnection]:
        """A read-only transaction whose queries all see the same committed state: on a replica
        that has replayed every write acknowledged before it began, else on the primary."""
        async with _translated(), AsyncExitStack() as stack:
            opened = None
            if self.replicas is not None:
                opened = await self.replicas.fresh_connection(stack, self._primary_position)
            if opened is None:
                opened = await stack.enter_async_context(self._read_engine.connect())
            connection = opened
            if self.dialect == "postgresql":
                connection = await opened.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            await connection.begin()
            yield SqlConnection(connection)

    async def _primary_position(self) -> str:
        """The primary's WAL position now (`pg_current_wal_lsn()`), outside any transaction."""
        async with self._write_engine.connect() as connection:
            raw = await connection.get_raw_connection()
            found = await raw.driver_connection.fetchval(  # type: ignore[union-attr]
                "SELECT pg_current_wal_lsn()::text"
            )
            return str(found)

    async def ping(self) -> bool:
        """Whether the database answers, asked outside the pool that serves requests."""
        try:
            async with _translated(), self._probe_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except DatabaseUnavailableError:
            return False

    async def schema_revision(self) -> str | None:
        """The migration revision the database is at (None: never migrated)."""
        async with _translated(), self._probe_engine.connect() as connection:
            has_table = await connection.run_sync(
                lambda sync: sync.dialect.has_table(sync, "alembic_version")
            )
            if not has_table:
                return None
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if found is None else str(found)

    async def dispose(self) -> None:
        replicas = [r.engine for r in self.replicas.replicas] if self.replicas else []
        for engine in {self._write_engine, self._read_engine, self._probe_engine, *replicas}:
            await engine.dispose()


def _postgres_engine(
    url: str,
    settings: DatabaseSettings,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout: float | None = None,
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size if pool_size is None else pool_size,
        max_overflow=settings.max_overflow if max_overflow is None else max_overflow,
        pool_timeout=settings.pool_timeout_seconds if pool_timeout is None else pool_timeout,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            # The client gives up shortly after the server would have cancelled the statement.
            "command_timeout": settings.statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "application_name": "school-payments",
                "statement_timeout": str(settings.statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(settings.statement_timeout_ms * 3),
            },
        },
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed_by_server)
    return engine


def _replace_if_closed_by_server(
    _dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """A pooled connection the server closed (a restart) is replaced before a request gets it.

    asyncpg notices the server closing the socket while the connection sits in the pool, so
    this costs no round trip (unlike `pool_pre_ping`). Without it, the first request after the
    database came back would fail on a dead connection. Raising InvalidatePoolError drops every
    connection opened before now: after a restart they are all dead.
    """
    driver_connection = record.driver_connection
    if driver_connection is not None and driver_connection.is_closed():
        raise exc.InvalidatePoolError("the server closed this pooled connection")


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 5})
    configure_sqlite(engine, begin=begin)
    return engine


def configure_sqlite(engine: AsyncEngine, *, begin: str = "BEGIN") -> None:
    """WAL, full fsync, foreign keys, a busy timeout, and transactions that really begin."""

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, instead of the sqlite3 module's
        # legacy implicit transactions, which skip BEGIN before SELECTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",  # readers do not block the writer
            "PRAGMA synchronous=FULL",  # an acknowledged payment survives a power cut
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=5000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)


def libpq_dsn(url: str) -> str:
    """The URL as a plain `postgresql://` DSN (what asyncpg and the job engine connect with)."""
    return (
        make_url(normalize_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
