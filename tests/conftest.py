"""Database backends shared by every test folder: SQLite files and a PostgreSQL test server.

A test (or a fixture it uses) asks for ``backend``; it is ``"sqlite"`` unless the module
parametrizes it, e.g. ``pytestmark = pytest.mark.parametrize("backend", BACKENDS,
indirect=True)``, which runs the module once per backend. ``empty_database_url`` is a fresh
database at the current schema on the chosen backend.

The PostgreSQL server (``postgres_server``) starts once per session from Debian's binaries and
stops at the end. Where they are missing the PostgreSQL tests skip with that reason, except in
CI (``CI`` set), where a missing server is a failure: CI must run them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.db import init_db, make_engine
from tests.postgres_server import PostgresServer, unavailable_reason

#: Both backends, for ``pytest.mark.parametrize("backend", BACKENDS, indirect=True)``.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql))
#: The empty database at the current schema that every PostgreSQL test database copies.
EMPTY_TEMPLATE = "matcher_empty"

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session, with ``EMPTY_TEMPLATE`` created at head."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    with PostgresServer() as server:
        engine = make_engine(server.create_database(EMPTY_TEMPLATE))
        init_db(engine)
        engine.dispose()  # a template must have no open connections while it is copied
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[Callable[..., str]]:
    """Create databases for one test (copies of a template); all are dropped afterwards.

    ``postgres_database()`` copies the empty template; ``postgres_database(template="x")``
    copies database ``x`` (e.g. a seeded one). Returns the new database's URL.
    """
    created: list[str] = []

    def create(*, template: str = EMPTY_TEMPLATE) -> str:
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        created.append(name)
        return postgres_server.create_database(name, template=template)

    yield create
    for name in created:
        postgres_server.drop_database(name)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: ``sqlite`` unless the module parametrizes it."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new database at the current schema on ``backend`` (SQLite: a file in ``tmp_path``)."""
    if backend == "postgresql":
        create: Callable[..., str] = request.getfixturevalue("postgres_database")
        return create()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    return url
