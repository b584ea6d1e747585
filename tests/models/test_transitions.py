"""Every writer of ``models.lifecycle`` called directly, on SQLite: what each transition stores
(status, who decided, when, the mentor's decision), the audit entry it adds, the refusals and
their German messages, and the round's state machine.

Fast and model-free: ``make mutate`` runs these against every mutant of ``models/lifecycle.py``.
The window tests hold the other writer's commit between ``transition``'s read and its write, so
a missing condition of the conditional update (status, or "no mentor decision yet") fails every
time, not only when a race happens to hit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from models import crud, lifecycle
from models.lifecycle import PlacementEvent, StaleState
from models.tables import (
    MentorDecision,
    Placement,
    PlacementStatus,
    Round,
    RoundStatus,
    utc_now,
)
from tests.models.factories import make_offer
from tests.models.test_lifecycle import place, round_with_pair

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def proposal(session: Session, status: PlacementStatus = PlacementStatus.PROPOSED) -> Placement:
    round_id, [applicant], offer = round_with_pair(session)
    placement = place(session, round_id, applicant, offer, status)
    session.commit()
    return placement


def audit_rows(session: Session, round_id: int) -> list[tuple[object, ...]]:
    return [
        (
            e.actor,
            e.action,
            e.placement_id,
            e.applicant_id,
            e.offer_id,
            e.applicant_public_id,
            e.offer_public_id,
            e.reason,
        )
        for e in crud.list_audit(session=session, round_id=round_id)
    ]


def test_a_placement_is_named_by_its_id_and_public_ids(session: Session) -> None:
    placement = proposal(session)
    label = lifecycle.placement_label(session, placement)
    assert label == f"Platzierung {placement.id} (A-0 → H-1)"
    assert lifecycle.public_ids(session, placement) == ("A-0", "H-1")


def test_a_coordinator_decision_stores_who_when_why_and_one_audit_entry(session: Session) -> None:
    placement = proposal(session)
    before = utc_now()
    lifecycle.transition(
        session, placement, PlacementEvent.CONFIRM, actor="coordinator:1", reason="passt"
    )
    session.commit()
    session.refresh(placement)
    assert placement.status is PlacementStatus.CONFIRMED
    assert placement.decided_by == "coordinator:1"
    assert placement.decided_at is not None
    assert before - timedelta(seconds=1) <= placement.decided_at <= utc_now()
    assert placement.reason == "passt"
    assert placement.mentor_decision is None
    assert audit_rows(session, placement.round_id) == [
        (
            "coordinator:1",
            "confirm",
            placement.id,
            placement.applicant_id,
            placement.offer_id,
            "A-0",
            "H-1",
            "passt",
        )
    ]


def test_a_decision_without_reason_keeps_the_stored_reason(session: Session) -> None:
    placement = proposal(session)
    session.exec(  # type: ignore[call-overload]
        text("UPDATE placement SET reason = 'Vorschlag' WHERE id = :id").bindparams(id=placement.id)
    )
    session.commit()
    lifecycle.transition(session, placement, PlacementEvent.REJECT, actor="c", reason=None)
    session.commit()
    session.refresh(placement)
    assert placement.status is PlacementStatus.REJECTED
    assert placement.reason == "Vorschlag"


def test_the_audit_action_can_differ_from_the_event(session: Session) -> None:
    placement = proposal(session)
    lifecycle.transition(
        session, placement, PlacementEvent.CONFIRM, actor="c", reason=None, action="place"
    )
    assert [row[1] for row in audit_rows(session, placement.round_id)] == ["place"]


@pytest.mark.parametrize(
    ("event", "decision", "status"),
    [
        (PlacementEvent.HOST_ACCEPT, MentorDecision.ACCEPTED, PlacementStatus.CONFIRMED),
        (PlacementEvent.HOST_DECLINE, MentorDecision.DECLINED, PlacementStatus.DECLINED_BY_HOST),
    ],
)
def test_a_mentor_decision_is_stored_apart_from_the_coordinators(
    session: Session, event: PlacementEvent, decision: MentorDecision, status: PlacementStatus
) -> None:
    placement = proposal(session, PlacementStatus.CONFIRMED)
    before = utc_now()
    lifecycle.transition(session, placement, event, actor="mentor:7", reason="gern")
    session.commit()
    session.refresh(placement)
    assert placement.status is status
    assert placement.mentor_decision is decision
    assert placement.mentor_reason == "gern"
    assert placement.mentor_decided_at is not None
    assert before - timedelta(seconds=1) <= placement.mentor_decided_at <= utc_now()
    assert placement.decided_by is None and placement.reason is None
    assert [row[:2] for row in audit_rows(session, placement.round_id)] == [
        ("mentor:7", event.value)
    ]


def test_a_mentor_decides_once(session: Session) -> None:
    placement = proposal(session, PlacementStatus.CONFIRMED)
    lifecycle.transition(session, placement, PlacementEvent.HOST_ACCEPT, actor="m", reason=None)
    session.commit()
    with pytest.raises(StaleState, match="inzwischen geändert"):
        lifecycle.transition(
            session, placement, PlacementEvent.HOST_DECLINE, actor="m", reason=None
        )
    session.rollback()
    session.refresh(placement)
    assert placement.status is PlacementStatus.CONFIRMED
    assert placement.mentor_decision is MentorDecision.ACCEPTED


def race_after_read(
    session: Session, engine: Engine, statement: str, row_id: int | None
) -> Callable[[], None]:
    """Make the next ``session.refresh`` let another writer commit ``statement`` right after
    the read: the widest possible window between ``transition``'s check and its write."""
    real_refresh = session.refresh
    raced: list[bool] = []

    def refresh_then_race(instance: object, *args: object, **kwargs: object) -> None:
        real_refresh(instance, *args, **kwargs)
        if not raced:
            raced.append(True)
            with engine.begin() as connection:
                connection.execute(text(statement), {"id": row_id})

    session.refresh = refresh_then_race  # type: ignore[method-assign]
    return lambda: setattr(session, "refresh", real_refresh)


def test_two_mentor_decisions_at_once_record_one(engine: Engine, session: Session) -> None:
    """Window test for mentor decisions: the other decision (an accept) commits after this
    decline read the row; the update's "no mentor decision yet" condition refuses the decline."""
    placement = proposal(session, PlacementStatus.CONFIRMED)
    restore = race_after_read(
        session,
        engine,
        "UPDATE placement SET mentor_decision = 'accepted' WHERE id = :id",
        placement.id,
    )
    with pytest.raises(StaleState, match="inzwischen geändert"):
        lifecycle.transition(
            session, placement, PlacementEvent.HOST_DECLINE, actor="m", reason=None
        )
    restore()
    session.rollback()
    session.refresh(placement)
    assert placement.status is PlacementStatus.CONFIRMED
    assert placement.mentor_decision is MentorDecision.ACCEPTED
    assert audit_rows(session, placement.round_id) == []


def test_a_confirmation_of_a_proposal_rejected_meanwhile_is_refused(
    engine: Engine, session: Session
) -> None:
    """Window test for confirmations at the lowest level: the status condition of the update."""
    placement = proposal(session)
    restore = race_after_read(
        session, engine, "UPDATE placement SET status = 'rejected' WHERE id = :id", placement.id
    )
    with pytest.raises(StaleState, match=r"jetzt „rejected“"):
        lifecycle.transition(session, placement, PlacementEvent.CONFIRM, actor="c", reason=None)
    restore()
    session.rollback()
    session.refresh(placement)
    assert placement.status is PlacementStatus.REJECTED


@pytest.mark.parametrize(
    "status", [PlacementStatus.REJECTED, PlacementStatus.SUPERSEDED, PlacementStatus.CONFIRMED]
)
def test_confirm_needs_a_proposal(session: Session, status: PlacementStatus) -> None:
    placement = proposal(session, status)
    label = lifecycle.placement_label(session, placement)
    with pytest.raises(StaleState) as refused:
        lifecycle.transition(session, placement, PlacementEvent.CONFIRM, actor="c", reason=None)
    assert refused.value.message == (
        f"{label} ist „{status.value}“; „confirm“ ist so nicht möglich."
    )
    assert str(refused.value) == refused.value.message
    session.rollback()
    session.refresh(placement)
    assert placement.status is status


def test_a_second_confirmed_place_is_refused_by_the_unique_index(session: Session) -> None:
    round_id, [applicant], offer = round_with_pair(session)
    [other] = crud.add_offers(
        session=session,
        round_id=round_id,
        offers=[make_offer("H-2")],
    )
    assert other.id is not None
    place(session, round_id, applicant, offer, PlacementStatus.CONFIRMED)
    second = place(session, round_id, applicant, other.id, PlacementStatus.PROPOSED)
    session.commit()
    label = lifecycle.placement_label(session, second)
    with pytest.raises(StaleState) as refused:
        lifecycle.transition(session, second, PlacementEvent.CONFIRM, actor="c", reason=None)
    assert refused.value.message == f"{label}: die Bewerbung hat bereits einen bestätigten Platz."


def round_row(session: Session) -> Round:
    round_ = crud.create_round(session=session, name="Zustände")
    session.commit()
    return round_


def test_a_round_change_is_stored_and_audited(session: Session) -> None:
    round_ = round_row(session)
    lifecycle.change_round(session, round_, RoundStatus.MATCHING, actor="c", reason="los")
    lifecycle.change_round(session, round_, RoundStatus.CLOSED, actor="c")
    session.commit()
    session.refresh(round_)
    assert round_.status is RoundStatus.CLOSED
    entries = crud.list_audit(session=session, round_id=round_.id or 0)
    assert [(e.actor, e.action, e.reason) for e in entries] == [
        ("c", "round_matching", "los"),
        ("c", "round_close", None),
    ]


def test_a_round_already_in_the_state_is_left_alone(session: Session) -> None:
    round_ = round_row(session)
    assert lifecycle.change_round(session, round_, RoundStatus.OPEN, actor="c") is round_
    assert crud.list_audit(session=session, round_id=round_.id or 0) == []


def test_a_round_change_outside_the_table_is_refused(session: Session) -> None:
    round_ = round_row(session)
    lifecycle.change_round(session, round_, RoundStatus.CLOSED, actor="c")
    with pytest.raises(StaleState) as refused:
        lifecycle.change_round(session, round_, RoundStatus.OPEN, actor="c")
    assert refused.value.message == "Statuswechsel closed → open ist nicht erlaubt."


def test_a_round_changed_meanwhile_is_refused(engine: Engine, session: Session) -> None:
    round_ = round_row(session)
    restore = race_after_read(
        session, engine, "UPDATE round SET status = 'matching' WHERE id = :id", round_.id
    )
    with pytest.raises(StaleState, match=r"^Der Status der Runde wurde inzwischen geändert\.$"):
        lifecycle.change_round(session, round_, RoundStatus.CLOSED, actor="c")
    restore()
    session.rollback()
    assert crud.list_audit(session=session, round_id=round_.id or 0) == []


def test_a_transition_changes_its_own_row_only(session: Session) -> None:
    round_id, applicants, offer = round_with_pair(session, applicants=2)
    chosen, other = (
        place(session, round_id, a, offer, PlacementStatus.PROPOSED) for a in applicants
    )
    session.commit()
    lifecycle.transition(session, chosen, PlacementEvent.REJECT, actor="c", reason=None)
    session.commit()
    session.refresh(other)
    assert (chosen.status, other.status) == (PlacementStatus.REJECTED, PlacementStatus.PROPOSED)


def test_a_round_change_changes_its_own_round_only(session: Session) -> None:
    round_, other = round_row(session), round_row(session)
    lifecycle.change_round(session, round_, RoundStatus.MATCHING, actor="c")
    session.commit()
    session.refresh(other)
    assert (round_.status, other.status) == (RoundStatus.MATCHING, RoundStatus.OPEN)
