"""Migrations: the first revision is the schema of the builds before them, and every record of
such a database is still found after the upgrade to head, on both backends.

Rows are written with plain SQL in the first revision's columns (not through the table classes,
which follow head), so the test keeps describing an old database when the tables change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from models import SqlEmbeddingStore
from models.db import (
    FIRST_REVISION,
    SchemaOutdatedError,
    current_revision,
    head_revision,
    init_db,
    make_engine,
    upgrade_db,
)
from models.tables import (
    Account,
    Applicant,
    AuditEntry,
    MatchingRun,
    MentorOffer,
    Offer,
    Placement,
    PlacementStatus,
    RankerModel,
    Role,
    Round,
    RoundStatus,
    RunStatus,
)
from tests.conftest import BACKENDS, Databases

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CREATED = "2026-11-02 09:30:00"
VECTOR = np.arange(4, dtype=np.float32)
#: One row per table of the first revision, parents first, in its columns.
FIRST_REVISION_ROWS: dict[str, dict[str, object]] = {
    "round": {
        "id": 1,
        "name": "Runde 2026",
        "status": "matching",
        "created_at": CREATED,
        "reranker_enabled": False,
    },
    "offer": {
        "id": 1,
        "round_id": 1,
        "external_id": "H-001",
        "city": "Paris",
        "country": "FR",
        "organisation": "Ville de Paris",
        "title": "Stadtplanung",
        "description": "Hospitation in der Stadtplanung.",
        "language": "fr",
        "working_languages": '["fr", "en"]',
        "min_language_level": "B2",
        "capacity": 2,
        "available_from": "2027-01-04",
        "available_until": "2027-06-30",
        "min_weeks": 1,
        "max_weeks": 4,
        "mentor_name": "Claire M.",
        "mentor_email": "claire@example.org",
        "tags": '["Planung"]',
    },
    "applicant": {
        "id": 1,
        "round_id": 1,
        "external_id": "A-001",
        "name": "Erika Muster",
        "email": "erika@example.org",
        "home_organisation": "Bezirksamt Mitte",
        "position": "Sachbearbeiterin",
        "languages": '{"de": "C2", "fr": "B2"}',
        "preferred_cities": '["Paris"]',
        "available_from": "2027-03-01",
        "available_until": "2027-04-30",
        "weeks_wanted": 2,
        "motivation": "Ich möchte Stadtplanung in Paris kennenlernen.",
    },
    "matchingrun": {
        "id": 1,
        "round_id": 1,
        "mode": "max-placed",
        "status": "done",
        "progress": 1.0,
        "stage": "fertig",
        "cancel_requested": False,
        "error": None,
        "result": '{"placed": 1}',
        "created_by": "coordinator:1",
        "created_at": CREATED,
        "finished_at": CREATED,
    },
    "placement": {
        "id": 1,
        "round_id": 1,
        "applicant_id": 1,
        "offer_id": 1,
        "status": "confirmed",
        "score": 0.75,
        "reason": None,
        "decided_by": "coordinator:1",
        "decided_at": CREATED,
        "created_at": CREATED,
        "run_id": 1,
        "mentor_decision": "accepted",
        "mentor_reason": None,
        "mentor_decided_at": CREATED,
    },
    "account": {
        "id": 1,
        "role": "mentor",
        "label": "Mentorin Paris",
        "token_hash": "a" * 64,
        "applicant_id": None,
        "created_at": CREATED,
    },
    "mentoroffer": {"account_id": 1, "offer_id": 1},
    "auditentry": {
        "id": 1,
        "round_id": 1,
        "actor": "coordinator:1",
        "action": "confirm",
        "placement_id": 1,
        "applicant_id": 1,
        "offer_id": 1,
        "reason": "passt",
        "created_at": CREATED,
    },
    "rankermodel": {
        "id": 1,
        "round_id": 1,
        "version": "v1",
        "params": "{}",
        "confirmed": 1,
        "rejected": 0,
        "created_by": "coordinator:1",
        "created_at": CREATED,
    },
    "embedding": {"model_id": "m", "text_key": "k" * 64, "dim": 4, "vector": VECTOR.tobytes()},
}


@pytest.fixture
def bare_engine(backend: str, tmp_path: Path, databases: Databases) -> Iterator[Engine]:
    """A database without any table: a new SQLite file, or a PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'bare.db'}"
    else:
        name = f"bare_{id(tmp_path)}"
        url = databases.server.create_database(name)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    databases.drop(url)


def fill_first_revision(engine: Engine) -> None:
    with engine.begin() as connection:
        for name, row in FIRST_REVISION_ROWS.items():
            table = sa.table(name, *(sa.column(column) for column in row))
            connection.execute(sa.insert(table).values(row))


def assert_every_record_found(engine: Engine) -> None:
    """Each row of ``FIRST_REVISION_ROWS`` read back through today's table classes."""
    created = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    with Session(engine) as session:
        round_ = session.get(Round, 1)
        assert round_ is not None
        assert (round_.name, round_.status, round_.created_at) == (
            "Runde 2026",
            RoundStatus.MATCHING,
            created,
        )
        assert round_.reranker_enabled is False
        offer = session.get(Offer, 1)
        assert offer is not None
        assert offer.working_languages == ["fr", "en"] and offer.tags == ["Planung"]
        assert (offer.external_id, offer.capacity, offer.available_from) == (
            "H-001",
            2,
            date(2027, 1, 4),
        )
        applicant = session.get(Applicant, 1)
        assert applicant is not None
        assert applicant.languages == {"de": "C2", "fr": "B2"}
        assert applicant.name == "Erika Muster"
        run = session.get(MatchingRun, 1)
        assert run is not None and run.status is RunStatus.DONE and run.result == {"placed": 1}
        placement = session.get(Placement, 1)
        assert placement is not None
        assert (placement.status, placement.score, placement.decided_at) == (
            PlacementStatus.CONFIRMED,
            0.75,
            created,
        )
        account = session.get(Account, 1)
        assert account is not None and account.role is Role.MENTOR
        assert session.get(MentorOffer, (1, 1)) is not None
        entry = session.get(AuditEntry, 1)
        assert entry is not None and entry.action == "confirm"
        assert session.get(RankerModel, 1) is not None
    stored = SqlEmbeddingStore(engine).load("m", ["k" * 64])
    np.testing.assert_array_equal(stored["k" * 64], VECTOR)


def test_head_matches_the_table_classes(empty_database_url: str) -> None:
    """A new table column or index without its revision fails here (see README)."""
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection), SQLModel.metadata
            )
    finally:
        engine.dispose()
    assert differences == [], "models/tables.py differs from the migrations: add a revision"


def test_a_database_of_the_first_revision_keeps_every_record(bare_engine: Engine) -> None:
    assert upgrade_db(bare_engine, FIRST_REVISION) == (None, FIRST_REVISION)
    fill_first_revision(bare_engine)
    assert upgrade_db(bare_engine) == (FIRST_REVISION, head_revision())
    init_db(bare_engine)  # accepted now
    assert_every_record_found(bare_engine)


def test_a_database_from_before_migrations_is_refused_then_upgraded(bare_engine: Engine) -> None:
    """Built by a build without migrations: the first revision's tables, no revision table."""
    upgrade_db(bare_engine, FIRST_REVISION)
    fill_first_revision(bare_engine)
    with bare_engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    with pytest.raises(SchemaOutdatedError, match="`matcher db upgrade`") as refused:
        init_db(bare_engine)
    assert "ohne Migrationsstand" in str(refused.value)
    assert current_revision(bare_engine) is None  # refusing changed nothing
    assert upgrade_db(bare_engine) == (None, head_revision())
    assert_every_record_found(bare_engine)


def test_an_unknown_revision_is_refused(bare_engine: Engine) -> None:
    init_db(bare_engine)
    with bare_engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'zukunft'"))
    with pytest.raises(SchemaOutdatedError, match="Stand: zukunft"):
        init_db(bare_engine)


def test_an_empty_database_is_created_once_by_concurrent_starts(bare_engine: Engine) -> None:
    """Two processes starting on a new database at once: one migrates, the other waits."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            init_db(bare_engine)
        except BaseException as error:  # collected, re-raised by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert current_revision(bare_engine) == head_revision()
