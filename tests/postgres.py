"""A real PostgreSQL server for the storage tests: Debian's `postgresql` package, a temporary
cluster on a free port, trust authentication on 127.0.0.1 only, thrown away afterwards.

Where the server is not installed the tests that need it skip, saying why; under CI
(MNIST_REQUIRE_POSTGRES=1, set by .ci/run) they fail instead.
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support import free_port

REQUIRED = "MNIST_REQUIRE_POSTGRES"


def bindir() -> Path | None:
    """The newest installed server's programs (Debian keeps them out of PATH)."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                         if Path(p).parent.name.isdigit() else 0, reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def unavailable(why: str):
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"PostgreSQL is required here ({REQUIRED}=1) but {why}")
    pytest.skip(f"{why}: install Debian's postgresql package (make system-deps) to run this test")


class Server:
    """One temporary cluster. initdb and the server refuse to run as root, so as root they run
    as the package's `postgres` user."""

    def __init__(self, programs: Path):
        self.programs = programs
        self.folder = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            os.chmod(self.folder, 0o755)
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.programs / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres", driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL, as the docs write one (`postgresql://`)."""
        import psycopg

        name = "t_" + secrets.token_hex(4)
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def start() -> Server:
    programs = bindir()
    if programs is None:
        unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("the psycopg driver is not installed")
    return Server(programs)
