"""The `school-payments` command: migrate, serve, worker, seed, reconcile."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from school_payments.settings import WORKERS_ENV, ConfigurationError, Settings

log = logging.getLogger("school_payments.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="school-payments",
        description="School payments backend: schools, students, invoices, payments, statements.",
        epilog="Configuration comes from the environment (DATABASE_URL, REDIS_URL, ADMIN_API_KEY,"
        " STATEMENT_CACHE_TTL_SECONDS, LOG_LEVEL); see the README.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("migrate", help="apply database migrations (DATABASE_URL, else SQLite)")

    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="switch authentication off (local development only; logged as a warning)",
    )

    seed = commands.add_parser("seed", help="load demo data (bulk inserts, with a progress bar)")
    seed.add_argument("--schools", type=int, default=1)
    seed.add_argument("--students", type=int, default=100, help="students per school")
    seed.add_argument("--invoices-per-student", type=int, default=12)
    seed.add_argument("--years", type=int, default=1, help="years of history (monthly invoices)")
    seed.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    seed.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    worker = commands.add_parser(
        "worker",
        help="deliver webhooks and emit the time-based events (run as many as you like)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=9100,
        help="serve Prometheus metrics on this port (default 9100; 0: none)",
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="(default 127.0.0.1)")

    commands.add_parser(
        "reconcile", help="check every invariant between invoices, payments and balances"
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
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "seed":
            return _seed(settings, args)
        if args.command == "worker":
            return _worker(settings, args)
        run = {"migrate": _migrate, "reconcile": _reconcile}[args.command]
        return run(settings)
    except ConfigurationError as error:
        print(f"school-payments: {error}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


def _migrate(settings: Settings) -> int:
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
        _run_uvicorn(args)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run_uvicorn(args: argparse.Namespace) -> None:
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
        http="httptools",
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from school_payments import main as composition

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

    with contextlib.suppress(KeyboardInterrupt):
        composition.run_worker(settings, metrics_address=(args.metrics_host, args.metrics_port))
    return 0


def _reconcile(settings: Settings) -> int:
    from school_payments import main as composition

    problems = composition.reconcile(settings)
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
