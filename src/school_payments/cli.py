"""The `school-payments` command: migrate, serve, worker, seed, reconcile."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence

from school_payments.settings import WORKERS_ENV, ConfigurationError, Settings

log = logging.getLogger("school_payments.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="school-payments",
        description="School payments backend: schools, students, invoices, payments, statements.",
        epilog="Configuration comes from the environment (DATABASE_URL, REDIS_URL, ADMIN_API_KEY,"
        " STATEMENT_CACHE_TTL_SECONDS, LOG_LEVEL); see the README. `school-payments COMMAND"
        " --help` describes each command. example: school-payments migrate &&"
        " ADMIN_API_KEY=op_secret school-payments serve --port 8000",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    formatter = argparse.ArgumentDefaultsHelpFormatter

    commands.add_parser(
        "migrate",
        help="apply database migrations (DATABASE_URL, else SQLite)",
        description="Brings the database at DATABASE_URL (unset: the SQLite file"
        " school_payments.db in the working directory, created if needed) to the schema this"
        " version needs. Safe to run again: it applies only what is missing. Run it before"
        " `serve` (or use `serve --migrate`).",
        epilog="example: DATABASE_URL=postgresql://postgres@127.0.0.1/school_payments"
        " school-payments migrate",
        formatter_class=formatter,
    )

    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API",
        description="Serves the HTTP API (uvicorn). Needs ADMIN_API_KEY (or --no-auth). The"
        " database must be migrated first (`migrate`, or --migrate). Limits: HTTP_MAX_HEADER_BYTES,"
        " HTTP_HEADER_TIMEOUT_SECONDS, HTTP_KEEP_ALIVE_SECONDS, HTTP_MAX_CONCURRENCY,"
        " TENANT_EXPENSIVE_CONCURRENCY (see the README).",
        epilog="example: ADMIN_API_KEY=op_secret school-payments serve --port 8000 --workers 2",
        formatter_class=formatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind")
    serve.add_argument("--port", type=int, default=8000, help="port")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="switch authentication off (local development only; logged as a warning)",
    )

    seed = commands.add_parser(
        "seed",
        help="load demo data (bulk inserts, with a progress bar)",
        description="Adds demo schools, students, monthly invoices and payments to the migrated"
        " database (it never deletes anything). The same --seed gives the same data.",
        epilog="example: school-payments seed --schools 2 --students 500 --years 2",
        formatter_class=formatter,
    )
    seed.add_argument("--schools", type=int, default=1, help="schools to create")
    seed.add_argument("--students", type=int, default=100, help="students per school")
    seed.add_argument("--invoices-per-student", type=int, default=12, help="invoices per student")
    seed.add_argument("--years", type=int, default=1, help="years of history (monthly invoices)")
    seed.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    seed.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    worker = commands.add_parser(
        "worker",
        help="deliver webhooks and emit the time-based events (run as many as you like)",
        description="Delivers webhooks (signed, retried with backoff for 3 days) and emits"
        " invoice.overdue and invoice.due_soon. On PostgreSQL any number of workers share the"
        " jobs; on SQLite, `serve` runs one in its own process. Stops on SIGTERM.",
        epilog="example: DATABASE_URL=postgresql://postgres@127.0.0.1/school_payments"
        " school-payments worker --metrics-port 9100",
        formatter_class=formatter,
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=9100,
        help="serve Prometheus metrics on this port (0: none)",
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="interface for the metrics")

    commands.add_parser(
        "reconcile",
        help="check every invariant between invoices, payments and balances",
        description="Checks every invariant between invoices, payments and the balance"
        " projection of the database at DATABASE_URL, read-only. Logs each discrepancy;"
        " exit status 0 when there is none, 1 when there is any.",
        epilog="example: DATABASE_URL=postgresql://postgres@127.0.0.1/school_payments"
        " school-payments reconcile",
        formatter_class=formatter,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "no_auth", False):
            os.environ["AUTH_DISABLED"] = "true"
            settings = Settings.from_env()
        from school_payments.adapters.observability.logging import configure_logging

        configure_logging(settings.log_level, secrets=[settings.admin_api_key or ""])
        return _COMMANDS[args.command](settings, args)
    except ConfigurationError as error:
        print(f"school-payments: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # one clear line instead of a traceback, when it is known
        from school_payments import main as composition

        message = composition.explain_failure(error)
        if message is None:
            raise
        print(f"school-payments: {message}", file=sys.stderr)
        return 2


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from school_payments import main as composition

    composition.migrate(settings)
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from school_payments import main as composition

    settings.require_authentication_setup()
    if args.workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    os.environ[WORKERS_ENV] = str(args.workers)
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share their metrics through files in this directory.
        metrics_dir = tempfile.mkdtemp(prefix="school-payments-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if args.migrate:
        composition.migrate(settings)
    try:
        _run_uvicorn(args, settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run_uvicorn(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "school_payments.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        loop="uvloop",
        # httptools, with a header size limit and a header read timeout (HTTP_MAX_HEADER_BYTES,
        # HTTP_HEADER_TIMEOUT_SECONDS): see adapters/web/guards.py.
        http="school_payments.adapters.web.guards:GuardedHttpToolsProtocol",
        server_header=False,
        timeout_graceful_shutdown=10,
        # Idle kept-alive connections close after this; with limit_concurrency, connections and
        # requests beyond the limit get 503 at once instead of piling up.
        timeout_keep_alive=max(1, round(settings.http_keep_alive_seconds)),
        limit_concurrency=settings.http_max_concurrency,
    )


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from school_payments import main as composition

    composition.require_schema(settings)
    composition.seed(
        settings,
        schools=args.schools,
        students=args.students,
        invoices_per_student=args.invoices_per_student,
        years=args.years,
        random_seed=args.seed,
        progress=not args.no_progress,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from school_payments import main as composition
    from school_payments.application.errors import DatabaseUnavailableError

    with contextlib.suppress(KeyboardInterrupt):
        try:
            composition.run_worker(settings, metrics_address=(args.metrics_host, args.metrics_port))
        except (OSError, TimeoutError) as error:
            # The job engine connects with its own driver: a refused or timed-out connection
            # at start is the database being unreachable, said in one line (explain_failure).
            raise DatabaseUnavailableError() from error
    return 0


def _reconcile(settings: Settings, _args: argparse.Namespace) -> int:
    from school_payments import main as composition

    composition.require_schema(settings)
    problems = composition.reconcile(settings)
    return 1 if problems else 0


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": _migrate,
    "serve": _serve,
    "seed": _seed,
    "reconcile": _reconcile,
    "worker": _worker,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
