"""Coordinators' decisions: list, confirm, reject (one or many), place by hand, withdraw,
release, and the to-do list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api import decisions, services
from api.deps import CoordinatorDep, IdPath, ScorerDep, SessionDep, WriteLockDep
from models import crud
from models.lifecycle import PlacementEvent
from models.schemas import (
    BulkDecisions,
    Decision,
    ManualPlacement,
    PlacementView,
    ReasonedDecision,
    TodoList,
)
from models.tables import PlacementStatus

router = APIRouter(prefix="/api/rounds/{round_id}", tags=["Entscheidungen"])


@router.get("/placements")
def list_placements(
    round_id: IdPath,
    session: SessionDep,
    _: CoordinatorDep,
    status_filter: Annotated[PlacementStatus | None, Query(alias="status")] = None,
) -> list[PlacementView]:
    services.require_round(session, round_id)
    placements = crud.list_placements(session=session, round_id=round_id, status=status_filter)
    return [services.placement_view(session, p) for p in placements]


@router.post("/placements", status_code=status.HTTP_201_CREATED)
def place_by_hand(
    round_id: IdPath,
    body: ManualPlacement,
    session: SessionDep,
    scorer: ScorerDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PlacementView:
    """Place an applicant on a feasible offer directly (confirmed at once)."""
    services.require_round(session, round_id, writable=True)
    with decisions.writing(session, lock):
        placement = decisions.place_manually(
            session,
            scorer,
            round_id,
            body.applicant_id,
            body.offer_id,
            principal,
            body.reason,
            override_rejection=body.override_rejection,
        )
    return services.placement_view(session, placement)


def _decide(
    round_id: IdPath,
    placement_id: IdPath,
    decision: Literal["confirm", "reject"],
    body: Decision | None,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PlacementView:
    services.require_round(session, round_id, writable=True)
    with decisions.writing(session, lock):
        placement = decisions.decide(
            session, round_id, placement_id, decision, principal, body.reason if body else None
        )
    return services.placement_view(session, placement)


@router.post("/placements/{placement_id}/confirm")
def confirm(
    round_id: IdPath,
    placement_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
    body: Decision | None = None,
) -> PlacementView:
    """Confirm a proposal; 409 if its place is gone or a constraint no longer holds."""
    return _decide(round_id, placement_id, "confirm", body, session, lock, principal)


@router.post("/placements/{placement_id}/reject")
def reject(
    round_id: IdPath,
    placement_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
    body: Decision | None = None,
) -> PlacementView:
    """Reject a proposal; later runs never propose the pair again."""
    return _decide(round_id, placement_id, "reject", body, session, lock, principal)


@router.post("/decisions")
def decide_many(
    round_id: IdPath,
    body: BulkDecisions,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> list[PlacementView]:
    """Confirm or reject several proposals at once: all succeed, or none is stored."""
    services.require_round(session, round_id, writable=True)
    with decisions.writing(session, lock):
        decided = decisions.decide_many(session, round_id, body.decisions, principal)
    return [services.placement_view(session, p) for p in decided]


def _end_confirmed(
    round_id: int,
    placement_id: int,
    event: Literal[PlacementEvent.WITHDRAW, PlacementEvent.RELEASE],
    body: ReasonedDecision,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PlacementView:
    services.require_round(session, round_id, writable=True)
    with decisions.writing(session, lock):
        placement = decisions.end_confirmed(
            session, round_id, placement_id, event, principal, body.reason
        )
    return services.placement_view(session, placement)


@router.post("/placements/{placement_id}/withdraw")
def withdraw(
    round_id: IdPath,
    placement_id: IdPath,
    body: ReasonedDecision,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PlacementView:
    """The applicant drops out of a confirmed placement: the place is free at once, the
    applicant's open proposals are superseded and later runs leave them out."""
    return _end_confirmed(
        round_id, placement_id, PlacementEvent.WITHDRAW, body, session, lock, principal
    )


@router.post("/placements/{placement_id}/release")
def release(
    round_id: IdPath,
    placement_id: IdPath,
    body: ReasonedDecision,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PlacementView:
    """A coordinator gives a confirmed place up (with a reason): it is free at once, and later
    runs do not propose the pair again."""
    return _end_confirmed(
        round_id, placement_id, PlacementEvent.RELEASE, body, session, lock, principal
    )


@router.get("/todo")
def todo(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> TodoList:
    """Freed places with the offer's alternates, placements to review, undecided proposals."""
    services.require_round(session, round_id)
    return decisions.todo(session, round_id)
