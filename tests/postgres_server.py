"""A throw-away PostgreSQL server for the test suite, started from Debian's binaries.

``initdb`` and ``pg_ctl`` come from ``/usr/lib/postgresql/<version>/bin`` (the newest version
installed). PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
user (``runuser -u postgres --``) in a temporary folder owned by that user; as any other user it
runs as that user. The cluster is tuned for tests, not durability (``fsync=off``): it lives for
one test session only. Databases are created cheaply as copies of a template database
(``CREATE DATABASE … TEMPLATE …``), so every test can have its own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

#: Where Debian installs the server binaries, one folder per major version.
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
#: The operating-system user that owns the cluster when the tests run as root.
SERVICE_USER = "postgres"
#: The cluster's superuser (login without password: local ``trust`` authentication).
SUPERUSER = "postgres"
#: Enough for 64 concurrent requests plus two server processes with their pools.
MAX_CONNECTIONS = 300
START_TIMEOUT_SECONDS = 60
_SETTINGS = {"listen_addresses": "127.0.0.1", "max_connections": str(MAX_CONNECTIONS)}
#: For tests only: a crash of the test cluster may lose data, which nobody needs.
_NOT_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def find_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``, or None."""
    candidates = [
        path
        for path in Path("/").glob(DEBIAN_BINARIES.lstrip("/"))
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda path: _major_version(path.parent.name))


def unavailable_reason() -> str | None:
    """Why no test server can be started here, or None when it can."""
    if find_binaries() is None:
        return f"PostgreSQL-Binärdateien fehlen ({DEBIAN_BINARIES}/initdb, pg_ctl)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"als root nötig: Benutzer {SERVICE_USER!r} für PostgreSQL fehlt"
        if shutil.which("runuser") is None:
            return "als root nötig: runuser fehlt"
    return None


def _major_version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One cluster on 127.0.0.1:<free port>; ``start()``, ``create_database()``, ``stop()``.

    ``durable=True`` keeps PostgreSQL's default durability (fsync on every commit), for
    benchmarks that compare with production settings.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.settings = _SETTINGS if durable else {**_SETTINGS, **_NOT_DURABLE}
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL binaries")
        self.binaries = binaries
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="matcher-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._as_service_user = os.geteuid() == 0
        self._started = False

    def _run(self, *command: str) -> None:
        """Run a server binary as the cluster's owner; its output is in the error on failure."""
        prefix = ["runuser", "-u", SERVICE_USER, "--"] if self._as_service_user else []
        done = subprocess.run(
            [*prefix, str(self.binaries / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr}")

    def start(self) -> PostgresServer:
        """initdb into a fresh folder and start the server; returns when it accepts logins."""
        if self._as_service_user:
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            # C collation: text sorts bytewise, as in SQLite, so orderings agree across backends.
            "--locale",
            "C",
        )
        options = " ".join(f"-c {key}={value}" for key, value in self.settings.items())
        options += f" -p {self.port} -k {self.root}"  # the Unix socket stays in our folder too
        self._run(
            "pg_ctl",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_path),
            "--options",
            options,
            "--wait",
            f"--timeout={START_TIMEOUT_SECONDS}",
            "start",
        )
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint needed) and remove its folder; idempotent."""
        if self._started:
            self._started = False
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "--pgdata", str(self.data_dir), "--mode", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` if given); its SQLAlchemy URL.

        A template must have no open connections while it is copied: dispose its engines first.
        """
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._admin() as connection:
            connection.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending the sessions still connected to it."""
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with self._admin() as connection:
            connection.execute(statement)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
