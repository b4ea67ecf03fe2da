"""compose.yaml's commands, run without Docker against the local PostgreSQL and Redis.

The `migrate` and `api` services run the image's `school-payments` entrypoint with the
arguments compose.yaml gives them. These tests read those arguments from the file and run the
same CLI against the real PostgreSQL and a redis-server of the test's own: `migrate` on a fresh
database, then `serve` with the api service's arguments (two workers) on a free port. They
run in seconds and point at the command or setting that broke; scripts/compose-check (the last
step of `make test`) then runs the same file for real with `docker compose up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

from school_payments.settings import WORKERS_ENV, Settings
from tests.support.databases import ADMIN_URL, drop_postgres_database
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
CLI = Path(sys.executable).with_name("school-payments")

MIGRATE_COMMAND = ["migrate"]
SERVE_COMMAND = ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

OPERATOR_KEY = "op_" + secrets.token_urlsafe(32)
READY = {"database": "ok", "cache": "ok", "circuit_breaker": "CLOSED", "schema": "ok"}
READY_TIMEOUT_SECONDS = 60.0
EXIT_TIMEOUT_SECONDS = 30.0

# ${NAME}, ${NAME:-default} and ${NAME:?message}: the interpolation forms compose.yaml uses.
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


def compose_file() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose_file()["services"][name]
    return found


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Fills in `${…}` as compose does from .env; an unsupported form fails the test."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = variables.get(name, "")
        if op == ":?" and not given:
            raise AssertionError(f"{name} is required: {arg}")
        if op == ":-" and not given:
            return arg
        return given

    filled = _INTERPOLATION.sub(replace, value)
    assert "$" not in filled, f"unsupported interpolation in {value!r}"
    return filled


def with_address(command: list[str], host: str, port: int) -> list[str]:
    """The same command on another interface and port; every other argument is kept."""
    replaced = list(command)
    for option, value in (("--host", host), ("--port", str(port))):
        replaced[replaced.index(option) + 1] = value
    return replaced


def settings_variables() -> set[str]:
    """Every environment variable `Settings.from_env` reads."""

    class Recording(dict[str, str]):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def get(self, key: str, default: Any = None) -> Any:
            self.names.add(key)
            return super().get(key, default)

    env = Recording()
    Settings.from_env(env)
    return env.names


# -- the file: what the services run and how they are configured -------------------------------


def test_the_migrate_and_api_services_run_the_commands_these_tests_exercise() -> None:
    migrate, api = service("migrate"), service("api")
    assert migrate["command"] == MIGRATE_COMMAND
    assert api["command"] == SERVE_COMMAND
    # Both are the app image, whose entrypoint is the CLI: the commands are its arguments.
    assert migrate["build"] == api["build"]
    assert migrate["image"] == api["image"]
    entrypoints = [
        json.loads(line.removeprefix("ENTRYPOINT"))
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("ENTRYPOINT")
    ]
    assert entrypoints == [["school-payments"]]


def test_the_api_starts_only_after_migrate_succeeded_and_both_stores_are_healthy() -> None:
    assert service("migrate")["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert service("api")["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_the_services_are_configured_only_through_variables_the_service_reads() -> None:
    known = settings_variables()
    for name in ("migrate", "api", "worker"):
        unknown = set(service(name)["environment"]) - known
        assert not unknown, f"{name} sets variables the service never reads: {unknown}"
    api = service("api")["environment"]
    assert api["REDIS_URL"] == "redis://redis:6379/0"
    with pytest.raises(AssertionError, match=re.escape("set ADMIN_API_KEY in .env")):
        interpolate(api["ADMIN_API_KEY"], {})


def test_both_services_reach_the_compose_postgres_with_its_own_credentials() -> None:
    dotenv = {"POSTGRES_PASSWORD": "s3cret"}
    postgres = {k: interpolate(v, dotenv) for k, v in service("postgres")["environment"].items()}
    for name in ("migrate", "api", "worker"):
        url = make_url(interpolate(service(name)["environment"]["DATABASE_URL"], dotenv))
        assert (url.drivername, url.host, url.port) == ("postgresql", "postgres", 5432)
        assert (url.username, url.password, url.database) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        )


def test_the_worker_starts_only_after_migrate_succeeded_and_runs_the_worker_command() -> None:
    worker = service("worker")
    assert worker["command"][0] == "worker"
    assert worker["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
    }
    assert worker["image"] == service("api")["image"]


def test_the_env_example_names_every_variable_the_service_reads() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    missing = settings_variables() - {WORKERS_ENV} - named
    assert not missing, f".env.example does not mention {sorted(missing)}"


# -- the commands, for real ---------------------------------------------------------------------


async def create_empty_database() -> str:
    """A new, empty database (not migrated: that is the `migrate` command's job here)."""
    name = f"sp_compose_{os.getpid()}_{secrets.token_hex(3)}"
    admin_dsn = make_url(ADMIN_URL).set(drivername="postgresql")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    # A plain postgresql:// URL, as compose.yaml gives the service.
    return admin_dsn.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    url = await create_empty_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    with (tmp_path / "serve.log").open("w+b") as log:
        yield log


def tail(log: IO[bytes], lines: int = 40) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def environment_of(name: str, *, database_url: str, redis_url: str) -> dict[str, str]:
    """The service's environment from compose.yaml, with this machine's stores in place of the
    compose network's, and nothing inherited from the test process but PATH."""
    dotenv = {"ADMIN_API_KEY": OPERATOR_KEY}
    env = {
        key: interpolate(str(value), dotenv) for key, value in service(name)["environment"].items()
    }
    env["DATABASE_URL"] = database_url
    if "REDIS_URL" in env:
        env["REDIS_URL"] = redis_url
    env["PATH"] = os.environ.get("PATH", "")
    return env


async def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@asynccontextmanager
async def serving(
    args: list[str], env: dict[str, str], log: IO[bytes]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`school-payments serve …` in a process group of its own, killed whatever happens."""
    process = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        yield process
    finally:
        # The supervisor and its workers share the group: nothing may outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


async def wait_until_ready(
    client: httpx.AsyncClient, process: asyncio.subprocess.Process, log: IO[bytes]
) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.returncode is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            response = await client.get("/readyz")
            last = f"{response.status_code} {response.text}"
            if response.status_code == 200 and response.json() == READY:
                body: dict[str, Any] = response.json()
                return body
        await asyncio.sleep(0.2)
    pytest.fail(f"/readyz never answered {READY} (last: {last}):\n{tail(log)}")


async def test_the_compose_commands_migrate_a_fresh_database_and_serve_it_with_two_workers(
    fresh_database: str, redis_server: RedisServer, server_log: IO[bytes]
) -> None:
    migrate_env = environment_of("migrate", database_url=fresh_database, redis_url=redis_server.url)
    # `docker compose up` runs migrate every time: on a fresh database and on a migrated one.
    for attempt in ("fresh", "already migrated"):
        code, output = await run_cli(service("migrate")["command"], migrate_env)
        assert code == 0, f"migrate ({attempt} database) exited with {code}:\n{output}"

    port = free_port()
    args = with_address(service("api")["command"], "127.0.0.1", port)
    assert args[args.index("--workers") + 1] == "2"
    env = environment_of("api", database_url=fresh_database, redis_url=redis_server.url)
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}

    async with (
        serving(args, env, server_log) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        assert await wait_until_ready(client, server, server_log) == READY

        created = await client.post(
            "/api/v1/schools",
            headers=operator,
            json={"name": "Colegio Compose", "timezone": "America/Mexico_City"},
        )
        assert created.status_code == 201, created.text
        school = created.json()
        assert created.headers["location"] == f"/api/v1/schools/{school['id']}"
        read = await client.get(created.headers["location"], headers=operator)
        assert read.status_code == 200
        assert read.json()["name"] == "Colegio Compose"
        assert (await client.get("/api/v1/schools")).status_code == 401

        # Redis is shared by the workers: whichever serves the second read finds the first's entry.
        statement = f"/api/v1/schools/{school['id']}/statement"
        caches = [(await client.get(statement, headers=operator)).headers["x-cache"]]
        caches.append((await client.get(statement, headers=operator)).headers["x-cache"])
        assert caches == ["MISS", "HIT"]

        # SIGTERM is what `docker compose stop` sends: the server and its workers exit.
        server.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(server.wait(), EXIT_TIMEOUT_SECONDS)
        except TimeoutError:
            pytest.fail(f"serve did not exit on SIGTERM:\n{tail(server_log)}")
        assert code == 0, tail(server_log)
        for _ in range(50):  # the workers are reaped by the supervisor just before it exits
            if group_is_gone(server.pid):
                break
            await asyncio.sleep(0.1)
        assert group_is_gone(server.pid), "a worker outlived the server"
