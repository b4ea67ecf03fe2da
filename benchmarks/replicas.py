"""Reads from a streaming replica (issue 18, ADR 0020): `python -m benchmarks.replicas`.

Starts a PostgreSQL primary of its own and a streaming replica of it (`pg_basebackup -R`, as the
tests do), seeds one school, and with the statement cache off (every statement reaches the
database) measures, alternated in one run:

- uncached student statements/s: 1 instance (2 workers) on the primary alone, against 2
  instances (2 workers each) reading from the replica, driven at once;
- the replica fallback rate under a write load: the same reads beside payments on random open
  invoices, from `database_reads_total` (who served each read, and why).

Everything shares this machine's cores (the primary, the replica, the instances and wrk), so the
second figure says what reading from a replica costs and how often a write load sends reads to
the primary, not what a second machine would add. About 3 minutes. Writes
`results/replicas-<date>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import threading
import urllib.request
from collections import Counter
from datetime import date
from typing import Any

import asyncpg
from tests.support.postgres_cluster import PostgresCluster

from benchmarks import data
from benchmarks.harness import CLI, Load, Server, machine, wrk
from benchmarks.run import CAPACITY, KEY, RESULTS, Scenarios, _warm

_READS = re.compile(r"^database_reads_total\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def _cli(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(CLI), *args], env=env, check=True)


def _reads(server: Server) -> Counter[str]:
    """database_reads_total of every worker of `server`, as "served_by/reason" counts."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: Counter[str] = Counter()
    for line in text.splitlines():
        match = _READS.match(line)
        if match:
            labels = dict(_LABEL.findall(match.group(1)))
            found[f"{labels['served_by']}/{labels['reason']}"] += int(float(match.group(2)))
    return found


def _at_once(runs: list[tuple[str, Server, list[str], int]], seconds: float) -> list[Load]:
    """wrk on each (name, server, lines, connections) at the same time."""
    results: list[Load | None] = [None] * len(runs)

    def drive(index: int) -> None:
        name, server, lines, connections = runs[index]
        results[index] = wrk(
            name, server.base, lines, KEY, seconds=seconds, connections=connections
        )

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [result for result in results if result is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "students": args.students}

    primary = PostgresCluster()
    replica: PostgresCluster | None = None
    try:
        primary.start()

        async def create() -> None:
            admin = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{primary.port}/postgres"
            )
            try:
                await admin.execute("CREATE DATABASE school_payments")
            finally:
                await admin.close()

        asyncio.run(create())
        url = f"postgresql://postgres@127.0.0.1:{primary.port}/school_payments"
        _cli(url, "migrate")
        data.seed(url, students=args.students, invoices_per_student=12)
        asyncio.run(data.analyze(url))
        school = asyncio.run(data.school(url))
        replica = PostgresCluster.replica_of(primary)
        replica.start()
        replica_url = f"postgresql://postgres@127.0.0.1:{replica.port}/school_payments"

        base = {
            "DATABASE_URL": url,
            "ADMIN_API_KEY": KEY,
            "LOG_LEVEL": "INFO",
            "STATEMENT_CACHE_TTL_SECONDS": "0",
            **CAPACITY,
        }
        reading = {**base, "DATABASE_REPLICA_URLS": replica_url}
        scenarios = Scenarios(school)
        statements = scenarios.student_statements(args.students)
        payments = scenarios.payments(school.open_invoices)

        print("== uncached student statements: primary alone vs two instances on the replica")
        alone: list[float] = []
        together: list[float] = []
        with (
            Server(base, workers=2) as solo,
            Server(reading, workers=2) as first,
            Server(reading, workers=2) as second,
        ):
            for server in (solo, first, second):
                _warm(server.base, statements[:100])
            for _ in range(args.rounds):
                (load,) = _at_once([("primary alone", solo, statements, 32)], args.seconds)
                alone.append(load.rps)
                pair = _at_once(
                    [
                        ("replica, instance 1", first, statements, 16),
                        ("replica, instance 2", second, statements, 16),
                    ],
                    args.seconds,
                )
                together.append(sum(load.rps for load in pair))
                print(
                    f"  primary alone {alone[-1]:.0f}/s; two instances on the replica"
                    f" {together[-1]:.0f}/s",
                    flush=True,
                )
            report["statements_per_second"] = {
                "primary_alone": statistics.median(alone),
                "two_instances_on_the_replica": statistics.median(together),
                "ratio": round(statistics.median(together) / statistics.median(alone), 3),
            }

            print("== the same reads beside payments: who served them")
            before = _reads(first)
            reads, writes = _at_once(
                [
                    ("statements under writes", first, statements, 16),
                    ("payments", second, payments, 16),
                ],
                args.seconds,
            )
            after = _reads(first)
            served = {key: after[key] - before.get(key, 0) for key in after}
            total = sum(served.values())
            report["under_writes"] = {
                "statements_per_second": reads.rps,
                "payments_per_second": writes.rps,
                "reads": served,
                "fallback_rate": round(
                    sum(n for key, n in served.items() if key.startswith("primary/")) / total, 3
                )
                if total
                else None,
            }
            print(f"  {report['under_writes']}", flush=True)
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()

    output = RESULTS / f"replicas-{date.today().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    print(f"written to {output}")


if __name__ == "__main__":
    main()
