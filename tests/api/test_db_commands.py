"""``matcher db upgrade`` / ``matcher db current``, and programs refusing an outdated schema.

An outdated database here is one from before migrations (the first revision's tables without a
revision table), the kind every existing ``matcher.db`` is.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.settings import Settings
from models.db import FIRST_REVISION, SchemaOutdatedError, head_revision, make_engine, upgrade_db
from tests.hardening.conftest import MATCHER_BIN, ROOT, free_port

REFUSAL = "`matcher db upgrade`"


def make_outdated(url: str) -> None:
    """A database as a build without migrations left it."""
    engine = make_engine(url)
    try:
        upgrade_db(engine, FIRST_REVISION)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


def test_db_current_and_upgrade(runner: CliRunner, database_url: str) -> None:
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0, current.output
    assert "Revision der Datenbank: keine" in current.output
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"keine Revision → {head_revision()}" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert f"Schema ist aktuell (Revision {head_revision()})" in again.output
    current = runner.invoke(app, ["db", "current"])
    assert f"Revision der Datenbank: {head_revision()}" in current.output
    assert "aktuell" in current.output


def test_cli_refuses_an_outdated_database_until_it_is_upgraded(
    runner: CliRunner, database_url: str
) -> None:
    make_outdated(database_url)
    refused = runner.invoke(app, ["users", "create", "--role", "coordinator"])
    assert refused.exit_code == 2
    assert REFUSAL in refused.output and "nicht aktuell" in refused.output
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert f"keine Revision → {head_revision()}" in upgraded.output
    created = runner.invoke(app, ["users", "create", "--role", "coordinator"])
    assert created.exit_code == 0, created.output


def test_matcher_serve_refuses_an_outdated_database(tmp_path: Path) -> None:
    """The real command, as an operator starts it: German message, exit code ≠ 0, no server."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_outdated(url)
    done = subprocess.run(
        [str(MATCHER_BIN), "serve", "--port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, "MATCHER_DATABASE_URL": url, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert REFUSAL in done.stderr and "nicht aktuell" in done.stderr


def test_the_app_factory_refuses_an_outdated_database(
    tmp_path: Path, model: SentenceTransformer
) -> None:
    """``uvicorn --factory api.app:create_app`` starts through the lifespan: it refuses too."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_outdated(url)
    with (
        pytest.raises(SchemaOutdatedError, match="`matcher db upgrade`"),
        TestClient(create_app(Settings(database_url=url), model=model)),
    ):
        pass
