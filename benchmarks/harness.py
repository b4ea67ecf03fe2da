"""Running the service the way production does, and driving it with wrk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "benchmarks" / "lua" / "requests.lua"
CLI = ROOT / ".venv" / "bin" / "school-payments"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    """`school-payments serve --workers N`, started as a subprocess with its own environment."""

    env: dict[str, str]
    workers: int = 1
    cli: Path = CLI
    """The `school-payments` command to serve with (another checkout's, to compare revisions)."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, **self.env}
        self.log_path = Path(f"/tmp/school-payments-bench-{self.port}.log")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(self.cli),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as response,
            ):
                if response.status == 200 and len(self.worker_pids()) >= 1:
                    time.sleep(0.5)  # let every worker finish its start-up
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = [pid for pid in _children(self.process.pid) if "spawn" in _cmdline(pid)]
        return children or [self.process.pid]

    def peak_rss_mb(self) -> list[float]:
        return [round(_peak_rss_mb(pid), 1) for pid in self.worker_pids()]

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    return ""


@dataclass
class Load:
    """One wrk run: throughput, latency percentiles and status codes."""

    name: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    statuses: dict[str, int]
    errors: int
    connections: int
    seconds: float

    def non_2xx(self, allowed: tuple[str, ...] = ()) -> int:
        return sum(
            n for s, n in self.statuses.items() if not s.startswith("2") and s not in allowed
        )

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def wrk(
    name: str,
    base: str,
    lines: list[str],
    key: str,
    *,
    seconds: float = 10,
    connections: int = 32,
    threads: int = 2,
) -> Load:
    """Runs wrk on `lines` ("METHOD\\tPATH\\tBODY", picked at random) for `seconds`."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    slug = "".join(c if c.isalnum() else "_" for c in name)
    requests_file = Path(f"/tmp/school-payments-bench-{os.getpid()}-{slug}.txt")
    requests_file.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [
            binary,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            base,
            "--",
            str(requests_file),
            key,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line[len("RESULT ") :])
    duration = data["duration_us"] / 1e6
    return Load(
        name=name,
        rps=round(data["requests"] / duration, 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p90_ms=round(data["p90_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        requests=data["requests"],
        statuses=data["statuses"],
        errors=data["errors"],
        connections=connections,
        seconds=round(duration, 1),
    )


def machine() -> dict[str, Any]:
    """A description of the machine the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])

    def version(*command: str) -> str:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        return "unknown"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "python": version(str(ROOT / ".venv" / "bin" / "python"), "--version"),
        "postgresql": version("psql", "--version"),
        "redis": version("redis-server", "--version"),
        "wrk": version("wrk", "--version"),
    }
