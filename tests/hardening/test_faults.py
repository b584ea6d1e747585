"""Faults of the database under a real ``matcher serve`` process: a clear 503, nothing lost.

Each test starts the server on its own copy of the seeded database and then breaks the file
from outside: another connection holds the write lock, the files lose their write permission,
the files are deleted. The server has to stay alive, answer 503 with a German message and
``Retry-After`` within the busy timeout, report not-ready, and lose nothing it had stored.

Read-only: the tests run as root, and root writes through ``chmod a-w``. But so would any
user: permissions are checked when a file is opened, and the server's pooled connections opened
it long before. The server therefore reads the permission bits of the database file and its WAL
before each write statement (``models.health``) and refuses the write once they are gone, as
root or not. (Running the server as ``nobody`` would not change this test: its open file
descriptors stay writable too.)
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import Server, issue_token, prepare_database
from tests.support import bearer, copy_seed

#: The busy timeout the servers here run with (MATCHER_DB_BUSY_TIMEOUT).
BUSY_TIMEOUT = 2.0
#: What the issue allows for the 503 of a locked database.
ANSWER_WITHIN_SECONDS = 5.0
GERMAN = ("Datenbank",)


@pytest.fixture
def database(tmp_path: Path, seed_database: Path) -> tuple[Path, str]:
    """A copy of the seeded database and a coordinator token stored in it."""
    path = tmp_path / "faults.db"
    url = copy_seed(seed_database, path)
    engine = prepare_database(url)
    token = issue_token(engine)
    engine.dispose()
    return path, token


@pytest.fixture
def server(tmp_path: Path, database: tuple[Path, str]) -> Iterator[Server]:
    path, _ = database
    env = {"MATCHER_DB_BUSY_TIMEOUT": str(BUSY_TIMEOUT)}
    with Server(f"sqlite:///{path}", tmp_path, env=env) as running:
        yield running


def create_round(client: httpx.Client, token: str, name: str) -> httpx.Response:
    return client.post("/api/rounds", json={"name": name}, headers=bearer(token))


def assert_unavailable(response: httpx.Response, *words: str) -> None:
    """503, a German message (naming ``words``) and a Retry-After of whole seconds."""
    assert response.status_code == 503, response.text
    detail: str = response.json()["detail"]
    assert all(word in detail for word in (*GERMAN, *words)), detail
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["X-Request-ID"]


def round_names(path: Path) -> list[str]:
    """Round names in the file, read by a connection of our own (after the server stopped)."""
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM round ORDER BY id")]


def test_locked_database_answers_503_within_the_busy_timeout_then_recovers(
    server: Server, database: tuple[Path, str]
) -> None:
    path, token = database
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    with server.client() as client:
        assert create_round(client, token, "vor der Sperre").status_code == 201
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held by another connection
        try:
            started = time.monotonic()
            response = create_round(client, token, "während der Sperre")
            elapsed = time.monotonic() - started
            assert_unavailable(response, "belegt")
            assert BUSY_TIMEOUT * 0.8 <= elapsed < ANSWER_WITHIN_SECONDS, elapsed
            assert int(response.headers["Retry-After"]) == int(BUSY_TIMEOUT)
            assert client.get("/api/rounds", headers=bearer(token)).status_code == 200
            assert client.get("/api/health/ready").status_code == 503
            assert client.get("/api/health/live").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert create_round(client, token, "nach der Sperre").status_code == 201
        assert client.get("/api/health/ready").status_code == 200
    server.stop()
    assert round_names(path) == ["vor der Sperre", "nach der Sperre"]
    assert "database unavailable: database is locked" in server.output


def set_writable(path: Path, writable: bool) -> None:
    """Add or remove every write bit of the database file and its WAL."""
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            mode = file.stat().st_mode
            bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            file.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


def test_read_only_files_answer_503_and_nothing_is_lost(
    server: Server, database: tuple[Path, str]
) -> None:
    path, token = database
    with server.client() as client:
        assert create_round(client, token, "vorher").status_code == 201
        set_writable(path, False)
        try:
            assert_unavailable(create_round(client, token, "schreibgeschützt"), "schreibgeschützt")
            assert_unavailable(client.get("/api/health/ready"), "schreibgeschützt")
            rounds = client.get("/api/rounds", headers=bearer(token))
            assert rounds.status_code == 200  # reading goes on
            assert [r["name"] for r in rounds.json()] == ["vorher"]
            assert server.process is not None and server.process.poll() is None
        finally:
            set_writable(path, True)
        assert create_round(client, token, "nachher").status_code == 201
        assert client.get("/api/health/ready").status_code == 200
    server.stop()
    assert round_names(path) == ["vorher", "nachher"]
    assert server.output.count("read-only") == 1, "one log line per fault"


def test_deleted_database_answers_503_and_no_new_file_appears(
    server: Server, database: tuple[Path, str]
) -> None:
    path, token = database
    with server.client() as client:
        assert create_round(client, token, "vorher").status_code == 201
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        assert_unavailable(create_round(client, token, "ins Leere"), "fehlt")
        assert_unavailable(client.get("/api/rounds", headers=bearer(token)), "fehlt")
        assert_unavailable(client.get("/api/health/ready"), "fehlt")
        assert client.get("/api/health/live").status_code == 200
        assert server.process is not None and server.process.poll() is None
    assert not path.exists(), "the server created a new, empty database file"
    assert "vanished" in server.output


def test_replaced_database_is_not_written_either(
    server: Server, database: tuple[Path, str], tmp_path: Path
) -> None:
    path, token = database
    with server.client() as client:
        shutil.copyfile(path, tmp_path / "restored.db")
        (tmp_path / "restored.db").replace(path)  # a new inode under the old name
        assert_unavailable(create_round(client, token, "falsche Datei"), "ersetzt")
