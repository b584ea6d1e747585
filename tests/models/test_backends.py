"""The test databases of both backends: each is fresh, at the current schema, and separate."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

from models.db import make_engine
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def test_an_empty_database_has_every_table(backend: str, empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert engine.dialect.name == backend
        assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
