"""Real PostgreSQL servers for the tests: the machine's own, or private clusters started here.

``admin_url()`` is the maintenance database of a running server: ``TEST_POSTGRES_URL`` when
set, else the server on 127.0.0.1:5432 when one answers (the test machines run one), else a
private cluster this module starts once from Debian's PostgreSQL binaries (installed by
``make system``) and stops when the tests end. ``PrivateCluster`` is a server of the test's
own, which it may stop and start at will (the database-restart fault test).
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

MACHINE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_SHARED: PrivateCluster | None = None


def _answers(url: str) -> bool:
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def admin_url() -> str:
    """URL of the maintenance database of a running server (see the module docstring)."""
    global _SHARED
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"]
    if _SHARED is None and _answers(MACHINE_URL):
        return MACHINE_URL
    if _SHARED is None:
        _SHARED = PrivateCluster()
        _SHARED.start()
        atexit.register(_SHARED.destroy)
    return _SHARED.url("postgres")


@contextmanager
def fresh_database(prefix: str = "riskgrid_test") -> Iterator[str]:
    """A new, empty database on :func:`admin_url`'s server; dropped afterwards."""
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql; run "
                           "`make system`, which installs Debian's postgresql package")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """A PostgreSQL cluster in a temporary folder, on a free loopback port, trust auth."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.root = Path(tempfile.mkdtemp(prefix="riskgrid-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_owner, str(self.bin / tool), *args], check=True,
                       capture_output=True, cwd=self.root)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
