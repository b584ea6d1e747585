"""Engine and session helpers; the engine is made once by the app factory, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel

import models.tables  # noqa: F401 - registers the tables on SQLModel.metadata for init_db
from models.health import guard_sqlite_file

DEFAULT_DATABASE_URL = "sqlite:///matcher.db"
#: Seconds a statement waits for another writer before the request gets a 503.
DEFAULT_BUSY_TIMEOUT = 3.0

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
)


def make_engine(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """Create an engine; SQLite gets settings that make it safe for a small web service.

    SQLite is configured on every new connection:

    - ``foreign_keys=ON``: SQLite ignores foreign keys (and their ON DELETE CASCADE) unless each
      connection switches them on, so without it a placement could point at a deleted applicant.
    - ``journal_mode=WAL``: readers never block the writer nor the writer the readers, so the
      ranking view can be read while a coordinator's decision is being stored; the write-ahead log
      is replayed after a crash, so a committed decision is never half-applied.
    - ``synchronous=NORMAL``: in WAL mode this keeps the database consistent after any crash and
      every commit survives an application crash; only a power loss or OS crash can roll back the
      last few commits. FULL would fsync on every commit for little gain here.
    - ``secure_delete=ON``: deleted rows are overwritten with zeros, so an erased applicant's
      texts are not left readable in free pages of the file.

    ``check_same_thread=False`` lets FastAPI's threadpool use pooled connections (each session
    is still used by one thread at a time); ``busy_timeout`` seconds wait for a busy writer before
    "database is locked" (a 503 with Retry-After at the API, never a 30 s hang). A file database
    is guarded against vanishing or turning read-only (``models.health``). The parent directory
    of a database file is created if missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, hide_parameters=True)
    database = parsed.database or ":memory:"
    if database != ":memory:" and not database.startswith("file:"):  # a plain file path
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a failing statement's message must not carry names or motivations into logs.
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )
    event.listen(engine, "connect", _set_sqlite_pragmas)
    if database != ":memory:" and not database.startswith("file:"):
        guard_sqlite_file(engine, Path(database))
    return engine


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def init_db(engine: Engine) -> None:
    """Create all tables that do not exist yet (existing tables are left untouched)."""
    SQLModel.metadata.create_all(engine)


def get_session(engine: Engine) -> Iterator[Session]:
    """Yield one session and close it afterwards (rolling back whatever was not committed).

    A generator so that a request dependency can ``yield from get_session(engine)``; outside
    a request use ``with Session(engine) as session``.
    """
    with Session(engine) as session:
        yield session
