"""Rounds: create, list, show, change status, JSON import, audit log (files: ``office``)."""

from __future__ import annotations

from fastapi import APIRouter, status

import matcher
from api import decisions, services
from api.deps import CoordinatorDep, IdPath, SessionDep, WriteLockDep
from models import crud
from models.schemas import (
    ImportBody,
    ImportResult,
    RoundStatusUpdate,
    RoundSummary,
)
from models.tables import RoundCreate

router = APIRouter(prefix="/api/rounds", tags=["Runden"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_round(body: RoundCreate, session: SessionDep, _: CoordinatorDep) -> RoundSummary:
    """Open a new round."""
    round_ = crud.create_round(session=session, name=body.name, direction=body.direction)
    session.commit()
    return services.round_summary(session, round_)


@router.get("")
def list_rounds(session: SessionDep, _: CoordinatorDep) -> list[RoundSummary]:
    return [services.round_summary(session, r) for r in crud.list_rounds(session=session)]


@router.get("/{round_id}")
def show_round(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> RoundSummary:
    """A round with its counts of applicants, offers, places and placements."""
    return services.round_summary(session, services.require_round(session, round_id))


@router.patch("/{round_id}")
def change_status(
    round_id: IdPath,
    body: RoundStatusUpdate,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> RoundSummary:
    """open ⇄ matching → closed, and closed → matching (reopen). Closing refuses undecided
    proposals (409 with their count) unless ``reject_pending`` is true; not while a run is
    active."""
    with decisions.writing(session, lock):
        round_ = decisions.change_round_status(
            session, round_id, body.status, principal, reject_pending=body.reject_pending
        )
    return services.round_summary(session, round_)


@router.post("/{round_id}/import", status_code=status.HTTP_201_CREATED)
def import_json(
    round_id: IdPath, body: ImportBody, session: SessionDep, lock: WriteLockDep, _: CoordinatorDep
) -> ImportResult:
    """Add offers and applicants in the interchange format: all of them, or none (422)."""
    services.require_round(session, round_id, writable=True)
    offers, applicants = matcher.parse_round(
        lambda: matcher.parse_records(matcher.Offer, body.offers, source="offers"),
        lambda: matcher.parse_records(matcher.Applicant, body.applicants, source="applicants"),
    )
    with lock:
        services.import_records(session, round_id, offers=offers, applicants=applicants)
        session.commit()
    return ImportResult(offers=len(offers), applicants=len(applicants))
