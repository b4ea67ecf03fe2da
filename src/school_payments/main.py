"""The composition root: the one module that names concrete adapters and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from school_payments.adapters.cache.invalidation import InvalidationChannel
from school_payments.adapters.cache.memory_cache import (
    DisabledStatementCache,
    InProcessStatementCache,
)
from school_payments.adapters.cache.near_cache import NearCache
from school_payments.adapters.cache.redis_cache import RedisStatementCache
from school_payments.adapters.cache.redis_clients import redis_client
from school_payments.adapters.clock import SystemClock
from school_payments.adapters.observability import metrics
from school_payments.adapters.observability.logging import configure_logging
from school_payments.adapters.persistence.database import (
    Database,
    DatabaseSettings,
    libpq_dsn,
    normalize_url,
    redacted,
)
from school_payments.adapters.persistence.events import SqlEventReader
from school_payments.adapters.persistence.idempotency_records import SqlIdempotencyStore
from school_payments.adapters.persistence.migrations import revisions, upgrade
from school_payments.adapters.persistence.money_readers import (
    SqlCreditNoteReader,
    SqlCreditReader,
    SqlRefundReader,
)
from school_payments.adapters.persistence.readers import (
    SqlApiKeyReader,
    SqlInvoiceReader,
    SqlPaymentReader,
    SqlSchoolReader,
    SqlStudentReader,
    SqlStudentSchools,
)
from school_payments.adapters.persistence.reconcile import CHECKS as RECONCILE_CHECKS
from school_payments.adapters.persistence.reconcile import Discrepancy
from school_payments.adapters.persistence.reconcile import reconcile as reconcile_database
from school_payments.adapters.persistence.schema import SqlSchemaProbe
from school_payments.adapters.persistence.seed import SeedPlan, SeedReport
from school_payments.adapters.persistence.seed import seed as seed_database
from school_payments.adapters.persistence.statements import SqlStatementReader
from school_payments.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from school_payments.adapters.persistence.webhooks import SqlDeliveryStore, SqlWebhookReader
from school_payments.adapters.representation.statements import JsonStatementRenderer
from school_payments.adapters.resilience.circuit_breaker import BreakerState, CircuitBreaker
from school_payments.adapters.resilience.tenant_limiter import InProcessTenantLimiter
from school_payments.adapters.web.app import create_api
from school_payments.adapters.web.services import ApiServices, CommandHandlers, QueryHandlers
from school_payments.adapters.webhooks.url_guard import PublicUrlGuard
from school_payments.application.authentication import (
    Authenticator,
    RevokeApiKeyEverywhereHandler,
)
from school_payments.application.commands.api_keys import CreateApiKeyHandler, RevokeApiKeyHandler
from school_payments.application.commands.corrections import (
    IssueCreditNoteHandler,
    RefundPaymentHandler,
)
from school_payments.application.commands.credit import (
    PayOutCreditHandler,
    RecordStudentPaymentHandler,
)
from school_payments.application.commands.invoices import (
    CancelInvoiceHandler,
    IssueInvoiceHandler,
    ReviseInvoiceHandler,
)
from school_payments.application.commands.payments import RecordPaymentHandler
from school_payments.application.commands.schools import (
    CreateSchoolHandler,
    DeleteSchoolHandler,
    UpdateSchoolHandler,
)
from school_payments.application.commands.students import (
    EnrollStudentHandler,
    RemoveStudentHandler,
    UpdateStudentHandler,
)
from school_payments.application.commands.webhooks import (
    CreateWebhookEndpointHandler,
    DeleteWebhookEndpointHandler,
    ResendEventHandler,
    UpdateWebhookEndpointHandler,
)
from school_payments.application.errors import DatabaseUnavailableError, SchemaNotReadyError
from school_payments.application.idempotency_guard import IdempotencyGuard
from school_payments.application.ports.cache import StatementCache
from school_payments.application.ports.clock import Clock
from school_payments.application.queries.events import EventQueries
from school_payments.application.queries.expensive_work import ExpensiveWork
from school_payments.application.queries.resources import (
    ApiKeyQueries,
    CreditNoteQueries,
    CreditQueries,
    InvoiceQueries,
    PaymentQueries,
    RefundQueries,
    SchoolQueries,
    StudentQueries,
)
from school_payments.application.queries.statements import StatementQueries
from school_payments.application.queries.webhooks import WebhookQueries
from school_payments.application.reminders import EmitTimeBasedEvents
from school_payments.application.webhook_delivery import DeliverWebhook
from school_payments.settings import Settings

if TYPE_CHECKING:
    import httpx

    from school_payments.adapters.webhooks.worker import Periodic

log = logging.getLogger(__name__)


def database_for(settings: Settings) -> Database:
    database = Database(
        DatabaseSettings(
            url=settings.database_url,
            pool_size=settings.database_pool_size,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            replica_urls=settings.database_replica_urls,
        )
    )
    if database.replicas is not None:
        database.replicas.observe_read = metrics.database_read
        database.replicas.observe_state = metrics.replica_usable
    return database


def _breaker_changed(old: BreakerState, new: BreakerState) -> None:
    level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
    log.log(
        level,
        "circuit breaker state changed",
        extra={"breaker": "redis", "from": old.value, "to": new.value},
    )
    metrics.breaker_changed(old, new)


def invalidation_channel_for(settings: Settings) -> InvalidationChannel | None:
    """The pub/sub channel every instance hears invalidations on: with Redis only (sharded
    pub/sub on a Redis Cluster, ADR 0021)."""
    if not settings.redis_url:
        return None
    return InvalidationChannel(
        settings.redis_url,
        # No longer than a Redis timeout: a write whose bump failed on a frozen Redis is
        # answered after one timeout, by when no other instance trusts its near cache.
        lease_seconds=min(settings.invalidation_lease_ms / 1000, settings.redis_timeout_seconds),
        timeout_seconds=settings.redis_timeout_seconds,
    )


def statement_cache_for(
    settings: Settings, channel: InvalidationChannel | None = None
) -> StatementCache:
    """Redis (with a near cache when there is a channel) when REDIS_URL is set; else in-process
    for one worker; off when TTL is 0."""
    ttl = settings.statement_cache_ttl_seconds
    if ttl == 0:
        return DisabledStatementCache()
    if settings.redis_url:
        breaker = CircuitBreaker(
            failure_threshold=settings.breaker_failure_threshold,
            cooldown_seconds=settings.breaker_cooldown_seconds,
            on_change=_breaker_changed,
        )
        client = redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
        near = None
        if channel is not None and settings.near_cache_max_entries > 0:
            near = NearCache(
                max_entries=settings.near_cache_max_entries,
                max_bytes=settings.near_cache_max_mb * 1024 * 1024,
                ttl_seconds=ttl,
            )
        return RedisStatementCache(client, breaker, ttl_seconds=ttl, near=near, channel=channel)
    if settings.workers > 1:
        # Each worker would keep its own versions and serve entries older than another
        # worker's write: without Redis, several workers mean no cache.
        return DisabledStatementCache()
    return InProcessStatementCache(ttl_seconds=ttl)


@dataclass(frozen=True)
class Assembly:
    """Everything the service is made of, and how to release it."""

    services: ApiServices
    database: Database
    cache: StatementCache
    channel: InvalidationChannel | None = None

    async def close(self) -> None:
        await self.cache.close()
        if self.channel is not None:
            await self.channel.close()
        await self.database.dispose()


def assemble(settings: Settings, clock: Clock | None = None) -> Assembly:
    clock = clock or SystemClock()
    database = database_for(settings)
    channel = invalidation_channel_for(settings)
    cache = statement_cache_for(settings, channel)
    uow = SqlUnitOfWorkFactory(database, clock)
    schools, students = SqlSchoolReader(database), SqlStudentReader(database)
    keys = SqlApiKeyReader(database)
    guard = PublicUrlGuard(allow_private=settings.webhook_allow_private_urls)
    authenticator = None
    if not settings.auth_disabled:
        settings.require_authentication_setup()
        assert settings.admin_api_key is not None
        authenticator = Authenticator(
            settings.admin_api_key,
            keys,
            cache_seconds=settings.api_key_cache_seconds,
            listening_cache_seconds=settings.api_key_cache_listening_seconds,
            revocations=channel,
        )
        if channel is not None:
            channel.on_revocation(authenticator.forget)
    revoke_api_key = (
        RevokeApiKeyEverywhereHandler(uow, clock, authenticator)
        if authenticator is not None
        else RevokeApiKeyHandler(uow, clock)
    )
    # One share per school, for statements computed afresh and for the documents drawn from them.
    expensive_work = ExpensiveWork(
        InProcessTenantLimiter(
            settings.tenant_expensive_concurrency, lane=settings.expensive_concurrency
        ),
        SqlStudentSchools(database),
    )
    services = ApiServices(
        commands=CommandHandlers(
            create_school=CreateSchoolHandler(uow, clock),
            update_school=UpdateSchoolHandler(uow, cache, clock),
            delete_school=DeleteSchoolHandler(uow, cache, clock),
            enroll_student=EnrollStudentHandler(uow, cache, clock),
            update_student=UpdateStudentHandler(uow, cache, clock),
            remove_student=RemoveStudentHandler(uow, cache, clock),
            issue_invoice=IssueInvoiceHandler(uow, cache, clock),
            revise_invoice=ReviseInvoiceHandler(uow, cache, clock),
            cancel_invoice=CancelInvoiceHandler(uow, cache, clock),
            record_payment=RecordPaymentHandler(uow, cache, clock),
            refund_payment=RefundPaymentHandler(uow, cache, clock),
            issue_credit_note=IssueCreditNoteHandler(uow, cache, clock),
            record_student_payment=RecordStudentPaymentHandler(uow, cache, clock),
            pay_out_credit=PayOutCreditHandler(uow, cache, clock),
            create_api_key=CreateApiKeyHandler(uow, clock),
            revoke_api_key=revoke_api_key,
            create_webhook_endpoint=CreateWebhookEndpointHandler(uow, guard, clock),
            update_webhook_endpoint=UpdateWebhookEndpointHandler(uow, guard, clock),
            delete_webhook_endpoint=DeleteWebhookEndpointHandler(uow, guard, clock),
            resend_event=ResendEventHandler(uow, guard, clock),
        ),
        queries=QueryHandlers(
            schools=SchoolQueries(schools),
            students=StudentQueries(students),
            invoices=InvoiceQueries(SqlInvoiceReader(database), clock),
            payments=PaymentQueries(SqlPaymentReader(database)),
            refunds=RefundQueries(SqlRefundReader(database)),
            credit_notes=CreditNoteQueries(SqlCreditNoteReader(database)),
            credit=CreditQueries(SqlCreditReader(database)),
            api_keys=ApiKeyQueries(keys, schools),
            statements=StatementQueries(
                SqlStatementReader(database),
                cache,
                JsonStatementRenderer(),
                clock,
                expensive_work,
            ),
            events=EventQueries(SqlEventReader(database)),
            webhooks=WebhookQueries(SqlWebhookReader(database)),
        ),
        idempotency=IdempotencyGuard(SqlIdempotencyStore(database, clock), clock),
        authenticator=authenticator,
        database=database,
        cache=cache,
        schema=schema_probe_for(database),
        expensive_work=expensive_work,
    )
    return Assembly(services, database, cache, channel)


def schema_probe_for(database: Database) -> SqlSchemaProbe:
    head, known = revisions()
    return SqlSchemaProbe(database, head, known)


def _warn_if_private_urls_allowed(settings: Settings) -> None:
    if settings.webhook_allow_private_urls:
        log.warning(
            "WEBHOOK_ALLOW_PRIVATE_URLS is set: webhooks may reach http:// and private or"
            " loopback addresses (development and tests only)"
        )


@dataclass(frozen=True)
class WebhookWorkerParts:
    """What a worker runs: the delivery use case and its store, and the periodic work."""

    deliver: DeliverWebhook
    store: SqlDeliveryStore
    periodic: list[tuple[float, Periodic, str]]
    client: httpx.AsyncClient

    async def close(self) -> None:
        await self.client.aclose()


def webhook_worker_parts(
    settings: Settings, database: Database, clock: Clock
) -> WebhookWorkerParts:
    # Imported here: the HTTP client and the job engine (~30 MB) are loaded by the processes
    # that deliver webhooks, not by every API worker.
    import httpx

    from school_payments.adapters.webhooks.sender import HttpWebhookSender
    from school_payments.adapters.webhooks.worker import measure_backlog

    guard = PublicUrlGuard(allow_private=settings.webhook_allow_private_urls)
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        headers={"accept": "*/*"},
    )
    store = SqlDeliveryStore(database)
    deliver = DeliverWebhook(
        store,
        HttpWebhookSender(client, guard, timeout_seconds=settings.webhook_timeout_seconds),
        clock,
        observe=lambda outcome: metrics.webhook_attempted(outcome.value),
        lease=timedelta(seconds=2 * settings.webhook_timeout_seconds + 5),
    )

    async def backlog() -> None:
        await measure_backlog(store, clock)

    reminders = EmitTimeBasedEvents(SqlUnitOfWorkFactory(database, clock), clock)

    async def time_based_events() -> None:
        await reminders()

    periodic: list[tuple[float, Periodic, str]] = [
        (15.0, backlog, "backlog metric"),
        (60.0, time_based_events, "time-based events"),
    ]
    return WebhookWorkerParts(deliver, store, periodic, client)


def is_embedded(database: Database) -> bool:
    return database.url.startswith("sqlite")


def run_worker(
    settings: Settings,
    clock: Clock | None = None,
    *,
    metrics_address: tuple[str, int] = ("127.0.0.1", 0),
) -> None:
    """`school-payments worker`: pgqueuer jobs on PostgreSQL; on SQLite, the polling worker.
    Its metrics (attempts by outcome, age of the oldest undelivered event) are served on
    `metrics_address` (port 0: not served)."""
    from school_payments.adapters.webhooks.worker import InProcessWorker, PgQueuerWorker

    clock = clock or SystemClock()
    _warn_if_private_urls_allowed(settings)
    host, port = metrics_address
    if port:
        metrics.serve(host, port)

    async def run() -> None:
        current = asyncio.current_task()
        assert current is not None
        for stop in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(stop, current.cancel)
        database = database_for(settings)
        parts = webhook_worker_parts(settings, database, clock)
        log.info("worker started", extra={"database": redacted(database.url)})
        try:
            if is_embedded(database):
                await InProcessWorker(
                    parts.deliver, parts.store, clock, periodic=parts.periodic
                ).run()
            else:
                assert settings.database_url is not None
                await PgQueuerWorker(
                    libpq_dsn(settings.database_url),
                    parts.deliver,
                    parts.store,
                    clock,
                    periodic=parts.periodic,
                    heartbeat_timeout=timedelta(seconds=settings.worker_heartbeat_seconds),
                ).run()
        finally:
            await parts.close()
            await database.dispose()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(run())
    log.info("worker stopped")


IDEMPOTENCY_PURGE_SECONDS = 15 * 60


async def _purge_idempotency_keys(guard: IdempotencyGuard) -> None:
    """Every quarter of an hour (with jitter, so workers spread out), forget expired keys."""
    while True:
        await asyncio.sleep(IDEMPOTENCY_PURGE_SECONDS * (0.5 + random.random()))  # noqa: S311
        try:
            purged = await guard.purge_expired()
        except DatabaseUnavailableError:
            continue  # the next round will do it
        if purged:
            log.info("expired idempotency keys purged", extra={"count": purged})


def build_app(
    settings: Settings,
    clock: Clock | None = None,
    *,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    assembly = assemble(settings, clock)

    async def close() -> None:
        for parts in worker_parts:
            await parts.close()
        await assembly.close()
        metrics.worker_exited(os.getpid())
        if on_close is not None:
            await on_close()

    if settings.auth_disabled:
        log.warning("authentication is switched off: every request acts as the operator")
    _warn_if_private_urls_allowed(settings)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = [
        lambda: _purge_idempotency_keys(assembly.services.idempotency)
    ]
    embedded_worker = settings.embedded_worker
    if embedded_worker is None:
        embedded_worker = is_embedded(assembly.database)
    worker_parts: list[WebhookWorkerParts] = []
    if embedded_worker:
        # The embedded default has no worker service: `serve` delivers webhooks itself.
        from school_payments.adapters.webhooks.worker import InProcessWorker

        parts = webhook_worker_parts(settings, assembly.database, clock or SystemClock())
        worker_parts.append(parts)
        in_process = InProcessWorker(
            parts.deliver, parts.store, clock or SystemClock(), periodic=parts.periodic
        )
        background.append(in_process.run)
    log.info(
        "service configured",
        extra={
            "database": redacted(assembly.database.url),
            "cache": type(assembly.cache).__name__,
            "workers": settings.workers,
        },
    )
    return create_api(
        assembly.services,
        on_shutdown=close,
        background=background,
        metrics_enabled=settings.metrics_enabled,
    )


def create_app() -> FastAPI:
    """The ASGI application factory `serve` runs in each worker (configuration from the env)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, secrets=[settings.admin_api_key or ""])
    return build_app(settings)


def require_schema(settings: Settings) -> None:
    """Refuses to go on (SchemaNotReadyError) unless the database's schema is up to date."""

    async def state() -> str:
        database = database_for(settings)
        try:
            return await schema_probe_for(database).state()
        finally:
            await database.dispose()

    if asyncio.run(state()) == "behind":
        raise SchemaNotReadyError(
            f"the database at {redacted(database_for_url(settings))} is not migrated to this"
            " version's schema; run `school-payments migrate` first"
        )


def database_for_url(settings: Settings) -> str:
    return normalize_url(settings.database_url)


def explain_failure(error: BaseException) -> str | None:
    """One line for an operator about a failure a command cannot get past, or None (a bug)."""
    if isinstance(error, SchemaNotReadyError):
        return error.detail
    if isinstance(error, DatabaseUnavailableError):
        cause = error.__cause__ or error.__context__
        reason = f": {str(cause).splitlines()[0]}" if cause is not None and str(cause) else ""
        return (
            f"the database is unreachable{reason}; check DATABASE_URL and that the database"
            " is running"
        )
    return None


def migrate(settings: Settings) -> None:
    """Applies every migration to the configured database (the SQLite file is created if needed)."""
    upgrade(settings.database_url)
    log.info(
        "migrations applied", extra={"database": redacted(normalize_url(settings.database_url))}
    )


def seed(
    settings: Settings,
    *,
    schools: int,
    students: int,
    invoices_per_student: int,
    years: int,
    random_seed: int,
    progress: bool,
) -> SeedReport:
    """Loads demo data (migrations must have run); draws a progress bar on stderr."""
    plan = SeedPlan(schools, students, invoices_per_student, years, random_seed)

    async def run() -> SeedReport:
        from tqdm import tqdm  # only `seed` draws a bar: serving workers never load it

        database = database_for(settings)
        bar = tqdm(total=schools * students, unit="student", disable=not progress, file=sys.stderr)

        def advance(students_done: int) -> None:
            bar.update(students_done)

        try:
            return await seed_database(database, plan, on_progress=advance)
        finally:
            bar.close()
            await database.dispose()

    report = asyncio.run(run())
    log.info(
        "seeded",
        extra={
            "schools": [str(s) for s in report.school_ids],
            "students": report.students,
            "invoices": report.invoices,
            "payments": report.payments,
            "refunds": report.refunds,
            "credit_notes": report.credit_notes,
            "credit_entries": report.credit_entries,
        },
    )
    return report


def reconcile(settings: Settings) -> list[Discrepancy]:
    """Checks every invariant; logs each discrepancy found (none is the only good answer)."""

    async def run() -> list[Discrepancy]:
        database = database_for(settings)
        try:
            return await reconcile_database(database)
        finally:
            await database.dispose()

    found = asyncio.run(run())
    for item in found:
        log.error(
            "reconciliation discrepancy",
            extra={"check": item.check, "subject": item.subject, **item.detail},
        )
    for check in RECONCILE_CHECKS:
        count = sum(1 for item in found if item.check == check)
        log.log(
            logging.ERROR if count else logging.INFO,
            "reconciliation check",
            extra={"check": check, "discrepancies": count, "ok": count == 0},
        )
    log.info("reconciliation finished", extra={"discrepancies": len(found)})
    return found
