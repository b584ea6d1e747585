"""A real database per test (SQLite file, or PostgreSQL where a module asks for both backends)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from models import get_session, init_db, make_engine


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    # A missing parent directory: make_engine has to create it.
    return tmp_path / "data" / "matcher.db"


@pytest.fixture
def engine(backend: str, database_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The database of one test: a SQLite file at ``database_path``, or a PostgreSQL database."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{database_path}")
        init_db(engine)
    else:
        engine = make_engine(request.getfixturevalue("empty_database_url"))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    yield from get_session(engine)
