"""Database backends shared by every test folder: SQLite files and a PostgreSQL test server.

A test (or a fixture it uses) asks for ``backend``; it is ``"sqlite"`` unless the module
parametrizes it: ``pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)``
runs the module once per backend (add ``scope="module"`` when a module-scoped fixture needs the
backend). ``databases`` makes new databases at the current schema on either backend, empty or
holding the rows of a seeded SQLite file (the suites' embedding caches), and
``empty_database_url`` is one such empty database for one test.

The PostgreSQL server (``postgres_server``) starts once per session, on first use, from
Debian's binaries and stops at the end. Where they are missing the PostgreSQL tests skip with
that reason, except in CI (``CI`` set), where a missing server is a failure: CI must run them.
Every PostgreSQL test database is a ``CREATE DATABASE … TEMPLATE`` copy, which takes
milliseconds, and is dropped after its test (or module).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, make_url, select, text
from sqlmodel import SQLModel

from models.db import init_db, make_engine
from tests.postgres_server import PostgresServer, unavailable_reason
from tests.support import copy_seed, unavailable

#: Both backends, for ``pytest.mark.parametrize("backend", BACKENDS, indirect=True)``.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql))
#: The empty database at the current schema that every PostgreSQL test database copies.
EMPTY_TEMPLATE = "matcher_empty"

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session, with ``EMPTY_TEMPLATE`` migrated to head."""
    reason = unavailable_reason()
    if reason is not None:
        unavailable(reason)
    with PostgresServer() as server:
        engine = make_engine(server.create_database(EMPTY_TEMPLATE))
        init_db(engine)
        engine.dispose()  # a template must have no open connections while it is copied
        yield server


def _copy_rows(source: Engine, target: Engine) -> None:
    """Copy every table's rows, parents first; PostgreSQL's id sequences continue after them."""
    with source.connect() as reading, target.begin() as writing:
        for table in SQLModel.metadata.sorted_tables:
            rows = [dict(row) for row in reading.execute(select(table)).mappings()]
            if not rows:
                continue
            writing.execute(insert(table), rows)
            if "id" in table.c and writing.dialect.name == "postgresql":
                last = writing.execute(select(func.max(table.c.id))).scalar_one()
                writing.execute(
                    text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                    {"table": table.name, "last": last},
                )


class Databases:
    """New databases at the current schema on either backend; PostgreSQL's server starts lazily."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._templates: dict[Path, str] = {}

    @property
    def server(self) -> PostgresServer:
        server: PostgresServer = self._request.getfixturevalue("postgres_server")
        return server

    def create(self, backend: str, folder: Path, seed: Path | None = None) -> str:
        """A new database (SQLite: a file in ``folder``), a copy of ``seed``'s rows if given."""
        if backend == "sqlite":
            if seed is not None:
                return copy_seed(seed, folder / "api.db")
            url = f"sqlite:///{folder / 'empty.db'}"
            engine = make_engine(url)
            init_db(engine)
            engine.dispose()
            return url
        template = EMPTY_TEMPLATE if seed is None else self._template_of(seed)
        return self.server.create_database(
            f"test_{os.getpid()}_{next(_database_numbers)}", template=template
        )

    def drop(self, url: str) -> None:
        """Drop a PostgreSQL database made by ``create`` (SQLite files go with their folder)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and parsed.database:
            self.server.drop_database(parsed.database)

    def _template_of(self, seed: Path) -> str:
        """A PostgreSQL template database holding the rows of the SQLite file ``seed``."""
        if seed not in self._templates:
            name = f"seed_{len(self._templates) + 1}"
            source = make_engine(f"sqlite:///{seed}")
            target = make_engine(self.server.create_database(name, template=EMPTY_TEMPLATE))
            try:
                _copy_rows(source, target)
            finally:
                source.dispose()
                target.dispose()
            self._templates[seed] = name
        return self._templates[seed]


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Databases:
    return Databases(request)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend: ``sqlite`` unless the module parametrizes it (see above)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, databases: Databases) -> Iterator[str]:
    """A new, empty database at the current schema on ``backend``, for one test."""
    url = databases.create(backend, tmp_path)
    yield url
    databases.drop(url)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[Callable[..., str]]:
    """Create PostgreSQL databases for one test (template copies); dropped afterwards.

    ``postgres_database()`` copies the empty template, ``postgres_database(template="x")``
    database ``x``. Returns the new database's URL.
    """
    created: list[str] = []

    def create(*, template: str = EMPTY_TEMPLATE) -> str:
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        created.append(name)
        return postgres_server.create_database(name, template=template)

    yield create
    for name in created:
        postgres_server.drop_database(name)
