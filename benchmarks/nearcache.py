"""The near cache's figures (issue 16): `python -m benchmarks.nearcache [--seconds 5] [--rounds 3]`.

Prints, from one run on the local PostgreSQL and Redis (6379), each ratio taken from medians of
alternated wrk runs against `school-payments serve --workers 2`:

- cached student statement rps / bare `/healthz` rps, with the near cache on and off;
- cached student statement with logs and metrics on / off (two servers, alternated);
- revocation delay: refused by the revoking instance on its next request, and by another;
- cross-instance staleness: a payment through one instance, reads through another until they
  show it (time from the payment's response to the start of the first read that shows it).

About 4 minutes. Writes benchmarks/results/nearcache-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import time
from datetime import date
from typing import Any

from benchmarks import data
from benchmarks.harness import Server, machine, wrk
from benchmarks.run import KEY, RESULTS, Scenarios, _healthz, _post, _warm

REDIS = "redis://127.0.0.1:6379/0"


def _env(url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "ADMIN_API_KEY": KEY,
        "LOG_LEVEL": "INFO",
        "REDIS_URL": REDIS,
        "STATEMENT_CACHE_TTL_SECONDS": "60",
        **extra,
    }


def _alternate(
    label: str,
    runs: list[tuple[str, Server, list[str]]],
    *,
    rounds: int,
    seconds: float,
) -> dict[str, float]:
    """wrk on each (name, server, lines) in turn, `rounds` times; the median rps of each."""
    found: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for _ in range(rounds):
        for name, server, lines in runs:
            result = wrk(f"{label} {name}", server.base, lines, KEY, seconds=seconds)
            bad = {s: n for s, n in result.statuses.items() if not s.startswith("2")}
            found[name].append(result.rps)
            print(
                f"  {label:<18} {name:<32} {result.rps:>8.0f}/s  p50 {result.p50_ms:>6.2f} ms"
                f"  p99 {result.p99_ms:>7.2f} ms {bad or ''}",
                flush=True,
            )
    return {name: statistics.median(values) for name, values in found.items()}


class _Client:
    """One kept-alive HTTP connection to one server."""

    def __init__(self, base: str) -> None:
        self.connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)

    def request(
        self, method: str, path: str, key: str = KEY, body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {key}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def staleness(first: Server, second: Server, school: data.School, writes: int) -> dict[str, Any]:
    """A payment of 1 through `first`, then reads of its student's statement through `second`."""
    writer, reader = _Client(first.base), _Client(second.base)
    invoice = school.open_invoices[0]
    status, raw = writer.request("GET", f"/api/v1/invoices/{invoice}")
    student = json.loads(raw)["student_id"]
    path = f"/api/v1/students/{student}/statement"

    def paid() -> tuple[int, float]:
        started = time.monotonic()
        status, raw = reader.request("GET", path)
        assert status == 200, raw
        return sum(t["paid"] for t in json.loads(raw)["totals"]), started

    delays, stale_reads = [], 0
    for _ in range(writes):
        for _ in range(3):
            paid()  # warm: the reader holds the entry near
        before = paid()[0]
        status, raw = writer.request(
            "POST", f"/api/v1/invoices/{invoice}/payments", body={"amount": 1, "method": "card"}
        )
        assert status == 201, raw
        acknowledged = time.monotonic()
        while True:
            shown, started = paid()
            if shown > before:
                delays.append(max(0.0, started - acknowledged))
                break
            stale_reads += 1
    return {**_percentiles(delays), "stale_reads": stale_reads}


def revocation(first: Server, second: Server, school: data.School, keys: int) -> dict[str, Any]:
    """A key revoked through `first`: how long `second` still accepts it (polled at once, in a
    tight loop), then whether `first` refuses it on its next request."""
    here, elsewhere = _Client(first.base), _Client(second.base)
    path = f"/api/v1/schools/{school.id}"
    refused_here_next, accepted_elsewhere_after, delays = 0, 0, []
    for _ in range(keys):
        created = _post(first.base, f"/api/v1/schools/{school.id}/api-keys", {})
        key = created["key"]
        for client in (here, elsewhere, here, elsewhere):
            assert client.request("GET", path, key)[0] == 200
        status, _ = here.request("DELETE", f"/api/v1/api-keys/{created['id']}")
        assert status == 204
        revoked_at = time.monotonic()
        while True:
            started = time.monotonic()
            if elsewhere.request("GET", path, key)[0] == 401:
                delays.append(0.0 if not accepted_elsewhere_after else started - revoked_at)
                break
            accepted_elsewhere_after += 1
        refused_here_next += here.request("GET", path, key)[0] == 401
    return {
        "refused_by_the_revoker_on_its_next_request": f"{refused_here_next}/{keys}",
        "requests_still_accepted_by_another_instance": accepted_elsewhere_after,
        "another_instance_delay": _percentiles(delays),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--students", type=int, default=1_000)
    parser.add_argument("--skip", nargs="*", default=[], help="ratio, observability, delays")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "seconds": args.seconds, "rounds": args.rounds}

    url = asyncio.run(data.fresh_database("sp_bench_near"))
    data.seed(url, students=args.students, invoices_per_student=12)
    asyncio.run(data.analyze(url))
    school = asyncio.run(data.school(url))
    students = Scenarios(school).student_statements(200)
    kw = {"rounds": args.rounds, "seconds": args.seconds}

    if "ratio" not in args.skip:
        print("== cached student statement vs /healthz (2 workers), near cache on and off")
        for near in ("on", "off"):
            extra = {} if near == "on" else {"NEAR_CACHE_MAX_ENTRIES": "0"}
            with Server(_env(url, **extra), workers=2) as server:
                _warm(server.base, students)
                rps = _alternate(
                    f"near {near}",
                    [("healthz", server, _healthz()), ("student statement", server, students)],
                    **kw,
                )
            ratio = rps["student statement"] / rps["healthz"]
            report[f"near cache {near}"] = {**rps, "ratio": round(ratio, 3)}
            print(f"  near {near}: ratio {ratio:.3f}", flush=True)

    if "observability" not in args.skip:
        print("== logs and metrics on / off, cached student statement (2 workers each)")
        quiet = {"LOG_LEVEL": "WARNING", "METRICS_ENABLED": "false"}
        with Server(_env(url), workers=2) as on, Server(_env(url, **quiet), workers=2) as off:
            for server in (on, off):
                _warm(server.base, students)
            rps = _alternate(
                "statement",
                [("logs and metrics on", on, students), ("logs and metrics off", off, students)],
                **kw,
            )
        cost = 1 - rps["logs and metrics on"] / rps["logs and metrics off"]
        report["observability"] = {**rps, "cost": round(cost, 3)}
        print(f"  logs + metrics cost {cost:.1%}", flush=True)

    if "delays" not in args.skip:
        print("== two instances (1 worker each) on one Redis: staleness and revocation")
        with Server(_env(url), workers=1) as first, Server(_env(url), workers=1) as second:
            report["staleness"] = staleness(first, second, school, writes=300)
            print(f"  staleness on the other instance: {report['staleness']}", flush=True)
            report["revocation"] = revocation(first, second, school, keys=100)
            print(f"  revocation: {report['revocation']}", flush=True)

    output = RESULTS / f"nearcache-{date.today().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
