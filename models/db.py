"""Engine, session and schema helpers; the engine is made once by the app factory, never at import.

Three parts: the engine (pool sizes from the settings), the per-connection SQLite settings,
and the schema, which Alembic owns (``models/migrations``). ``init_db`` is what every program
calls before it uses a database: a database without tables is migrated to the newest revision
(so a fresh clone's ``matcher.db`` just works), one at the newest revision is used as it is,
and anything else is refused with ``SchemaOutdatedError``, whose German message names
``matcher db upgrade``. Only ``upgrade_db`` (that command) changes an existing schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

import models.tables  # noqa: F401 - registers the tables on SQLModel.metadata

DEFAULT_DATABASE_URL = "sqlite:///matcher.db"

# --- engine ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSettings:
    """Connections one process keeps: ``size`` open, up to ``overflow`` more under load.

    A request holds at most one connection, so ``size + overflow`` at least the number of
    request threads (FastAPI's threadpool: 40) means no request waits for one; ``timeout`` is
    the longest a request waits before it fails instead.
    """

    size: int = 10
    overflow: int = 32
    timeout: float = 10.0


def make_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    """Create an engine; SQLite gets the settings of ``_set_sqlite_pragmas``.

    ``hide_parameters``: a failing statement's message must not carry names or motivations into
    logs. PostgreSQL connections are checked before use (``pool_pre_ping``), so a restarted
    database server costs one failed ping, not one failed request. For SQLite,
    ``check_same_thread=False`` lets FastAPI's threadpool use pooled connections (each session
    is still used by one thread at a time); ``timeout=30`` waits for a busy writer instead of
    failing at once with "database is locked". The parent directory of a database file is
    created if missing.
    """
    pool = pool or PoolSettings()
    pooling = {"pool_size": pool.size, "max_overflow": pool.overflow, "pool_timeout": pool.timeout}
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, hide_parameters=True, pool_pre_ping=True, **pooling)
    database = parsed.database or ":memory:"
    if database == ":memory:" or database.startswith("file:"):
        pooling = {}  # one shared in-memory connection (SingletonThreadPool); sizes do not apply
    else:  # a plain file path
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 30},
        **pooling,
    )
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def get_session(engine: Engine) -> Iterator[Session]:
    """Yield one session and close it afterwards (rolling back whatever was not committed).

    A generator so that a dependency can ``yield from get_session(engine)``; otherwise use
    ``with Session(engine) as session``.
    """
    with Session(engine) as session:
        yield session


# --- SQLite connection settings ----------------------------------------------------------------

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
)


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Run on every new SQLite connection.

    - ``foreign_keys=ON``: SQLite ignores foreign keys (and their ON DELETE CASCADE) unless each
      connection switches them on, so without it a placement could point at a deleted applicant.
    - ``journal_mode=WAL``: readers never block the writer nor the writer the readers, so the
      ranking view can be read while a coordinator's decision is being stored; the write-ahead
      log is replayed after a crash, so a committed decision is never half-applied.
    - ``synchronous=NORMAL``: in WAL mode this keeps the database consistent after any crash and
      every commit survives an application crash; only a power loss or OS crash can roll back
      the last few commits. FULL would fsync on every commit for little gain here.
    """
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


# --- schema (Alembic) --------------------------------------------------------------------------

#: The revision that reproduces the schema of the builds before migrations existed.
FIRST_REVISION = "0001"
#: Any table of that schema: its presence without a revision marks such an old database.
_LEGACY_MARKER_TABLE = "round"
#: Key of the PostgreSQL advisory lock that lets one process at a time migrate.
_MIGRATION_LOCK_KEY = 7_310_420_001
UPGRADE_HINT = "Bitte zuerst `matcher db upgrade` ausführen (mit derselben MATCHER_DATABASE_URL)."


class SchemaOutdatedError(RuntimeError):
    """The database's schema is not the one this code needs; ``matcher db upgrade`` helps."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # A package resource, so migrations ship inside an installed wheel like any module.
    config.set_main_option("script_location", "models:migrations")
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in ``models/migrations/versions``."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "models/migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one from before migrations."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _schema_state(connection: Connection) -> tuple[str | None, bool]:
    """(revision, has tables) of the database behind ``connection``."""
    revision = MigrationContext.configure(connection).get_current_revision()
    return revision, inspect(connection).has_table(_LEGACY_MARKER_TABLE)


def _lock_for_migration(connection: Connection) -> None:
    """Let one process at a time look at and change the schema, until the transaction ends.

    Two server processes started at once on an empty database must not both create it.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        sqlite_connection = connection.connection.driver_connection
        if not getattr(sqlite_connection, "in_transaction", True):
            # Takes SQLite's write lock now; the DDL below then runs in this one transaction.
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(connection: Connection, target: str) -> None:
    command.upgrade(_config(connection), target)


def init_db(engine: Engine) -> None:
    """Make an empty database current; accept a current one; refuse any other.

    Raises ``SchemaOutdatedError`` (German message naming ``matcher db upgrade``) for a database
    at an older or unknown revision or from before migrations; it is left untouched.
    """
    head = head_revision()
    if current_revision(engine) == head:  # the usual case, without taking the lock
        return
    with engine.begin() as connection:
        _lock_for_migration(connection)
        revision, has_tables = _schema_state(connection)
        if revision is None and not has_tables:
            _migrate(connection, "head")
            return
    if revision != head:
        found = revision or "ohne Migrationsstand (vor Einführung der Migrationen)"
        raise SchemaOutdatedError(
            f"Das Datenbankschema ist nicht aktuell (Stand: {found}, benötigt: {head}). "
            + UPGRADE_HINT
        )


def upgrade_db(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to ``target`` (the newest revision); (revision before, after).

    A database from before migrations is taken to be at ``FIRST_REVISION`` (which reproduces
    that schema) and upgraded from there; an empty one is created.
    """
    with engine.begin() as connection:
        _lock_for_migration(connection)
        before, has_tables = _schema_state(connection)
        if before is None and has_tables:
            command.stamp(_config(connection), FIRST_REVISION)
        _migrate(connection, target)
    return before, current_revision(engine)


def new_revision(message: str, directory: Path) -> Path:
    """Write a revision autogenerated from the difference between head and the tables' code.

    Compares ``SQLModel.metadata`` with a scratch SQLite database migrated to head; review the
    file by hand (renames show up as drop + add) before committing it.
    """
    script = ScriptDirectory.from_config(_config())
    number = f"{len(list(script.walk_revisions())) + 1:04d}"
    with TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            with engine.begin() as connection:
                _migrate(connection, "head")
                config = _config(connection)
                config.set_main_option("version_locations", str(directory))
                written = command.revision(
                    config, message, autogenerate=True, rev_id=number, version_path=str(directory)
                )
        finally:
            engine.dispose()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)
