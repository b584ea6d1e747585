"""A real SQLite database file per test, set up exactly as the application sets it up."""

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
def engine(database_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{database_path}")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    yield from get_session(engine)
