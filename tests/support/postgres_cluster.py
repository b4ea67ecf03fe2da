"""A throwaway PostgreSQL cluster of the test's own, on a free port, that it can stop and restart.

`initdb` refuses to run as root, so when the tests run as root every server command runs as the
`postgres` user, in a temporary directory that user owns. Trust authentication on 127.0.0.1 and a
small `shared_buffers` keep it cheap; fsync stays on, so an immediate stop is a real crash that
the server recovers from on its next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import asyncpg
from sqlalchemy.engine import make_url

from school_payments.adapters.persistence.migrations import upgrade
from tests.support.redis_server import free_port
from tests.support.tiers import require

StopMode = Literal["smart", "fast", "immediate"]
SERVER_USER = "postgres"


def _bin_dir() -> Path:
    """The directory of `initdb` and `pg_ctl`: the newest Debian install, else the PATH."""
    installed = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if installed:
        return Path(installed[-1]).parent
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    return Path(found).resolve().parent


class PostgresCluster:
    """`start()` creates the cluster the first time; `stop(mode)` and `restart()` keep its data."""

    def __init__(self, *, port: int | None = None) -> None:
        require("postgres")
        self._bin = _bin_dir()
        self.port = port or free_port()
        self._as_other_user = os.geteuid() == 0
        self.directory = Path(tempfile.mkdtemp(prefix="sp-pg-cluster-"))
        if self._as_other_user:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._initialized = False
        self.running = False

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one of the cluster's databases (asyncpg driver)."""
        return make_url(
            f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"
        ).render_as_string(hide_password=False)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self._bin / args[0]), *args[1:]]
        if self._as_other_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({completed.returncode}):"
                f" {completed.stdout}{completed.stderr}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n" + "\n".join(self.log.read_text().splitlines()[-20:])
        return ""

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # the cluster is thrown away; its own commits still fsync
        )
        self._initialized = True

    @classmethod
    def replica_of(cls, primary: PostgresCluster) -> PostgresCluster:
        """A streaming replica of the running `primary` (`pg_basebackup -R`), not started yet."""
        replica = cls()
        replica._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data),
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",  # else it waits for the primary's next scheduled checkpoint
            "--no-sync",
        )
        replica._initialized = True
        return replica

    def promote(self) -> None:
        """Makes a replica a primary of its own (`pg_ctl promote`)."""
        self._run("pg_ctl", "promote", "-D", str(self.data), "-w")

    def start(self) -> None:
        if not self._initialized:
            self._initdb()
        options = " ".join(
            (
                f"-c port={self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.directory}",
                "-c shared_buffers=16MB",
                "-c max_connections=60",
                "-c fsync=on",
                "-c log_min_messages=warning",
            )
        )
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options)
        self.running = True

    def stop(self, mode: StopMode = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")
        self.running = False

    def restart(self, mode: StopMode = "fast") -> None:
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        """Stops the server (if running) and deletes every file of the cluster."""
        if self.running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    @classmethod
    @contextlib.contextmanager
    def running_one(cls) -> Iterator[PostgresCluster]:
        """A new cluster, started, and destroyed with every file of it afterwards."""
        cluster = cls()
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.destroy()

    async def migrated_database(self, name: str = "school_payments") -> str:
        """A new database `name` in this cluster, migrated to the latest schema; its URL."""
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = self.url(name)
        await asyncio.to_thread(upgrade, url)
        return url
