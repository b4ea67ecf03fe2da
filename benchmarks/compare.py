"""This tree against a baseline revision, side by side on the same data and the same machine.

    .venv/bin/python -m benchmarks.compare --baseline main      # or any revision

Checks out the baseline in a temporary git worktree (with its own .venv), seeds one school, and
serves both revisions at once (2 workers each, Redis databases 1 and 2 so that neither serves the
other's cache entries). Each scenario is measured in alternation, twice per revision, because
run-to-run noise on a 2-core machine (±10 %) is as large as the differences a change may make.
Prints requests/s of both and their ratio: what a change may not move (payments, cached and
uncached statements), beside `/healthz`, which bounds them all; and the server's CPU time per
request (its worker processes' user + system time over the run, divided by the requests), which
other load on a shared machine moves much less than requests/s.

When the two revisions' schemas differ (a migration between them), `--migrate-baseline-data`
seeds with the baseline's own commands and serves each revision its own database: the
baseline's, and a copy of it migrated by this tree, so both hold the very same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks import data
from benchmarks.harness import CLI, ROOT, Server
from benchmarks.run import CAPACITY, KEY, Benchmark, Scenarios, _warm


def _checkout(revision: str) -> Path:
    """A worktree of `revision` with its own virtual environment, ready to serve."""
    target = Path(tempfile.mkdtemp(prefix="school-payments-baseline-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), revision],
        check=True,
        capture_output=True,
    )
    subprocess.run([str(target / "scripts" / "bootstrap")], check=True)
    return target


def _remove(worktree: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False
    )


def _cpu_seconds(server: Server) -> float:
    """User + system CPU time so far of the server's worker processes."""
    total = 0
    for pid in server.worker_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _env(url: str, redis_db: int | None) -> dict[str, str]:
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": KEY, "LOG_LEVEL": "INFO", **CAPACITY}
    if redis_db is None:
        return env | {"STATEMENT_CACHE_TTL_SECONDS": "0"}
    return env | {
        "STATEMENT_CACHE_TTL_SECONDS": "60",
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="a git revision, e.g. main or HEAD~3")
    parser.add_argument("--students", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument(
        "--migrate-baseline-data",
        action="store_true",
        help="the baseline seeds its own database; this tree serves a copy it migrated",
    )
    args = parser.parse_args()

    bench = Benchmark(seconds=args.seconds, students=args.students, quick=False)
    baseline = _checkout(args.baseline)
    try:
        print(f"== seeding 1 school × {args.students} students × 12 invoices", flush=True)
        old_cli = baseline / ".venv/bin/school-payments"
        seeder = old_cli if args.migrate_baseline_data else CLI
        url = asyncio.run(data.fresh_database("sp_bench_compare", cli=seeder))
        data.seed(url, students=args.students, invoices_per_student=12, cli=seeder)
        asyncio.run(data.analyze(url))
        new_url = url
        if args.migrate_baseline_data:
            copy = "sp_bench_compare_migrated"
            new_url = asyncio.run(data.fresh_database(copy, template="sp_bench_compare"))
            asyncio.run(data.analyze(new_url))
        school = asyncio.run(data.school(url))
        scenarios = Scenarios(school)
        cases = {
            "healthz": ["GET\t/healthz\t"],
            "student statement, cached": scenarios.student_statements(200),
            "school statement p1, cached": scenarios.school_statement(),
            "payments, random invoices, 16 conn.": scenarios.payments(school.open_invoices),
        }
        uncached = {
            "student statement, uncached": scenarios.student_statements(2_000),
            "school statement p1, uncached": scenarios.school_statement(),
        }
        rps: dict[tuple[str, str], list[float]] = {}
        cpu_us: dict[tuple[str, str], list[float]] = {}
        for redis in (True, False):
            with (
                Server(_env(url, 1 if redis else None), workers=2, cli=old_cli) as old,
                Server(_env(new_url, 2 if redis else None), workers=2) as new,
            ):
                for name, lines in (cases if redis else uncached).items():
                    connections = 16 if "16 conn." in name else 32
                    for server in (old, new):
                        _warm(server.base, [line for line in lines[:200] if line.startswith("GET")])
                    pair = [("baseline", old), ("this tree", new)]
                    for round_ in (1, 2):
                        # The second round in the other order: whatever favours the first (or
                        # second) of a pair, both revisions get it once.
                        for label, server in pair if round_ == 1 else pair[::-1]:
                            before = _cpu_seconds(server)
                            load = bench.load(
                                server, f"{name} [{label}]", lines, connections=connections
                            )
                            spent = _cpu_seconds(server) - before
                            rps.setdefault((name, label), []).append(load.rps)
                            cpu_us.setdefault((name, label), []).append(
                                spent / max(load.requests, 1) * 1e6
                            )
        print("\n== this tree / baseline (mean of two alternated rounds each)")
        for name in [*cases, *uncached]:
            old_rps = statistics.mean(rps[(name, "baseline")])
            new_rps = statistics.mean(rps[(name, "this tree")])
            old_cpu = statistics.mean(cpu_us[(name, "baseline")])
            new_cpu = statistics.mean(cpu_us[(name, "this tree")])
            print(
                f"  {name:<40} {old_rps:>8.0f}/s → {new_rps:>8.0f}/s   {new_rps / old_rps:.3f}"
                f"   CPU {old_cpu:>6.0f} µs → {new_cpu:>6.0f} µs a request"
            )
    finally:
        _remove(baseline)


if __name__ == "__main__":
    main()
