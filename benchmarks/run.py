"""The capacity benchmark: `python -m benchmarks.run` (or `make bench`), about 6 minutes.

It seeds PostgreSQL with `school-payments seed`, starts `school-payments serve --workers N` the
way production would, drives it with wrk, and prints a table next to what bounds each figure on
this machine (a bare /healthz of the same process; the statements' raw SQL; the naive way).
Results are written to benchmarks/results/<date>.json with a description of the machine.
See benchmarks/README.md for what each scenario means and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import statistics
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from benchmarks import data, sql
from benchmarks.harness import Load, Server, machine, wrk

KEY = "bench-operator-key-0123456789"
CAPACITY = {"TENANT_EXPENSIVE_CONCURRENCY": "256", "EXPENSIVE_CONCURRENCY": "256"}
"""Capacity is measured without the per-school share of expensive work: every request of a
scenario is for one school, which the share (4 at once per worker) would answer 429 beyond that.
The share itself is measured by tests/integration/test_tenant_fairness.py."""
RESULTS = Path(__file__).parent / "results"


_connections: dict[str, http.client.HTTPConnection] = {}


def _get(base: str, path: str, key: str = KEY, *, retry: bool = True) -> tuple[int, float]:
    """One GET on a kept-alive connection (as a client of the API would hold one), timed.

    A connection the server closed while it sat idle (its keep-alive timeout) is replaced once.
    """
    netloc = base.removeprefix("http://")
    connection = _connections.get(netloc)
    if connection is None:
        connection = _connections[netloc] = http.client.HTTPConnection(netloc, timeout=30)
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        _connections.pop(netloc).close()
        if retry:
            return _get(base, path, key, retry=False)
        raise
    return response.status, time.perf_counter() - started


def _post(base: str, path: str, body: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found: dict[str, Any] = json.loads(response.read())
        return found


def _sequential_p50_ms(base: str, path: str, runs: int = 40) -> float:
    times = [_get(base, path)[1] for _ in range(runs)]
    return round(statistics.median(times) * 1000, 2)


class Scenarios:
    """Request lines ("METHOD\\tPATH\\tBODY") for each scenario, from a seeded school."""

    def __init__(self, school: data.School) -> None:
        self.school = school
        due = (date.today() + timedelta(days=30)).isoformat()
        self.invoice_body = json.dumps({"amount": 10_000, "due_date": due, "description": "Bench"})
        self.payment_body = json.dumps({"amount": 1, "method": "card"})

    def student_statements(self, count: int) -> list[str]:
        return [f"GET\t/api/v1/students/{s}/statement\t" for s in self.school.students[:count]]

    def school_statement(self) -> list[str]:
        return [f"GET\t/api/v1/schools/{self.school.id}/statement\t"]

    def invoice_creation(self) -> list[str]:
        return [
            f"POST\t/api/v1/students/{s}/invoices\t{self.invoice_body}"
            for s in self.school.students
        ]

    def payments(self, invoices: list[UUID]) -> list[str]:
        return [f"POST\t/api/v1/invoices/{i}/payments\t{self.payment_body}" for i in invoices]

    def lists(self) -> list[str]:
        s, school = self.school, self.school.id
        return (
            [f"GET\t/api/v1/schools/{school}/students?limit=50\t"] * 10
            + [f"GET\t/api/v1/students/{x}/invoices\t" for x in s.students[:300]]
            + [f"GET\t/api/v1/invoices/{x}/payments\t" for x in s.invoices[:300]]
        )

    def mix(self, *, school_statements: bool = True) -> list[str]:
        """65% student statements, 5% school statement, 10% invoices, 10% payments, 10% lists;
        without `school_statements`, their 5% are student statements too (what they cost)."""
        pick = random.Random(7)

        def sample(lines: list[str], n: int) -> list[str]:
            return [pick.choice(lines) for _ in range(n)]

        schools = self.school_statement() if school_statements else self.student_statements(2_000)
        return (
            sample(self.student_statements(2_000), 650)
            + sample(schools, 50)
            + sample(self.invoice_creation(), 100)
            + sample(self.payments(self.school.open_invoices), 100)
            + sample(self.lists(), 100)
        )


def _warm(base: str, lines: list[str]) -> None:
    for line in lines:
        method, path, _ = line.split("\t")
        if method == "GET":
            _get(base, path)


def _healthz() -> list[str]:
    return ["GET\t/healthz\t"]


class Benchmark:
    def __init__(self, *, seconds: float, students: int, quick: bool) -> None:
        self.seconds = seconds
        self.students = students
        self.quick = quick
        self.report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "settings": {"wrk_seconds": seconds, "connections": 32, "threads": 2},
        }
        self.loads: list[dict[str, Any]] = []

    def load(
        self, server: Server, name: str, lines: list[str], key: str = KEY, connections: int = 32
    ) -> Load:
        result = wrk(name, server.base, lines, key, seconds=self.seconds, connections=connections)
        entry = {"workers": server.workers, **result.as_dict()}
        self.loads.append(entry)
        print(
            f"  {name:<44} {server.workers}w {result.rps:>8.0f}/s  p50 {result.p50_ms:>7.2f} ms"
            f"  p99 {result.p99_ms:>7.2f} ms  {result.statuses}",
            flush=True,
        )
        return result

    # -- phases ----------------------------------------------------------------------------------

    async def prepare(self) -> tuple[str, data.School]:
        print(f"== seeding 1 school × {self.students} students × 12 invoices", flush=True)
        url = await data.fresh_database("sp_bench_main")
        started = time.perf_counter()
        data.seed(url, students=self.students, invoices_per_student=12)
        self.report["seed_seconds"] = round(time.perf_counter() - started, 1)
        await data.analyze(url)
        school = await data.school(url)
        self.report["data"] = {
            "students": self.students,
            "invoices": await data.scalar(url, "SELECT count(*) FROM invoices"),
            "payments": await data.scalar(url, "SELECT count(*) FROM payments"),
            "refunds": await data.scalar(url, "SELECT count(*) FROM refunds"),
            "credit_notes": await data.scalar(url, "SELECT count(*) FROM credit_notes"),
            "credit_entries": await data.scalar(url, "SELECT count(*) FROM credit_entries"),
            "open_invoices": await data.scalar(
                url, "SELECT count(*) FROM invoices WHERE status IN ('PENDING','PARTIALLY_PAID')"
            ),
            "synchronous_commit": await data.scalar(url, "SHOW synchronous_commit"),
            # Off on CI-configured machines: statements read after the write phases then scan
            # tables no vacuum has cleaned (see migration 0007), as a production server would not.
            "autovacuum": await data.scalar(url, "SHOW autovacuum"),
        }
        return url, school

    async def bounds(self, url: str, school: data.School) -> None:
        print("== raw SQL and the naive baseline", flush=True)
        statements = await sql.school_statement_sql(url, school.id)
        self.report["school_statement_raw_sql"] = await sql.time_sql(url, statements)
        self.report["naive_orm_school_totals_ms"] = await sql.naive_school_totals(url, school.id)
        print(f"  raw SQL of the school statement: {self.report['school_statement_raw_sql']}")
        print(f"  naive ORM + Python sums: {self.report['naive_orm_school_totals_ms']} ms")

    def cached(self, url: str, school: data.School, workers: int) -> None:
        scenarios = Scenarios(school)
        env = self._env(url, redis=True)
        with Server(env, workers=workers) as server:
            students = scenarios.student_statements(200)
            _warm(server.base, students + scenarios.school_statement())
            for round_ in (1, 2):
                self.load(server, f"healthz (round {round_})", _healthz())
                self.load(server, f"student statement, cached (round {round_})", students)
            self.load(server, "school statement p1, cached", scenarios.school_statement())
            self.load(server, "invoice creation", scenarios.invoice_creation())
            payments = scenarios.payments(school.open_invoices)
            self.load(server, "payments, random invoices", payments)
            # Latency targets are read at 16 connections too: past that, requests only queue.
            self.load(server, "payments, random invoices, 16 conn.", payments, connections=16)
            student = school.students[-1]
            hot = _post(
                server.base,
                f"/api/v1/students/{student}/invoices",
                {"amount": 10**12, "due_date": "2027-01-31", "description": "Hot invoice"},
            )
            self.load(server, "payments, one hot invoice", scenarios.payments([UUID(hot["id"])]))
            # A first pass fills the cache as traffic would have; the second one is measured.
            wrk("mix warm-up", server.base, scenarios.mix(), KEY, seconds=self.seconds / 2)
            self.load(server, "mix 70/20/10", scenarios.mix())
            self.load(server, "mix 70/20/10, 16 conn.", scenarios.mix(), connections=16)
            # Every write moves its school's statement version on: the same mix with student
            # statements in place of the school's shows what recomputing that one costs.
            self.load(
                server,
                "mix without school statements, 16 conn.",
                scenarios.mix(school_statements=False),
                connections=16,
            )
            self.report.setdefault("peak_rss_mb", {})[f"{workers} workers, cache on"] = (
                server.peak_rss_mb()
            )

    def uncached(self, url: str, school: data.School, workers: int) -> None:
        scenarios = Scenarios(school)
        with Server(self._env(url, redis=False), workers=workers) as server:
            self.load(server, "student statement, uncached", scenarios.student_statements(2_000))
            self.load(server, "school statement p1, uncached", scenarios.school_statement())
            if workers == 1:
                # The raw SQL again, now, beside the HTTP figure: the load scenarios above added
                # invoices and payments, and both must be measured on the same data.
                statements = asyncio.run(sql.school_statement_sql(url, school.id))
                self.report["school_statement_raw_sql_beside_http"] = asyncio.run(
                    sql.time_sql(url, statements)
                )
                self.report["school_statement_http_sequential_p50_ms"] = _sequential_p50_ms(
                    server.base, f"/api/v1/schools/{school.id}/statement"
                )
                self.report["student_statement_http_sequential_p50_ms"] = statistics.median(
                    _sequential_p50_ms(server.base, f"/api/v1/students/{s}/statement", runs=5)
                    for s in school.students[:40]
                )
                self.report["student_statement_raw_sql_beside_http"] = {
                    "client_p50_ms": statistics.median(
                        asyncio.run(
                            sql.time_sql(
                                url, asyncio.run(sql.student_statement_sql(url, s)), runs=5
                            )
                        )["client_p50_ms"]
                        for s in school.students[:40]
                    )
                }
            self.report.setdefault("peak_rss_mb", {})[f"{workers} workers, cache off"] = (
                server.peak_rss_mb()
            )

    def _ab(
        self, label: str, configs: list[tuple[str, dict[str, str], str]], lines: list[str]
    ) -> None:
        """Two configurations served side by side and measured in alternation, twice each:
        run-to-run noise on this machine (±10%) is as large as the costs being measured."""
        with Server(configs[0][1], workers=2) as first, Server(configs[1][1], workers=2) as second:
            servers = [
                (name, server, key)
                for (name, _, key), server in zip(configs, (first, second), strict=True)
            ]
            for _name, server, _key in servers:
                _warm(server.base, lines[:200])
            for _round in (1, 2):
                for name, server, key in servers:
                    self.load(server, f"{label}, {name}", lines, key)

    def observability(self, url: str, school: data.School) -> None:
        students = Scenarios(school).student_statements(200)
        self._ab(
            "student statement, cached",
            [
                ("logs and metrics on", self._env(url, redis=True), KEY),
                (
                    "logs and metrics off",
                    {
                        **self._env(url, redis=True),
                        "LOG_LEVEL": "WARNING",
                        "METRICS_ENABLED": "false",
                    },
                    KEY,
                ),
            ],
            students,
        )

    def authentication(self, url: str, school: data.School) -> None:
        scenarios = Scenarios(school)
        with Server(self._env(url, redis=True), workers=2) as server:
            school_key = _post(server.base, f"/api/v1/schools/{school.id}/api-keys", {})["key"]
        for cached in (True, False):
            env = self._env(url, redis=cached)
            self._ab(
                f"student statement, {'cached' if cached else 'uncached'}",
                [
                    ("auth on (school key)", env, school_key),
                    ("auth off", {**env, "AUTH_DISABLED": "true"}, KEY),
                ],
                scenarios.student_statements(200 if cached else 2_000),
            )

    def two_instances(self, url: str, school: data.School) -> None:
        """Two 1-worker instances on one Redis: a write's staleness on the other instance, and
        how soon a revoked key is refused by the revoker and by the other."""
        from benchmarks import nearcache  # it builds on this module

        env = self._env(url, redis=True)
        with Server(env, workers=1) as first, Server(env, workers=1) as second:
            self.report["staleness"] = nearcache.staleness(first, second, school, writes=300)
            self.report["revocation"] = nearcache.revocation(first, second, school, keys=100)
        print(f"  staleness on the other instance: {self.report['staleness']}", flush=True)
        print(f"  revocation: {self.report['revocation']}", flush=True)

    async def growth(self) -> None:
        """Statement time for schools with 1, 3 and 5 years of history (most old invoices paid)."""
        print("== growth: 1, 3 and 5 years of history (1,000 students each)", flush=True)
        url = await data.fresh_database("sp_bench_growth")
        schools = []
        for years in (1, 3, 5):
            before = set(await _school_ids(url))
            data.seed(
                url,
                students=1_000 if not self.quick else 200,
                invoices_per_student=12,
                years=years,
                seed=years,
            )
            (school_id,) = set(await _school_ids(url)) - before
            schools.append((years, await data.school(url, school_id, sample=20)))
        await data.analyze(url)
        rows = []
        with Server(self._env(url, redis=False), workers=1) as server:
            for years, school in schools:
                rows.append(
                    {
                        "years": years,
                        "invoices": await data.scalar(
                            url, "SELECT count(*) FROM invoices WHERE school_id = $1", school.id
                        ),
                        "open_invoices": await data.scalar(
                            url,
                            "SELECT count(*) FROM invoices WHERE school_id = $1"
                            " AND status IN ('PENDING', 'PARTIALLY_PAID')",
                            school.id,
                        ),
                        "school_statement_p50_ms": _sequential_p50_ms(
                            server.base, f"/api/v1/schools/{school.id}/statement"
                        ),
                        "student_statement_p50_ms": statistics.median(
                            _sequential_p50_ms(
                                server.base, f"/api/v1/students/{s}/statement", runs=10
                            )
                            for s in school.students[:10]
                        ),
                    }
                )
        self.report["growth"] = rows
        for row in rows:
            print(f"  {row}")

    async def scale(self) -> None:
        """The student statement with 1,000 students in the database, then with 100,000."""
        print("== scale: the same student statement with 1,000 then 100,000 students", flush=True)
        url = await data.fresh_database("sp_bench_scale")
        small = 1_000
        data.seed(url, students=small, invoices_per_student=12, seed=11)
        await data.analyze(url)
        school = await data.school(url, sample=20)
        paths = [f"/api/v1/students/{s}/statement" for s in school.students[:20]]
        with Server(self._env(url, redis=False), workers=1) as server:
            before = statistics.median(_sequential_p50_ms(server.base, p, runs=10) for p in paths)
        data.seed(
            url, students=99_000 if not self.quick else 9_000, invoices_per_student=2, seed=12
        )
        await data.analyze(url)
        with Server(self._env(url, redis=False), workers=1) as server:
            after = statistics.median(_sequential_p50_ms(server.base, p, runs=10) for p in paths)
        total = await data.scalar(url, "SELECT count(*) FROM students")
        self.report["scale"] = {
            "students_before": small,
            "student_statement_p50_ms_before": before,
            "students_after": total,
            "student_statement_p50_ms_after": after,
        }
        print(f"  {self.report['scale']}")

    def _env(self, url: str, *, redis: bool) -> dict[str, str]:
        env = {
            "DATABASE_URL": url,
            "ADMIN_API_KEY": KEY,
            "LOG_LEVEL": "INFO",
            "STATEMENT_CACHE_TTL_SECONDS": "60" if redis else "0",
            **CAPACITY,
        }
        if redis:
            env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        return env

    def _one(self, name: str, workers: int = 2) -> dict[str, Any]:
        """The load run under `name` with `workers` workers ({} if none was)."""
        return next((x for x in self.loads if x["name"] == name and x["workers"] == workers), {})

    def targets(self) -> dict[str, Any]:
        """Issue 16's figures, as its table names them: (now, target)."""

        one = self._one

        def mean_rps(prefix: str, workers: int = 2) -> float:
            found: list[float] = [
                x["rps"]
                for x in self.loads
                if x["name"].startswith(prefix) and x["workers"] == workers
            ]
            return sum(found) / max(len(found), 1)

        def ratio(http_ms: float, raw: dict[str, Any]) -> float:
            return round(http_ms / max(float(raw.get("client_p50_ms", 0)), 0.001), 2)

        payments = one("payments, random invoices, 16 conn.")
        mix = one("mix 70/20/10, 16 conn.")
        rss = [max(v) for v in self.report.get("peak_rss_mb", {}).values()]
        staleness = self.report.get("staleness", {})
        revocation = self.report.get("revocation", {})
        return {
            "[16] cached student statement / /healthz rps (≥ 0.8)": round(
                mean_rps("student statement, cached (round") / max(mean_rps("healthz"), 1), 3
            ),
            "[16] payments/s, 2 workers, 16 conn. (≥ 1,500, p99 ≤ 50 ms)": (
                payments.get("rps"),
                payments.get("p99_ms"),
            ),
            "[16] mix requests/s, 16 conn. (≥ 1,200, p99 ≤ 100 ms)": (
                mix.get("rps"),
                mix.get("p99_ms"),
            ),
            "[16] uncached school statement p50 / its raw SQL (≤ 1.2)": ratio(
                self.report.get("school_statement_http_sequential_p50_ms", 0),
                self.report.get("school_statement_raw_sql_beside_http", {}),
            ),
            "[16] uncached student statement p50 / its raw SQL, one client (≤ 2)": ratio(
                self.report.get("student_statement_http_sequential_p50_ms", 0),
                self.report.get("student_statement_raw_sql_beside_http", {}),
            ),
            "[16] peak RSS per worker, MB (≤ 100)": max(rss, default=0),
            "[16] revocation: refused by the revoker next / another instance p99 ms (≤ 10)": (
                revocation.get("refused_by_the_revoker_on_its_next_request"),
                revocation.get("another_instance_delay", {}).get("p99_ms"),
            ),
            "[16] staleness on another instance after a write, p99 ms (≤ 10)": staleness.get(
                "p99_ms"
            ),
        }

    def summary(self) -> dict[str, Any]:
        def best(name: str, workers: int = 2) -> float:
            return max(
                (
                    x["rps"]
                    for x in self.loads
                    if x["name"].startswith(name) and x["workers"] == workers
                ),
                default=0.0,
            )

        one = self._one

        def cost(on: str, off: str) -> float:
            def mean(name: str) -> float:
                found: list[float] = [x["rps"] for x in self.loads if x["name"] == name]
                return sum(found) / max(len(found), 1)

            return round(1 - mean(on) / max(mean(off), 1), 3)

        raw = self.report.get("school_statement_raw_sql_beside_http", {})
        http_school = self.report.get("school_statement_http_sequential_p50_ms", 0)
        checks = {
            "cached student statement ≥ 50% of /healthz (same process, 2 workers)": (
                best("student statement, cached (round") / max(best("healthz"), 1)
            ),
            "uncached student statement ≥ 500/s": one("student statement, uncached").get("rps"),
            "payments on random invoices ≥ 300/s, p99 ≤ 100 ms (16 conn.)": (
                one("payments, random invoices, 16 conn.").get("rps"),
                one("payments, random invoices, 16 conn.").get("p99_ms"),
            ),
            "mix ≥ 800/s, p99 ≤ 150 ms (16 conn.)": (
                one("mix 70/20/10, 16 conn.").get("rps"),
                one("mix 70/20/10, 16 conn.").get("p99_ms"),
            ),
            "school statement p50 ≤ 100 ms and ≤ 1.5× its raw SQL": (
                http_school,
                raw.get("client_p50_ms"),
                round(http_school / max(raw.get("client_p50_ms", 1), 0.001), 2),
            ),
            "student statement p50 ≤ 5 ms": self.report.get(
                "student_statement_http_sequential_p50_ms"
            ),
            "≥ 50× faster than the naive ORM": round(
                self.report.get("naive_orm_school_totals_ms", 0) / max(http_school, 0.001), 1
            ),
            "school statement cached ≥ 20× uncached (p50, 2 workers)": round(
                one("school statement p1, uncached").get("p50_ms", 0)
                / max(one("school statement p1, cached").get("p50_ms", 1), 0.001),
                1,
            ),
            "logs+metrics cost ≤ 15% of cached statement rps": cost(
                "student statement, cached, logs and metrics on",
                "student statement, cached, logs and metrics off",
            ),
            "auth cost ≤ 10%, cached student statement": cost(
                "student statement, cached, auth on (school key)",
                "student statement, cached, auth off",
            ),
            "auth cost ≤ 10%, uncached student statement": cost(
                "student statement, uncached, auth on (school key)",
                "student statement, uncached, auth off",
            ),
            "peak RSS per worker ≤ 200 MB": max(
                (max(v) for v in self.report.get("peak_rss_mb", {}).values()), default=0
            ),
        }
        checks.update(self.targets())
        growth = self.report.get("growth")
        if growth:
            checks["school statement 5 y ≤ 2× 1 y"] = round(
                growth[-1]["school_statement_p50_ms"] / growth[0]["school_statement_p50_ms"], 2
            )
            checks["student statement 5 y ≤ 2× 1 y"] = round(
                growth[-1]["student_statement_p50_ms"] / growth[0]["student_statement_p50_ms"], 2
            )
        return checks


async def _school_ids(url: str) -> list[UUID]:
    connection = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await connection.fetch("SELECT id FROM schools")]
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run on less data")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default: results/)")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="only the statements one request at a time, cache off, beside their raw SQL",
    )
    args = parser.parse_args()
    seconds = 3 if args.quick else 10
    bench = Benchmark(seconds=seconds, students=1_000 if args.quick else 10_000, quick=args.quick)

    async def prepare() -> tuple[str, data.School]:
        url, school = await bench.prepare()
        await bench.bounds(url, school)
        return url, school

    url, school = asyncio.run(prepare())
    if args.statements:
        bench.uncached(url, school, 1)
        _write(bench, args.output or RESULTS / f"{date.today().isoformat()}-statements.json")
        return
    for workers in (1, 2):
        print(f"== load, statement cache in Redis, {workers} worker(s)", flush=True)
        bench.cached(url, school, workers)
        print(f"== load, statement cache off, {workers} worker(s)", flush=True)
        bench.uncached(url, school, workers)
    print("== logs and metrics on/off", flush=True)
    bench.observability(url, school)
    print("== authentication on/off", flush=True)
    bench.authentication(url, school)
    print("== two instances on one Redis: staleness and revocation", flush=True)
    bench.two_instances(url, school)
    asyncio.run(bench.growth())
    asyncio.run(bench.scale())

    output = (
        args.output or RESULTS / f"{date.today().isoformat()}{'-quick' if args.quick else ''}.json"
    )
    _write(bench, output)


def _write(bench: Benchmark, output: Path) -> None:
    bench.report["loads"] = bench.loads
    bench.report["summary"] = bench.summary()
    print("== summary")
    for check, value in bench.report["summary"].items():
        print(f"  {check}: {value}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(bench.report, indent=2, default=str) + "\n")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
