"""Faults of the database under a running server, and the checks that find them.

A SQLite file can be deleted, replaced or made read-only while the server runs. The open
connections do not notice: they keep writing into a deleted inode (lost at the next start) or,
for a new connection, SQLite silently creates a fresh empty file. ``guard_sqlite_file`` makes
both visible: before every statement it compares the file on disk with the one opened at start
(same device and inode), refuses write statements while the file or its WAL has no write
permission bit, and refuses to open a new connection once the file has vanished. Each case
raises ``DatabaseUnavailable``, which the API answers with 503.

Permission *bits* are checked rather than ``os.access``: the operator's ``chmod a-w`` is the
signal, and a server running as root would otherwise ignore it and write on.
"""

from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Engine, event, text

logger = logging.getLogger(__name__)

#: Statements that change the file (SQLite's own words; a probe may use BEGIN IMMEDIATE).
_WRITES = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|BEGIN\s+IMMEDIATE|BEGIN\s+EXCLUSIVE)",
    re.IGNORECASE,
)


class DatabaseUnavailable(Exception):
    """The database cannot serve this request now; ``detail`` is German, for the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _FileGuard:
    """The identity of one SQLite file, taken when the first connection opened it."""

    path: Path
    identity: tuple[int, int] | None = None
    _reported: set[str] = field(default_factory=set)

    def opened(self, *_: Any) -> None:
        if self.identity is None:
            info = self.path.stat()
            self.identity = (info.st_dev, info.st_ino)

    def before_connect(self, *_: Any) -> None:
        """Never let SQLite create an empty file where the real one vanished."""
        if self.identity is not None:
            self.check(write=False)

    def before_statement(
        self, _conn: Any, _cursor: Any, statement: str, *_: Any, **__: Any
    ) -> None:
        self.check(write=_WRITES.match(statement) is not None)

    def check(self, *, write: bool) -> None:
        """Raise ``DatabaseUnavailable`` if the file vanished, or for a write if read-only."""
        if self.identity is None:
            return
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._fail("vanished", "Die Datenbankdatei fehlt; der Server muss neu starten.")
        if (info.st_dev, info.st_ino) != self.identity:
            self._fail("replaced", "Die Datenbankdatei wurde ersetzt; der Server muss neu starten.")
        if write and not all(_writable(p) for p in (self.path, _wal(self.path))):
            self._fail("read-only", "Die Datenbank ist schreibgeschützt; Änderungen sind gesperrt.")
        self._reported.discard("read-only")

    def _fail(self, kind: str, detail: str) -> NoReturn:
        if kind not in self._reported:  # one log line per fault, not one per request
            self._reported.add(kind)
            logger.error("database file %s: %s", self.path, kind)
        raise DatabaseUnavailable(detail)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _writable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except FileNotFoundError:
        return True  # no WAL yet: SQLite creates it in the (checked) database's directory


def guard_sqlite_file(engine: Engine, path: Path) -> None:
    """Install the vanished / replaced / read-only checks on ``engine`` for file ``path``."""
    guard = _FileGuard(path.resolve())
    event.listen(engine, "do_connect", guard.before_connect)
    event.listen(engine, "connect", guard.opened)
    event.listen(engine, "before_cursor_execute", guard.before_statement)


def check_writable(engine: Engine) -> None:
    """Prove the database takes a write now: take the write lock, write nothing, roll back.

    Raises ``DatabaseUnavailable`` or SQLAlchemy's ``OperationalError`` (locked, read-only).
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.execute(text("DELETE FROM round WHERE 1 = 0"))
        connection.rollback()


def truncate_wal(engine: Engine) -> None:
    """Copy the WAL into the database file and empty it, so old page versions are gone.

    After an erasure the WAL still holds the pages as they were before; ``secure_delete``
    zeroes the freed space in the main file once the pages are checkpointed there.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        logger.warning("WAL checkpoint after an erasure was blocked by a reader")


__all__ = [
    "DatabaseUnavailable",
    "check_writable",
    "guard_sqlite_file",
    "truncate_wal",
]
