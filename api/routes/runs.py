"""Batch matching runs: start in the background, watch progress, cancel."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import services
from api.deps import CoordinatorDep, IdPath, RunsDep, SessionDep
from api.errors import NotFound
from matcher import Mode
from models import crud
from models.schemas import RunCreate, RunPublic
from models.tables import MatchingRun

router = APIRouter(prefix="/api/rounds/{round_id}/runs", tags=["Batch-Zuordnung"])


def _public(run: MatchingRun) -> RunPublic:
    return RunPublic.model_validate(run, from_attributes=True)


def _require_run(session: SessionDep, round_id: IdPath, run_id: IdPath) -> MatchingRun:
    run = session.get(MatchingRun, run_id)
    if run is None or run.round_id != round_id:
        raise NotFound(f"Zuordnung {run_id} gibt es in Runde {round_id} nicht.")
    return run


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def start_run(
    round_id: IdPath, body: RunCreate, session: SessionDep, runs: RunsDep, principal: CoordinatorDep
) -> RunPublic:
    """Queue a batch assignment; confirmed placements stay, rejected pairs are excluded."""
    services.require_round(session, round_id, writable=True)
    run = runs.start(
        session,
        round_id=round_id,
        mode=Mode(body.mode),
        actor=principal.actor,
        parameters=body.model_dump(exclude={"mode"}),
    )
    return _public(run)


@router.get("")
def list_runs(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> list[RunPublic]:
    services.require_round(session, round_id)
    return [_public(run) for run in crud.list_runs(session=session, round_id=round_id)]


@router.get("/{run_id}")
def show_run(round_id: IdPath, run_id: IdPath, session: SessionDep, _: CoordinatorDep) -> RunPublic:
    """Status and progress; when done, proposals, unplaced applicants and alternates."""
    return _public(_require_run(session, round_id, run_id))


@router.post("/{run_id}/cancel")
def cancel_run(
    round_id: IdPath,
    run_id: IdPath,
    session: SessionDep,
    runs: RunsDep,
    principal: CoordinatorDep,
) -> RunPublic:
    """Stop a queued or running run; it writes no proposals."""
    run = _require_run(session, round_id, run_id)
    return _public(runs.cancel(session, run, actor=principal.actor))
