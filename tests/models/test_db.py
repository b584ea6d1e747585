"""SQLite is set up for a web service: foreign keys, WAL, and a file in a new directory."""

from pathlib import Path

from sqlalchemy import Engine, text

from models import DEFAULT_DATABASE_URL, init_db, make_engine


def test_every_connection_gets_the_pragmas(engine: Engine) -> None:
    # Several connections at once, so some are new ones: the pragmas are per connection.
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert connection.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL


def test_database_file_is_created_with_its_directory(engine: Engine, database_path: Path) -> None:
    assert database_path.is_file()


def test_init_db_is_idempotent(engine: Engine) -> None:
    init_db(engine)


def test_default_url_is_a_local_sqlite_file() -> None:
    assert DEFAULT_DATABASE_URL == "sqlite:///matcher.db"


def test_in_memory_database_needs_no_directory() -> None:
    engine = make_engine("sqlite://")
    try:
        init_db(engine)
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()
