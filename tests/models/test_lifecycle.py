"""The state tables, their diagram in the README, and the rules the schema itself keeps.

Runs on SQLite and PostgreSQL: the partial unique indexes (one confirmed place per applicant
and round, one active run per round), the status CHECK constraint and the conditional update
that refuses a decision made on a state that is gone.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from models import crud, init_db, lifecycle, make_engine
from models.lifecycle import PLACEMENT_TRANSITIONS, PlacementEvent, StaleState
from models.tables import (
    MatchingRun,
    Placement,
    PlacementCreate,
    PlacementStatus,
    RunStatus,
    utc_now,
)
from tests.conftest import BACKENDS
from tests.models.factories import make_applicant, make_offer

#: The database tests run on both backends.
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_transition_tables_as_they_are() -> None:
    readme = README.read_text("utf-8")
    for diagram in (lifecycle.placement_diagram(), lifecycle.round_diagram()):
        assert f"```mermaid\n{diagram}\n```" in readme, diagram


def test_every_status_is_reachable_and_every_end_frees_a_confirmed_place() -> None:
    reached = {PlacementStatus.PROPOSED} | set(PLACEMENT_TRANSITIONS.values())
    assert reached == set(PlacementStatus)
    ends_of_confirmed = {
        after
        for (before, _), after in PLACEMENT_TRANSITIONS.items()
        if before is PlacementStatus.CONFIRMED and after is not before
    }
    assert ends_of_confirmed == lifecycle.FREED


def round_with_pair(session: Session, applicants: int = 1) -> tuple[int, list[int], int]:
    """A round with one offer and ``applicants`` applicants; (round, applicant rows, offer)."""
    round_ = crud.create_round(session=session, name="Regeln")
    assert round_.id is not None
    [offer] = crud.add_offers(session=session, round_id=round_.id, offers=[make_offer("H-1")])
    people = crud.add_applicants(
        session=session,
        round_id=round_.id,
        applicants=[make_applicant(f"A-{i}") for i in range(applicants)],
    )
    session.commit()
    assert offer.id is not None
    return round_.id, [p.id for p in people if p.id is not None], offer.id


def place(
    session: Session, round_id: int, applicant: int, offer: int, status: PlacementStatus
) -> Placement:
    [row] = crud.add_placements(
        session=session,
        round_id=round_id,
        placements=[
            PlacementCreate(applicant_id=applicant, offer_id=offer, status=status, score=0.5)
        ],
    )
    return row


@both_backends
def test_one_confirmed_place_per_applicant_is_a_unique_index(session: Session) -> None:
    round_id, [applicant], offer = round_with_pair(session)
    place(session, round_id, applicant, offer, PlacementStatus.CONFIRMED)
    place(session, round_id, applicant, offer, PlacementStatus.REJECTED)  # others are fine
    session.commit()
    with pytest.raises(IntegrityError):
        place(session, round_id, applicant, offer, PlacementStatus.CONFIRMED)
    session.rollback()


@both_backends
def test_one_active_run_per_round_is_a_unique_index(session: Session) -> None:
    round_id, _, _ = round_with_pair(session)
    lease = utc_now() + timedelta(minutes=1)
    for status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.RUNNING):
        session.add(MatchingRun(round_id=round_id, mode="max-fit", status=status, created_by="t"))
    session.commit()
    with pytest.raises(IntegrityError):
        crud.create_run(
            session=session,
            round_id=round_id,
            mode="max-fit",
            created_by="t",
            owner="p",
            lease_until=lease,
        )
    session.rollback()


@both_backends
def test_the_status_column_accepts_the_table_states_only(engine: Engine, session: Session) -> None:
    round_id, [applicant], offer = round_with_pair(session)
    row = place(session, round_id, applicant, offer, PlacementStatus.DECLINED_BY_HOST)
    session.commit()
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("UPDATE placement SET status = 'vergessen' WHERE id = :id"), {"id": row.id}
        )


@both_backends
def test_a_decision_on_a_state_that_is_gone_is_refused(engine: Engine, session: Session) -> None:
    round_id, [applicant], offer = round_with_pair(session)
    seen = place(session, round_id, applicant, offer, PlacementStatus.PROPOSED)
    session.commit()
    with Session(engine) as other:  # another process rejects it meanwhile
        lifecycle.transition(
            other, other.get(Placement, seen.id), PlacementEvent.REJECT, actor="b", reason=None
        )
        other.commit()
    with pytest.raises(StaleState, match="rejected"):
        lifecycle.transition(session, seen, PlacementEvent.CONFIRM, actor="a", reason=None)
    session.rollback()
    audit = crud.list_audit(session=session, round_id=round_id)
    assert [(e.action, e.applicant_public_id, e.offer_public_id) for e in audit] == [
        ("reject", "A-0", "H-1")
    ]


@both_backends
def test_the_conditional_update_catches_a_change_after_the_read(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer commits between ``transition``'s read and its write: 0 rows → refused."""
    round_id, [applicant], offer = round_with_pair(session)
    seen = place(session, round_id, applicant, offer, PlacementStatus.PROPOSED)
    session.commit()
    real_refresh = session.refresh
    raced: list[bool] = []

    def refresh_then_race(instance: object, *args: object, **kwargs: object) -> None:
        real_refresh(instance, *args, **kwargs)
        if not raced:
            raced.append(True)
            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE placement SET status = 'rejected' WHERE id = :id"),
                    {"id": seen.id},
                )

    monkeypatch.setattr(session, "refresh", refresh_then_race)
    with pytest.raises(StaleState, match="inzwischen geändert"):
        lifecycle.transition(session, seen, PlacementEvent.CONFIRM, actor="a", reason=None)
    session.rollback()
    assert crud.list_audit(session=session, round_id=round_id) == []


def test_every_table_that_never_reuses_ids_keeps_autoincrement_after_the_migrations(
    tmp_path: Path,
) -> None:
    """A migration that copies a SQLite table (batch mode) must not drop AUTOINCREMENT."""
    engine = make_engine(f"sqlite:///{tmp_path / 'head.db'}")
    init_db(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        schema: dict[str, str] = dict(rows.all())
    engine.dispose()
    expected = [
        table.name
        for table in SQLModel.metadata.sorted_tables
        if table.dialect_kwargs.get("sqlite_autoincrement")
    ]
    assert "placement" in expected
    missing = [name for name in expected if "AUTOINCREMENT" not in schema[name]]
    assert not missing, missing
