"""The learned re-ranker of a round: fit it from decisions, see which is active, switch it."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import learning, services
from api.deps import CoordinatorDep, IdPath, ScorerDep, SessionDep
from models import crud
from models.schemas import RankerStatus, RankerSwitch
from models.tables import Round

router = APIRouter(prefix="/api/rounds/{round_id}/ranker", tags=["Lernen aus Entscheidungen"])


def _status(session: SessionDep, round_: Round) -> RankerStatus:
    stored = crud.latest_ranker(session=session, up_to_round=services.row_id(round_.id))
    return RankerStatus(
        enabled=round_.reranker_enabled,
        active=learning.ranker_for(session, round_).name,
        version=stored.version if stored else None,
        confirmed=stored.confirmed if stored else 0,
        rejected=stored.rejected if stored else 0,
        learned_at=stored.created_at if stored else None,
    )


@router.get("")
def show_ranker(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> RankerStatus:
    """Which ranker the round's shortlists and runs use."""
    return _status(session, services.require_round(session, round_id))


@router.post("/learn", status_code=status.HTTP_201_CREATED)
def learn(
    round_id: IdPath, session: SessionDep, scorer: ScorerDep, principal: CoordinatorDep
) -> RankerStatus:
    """Fit the re-ranker on confirmed and rejected placements up to this round (409 if too few)."""
    learning.learn(session, scorer, round_id, principal.actor)
    session.commit()
    return _status(session, services.require_round(session, round_id))


@router.patch("")
def switch_ranker(
    round_id: IdPath, body: RankerSwitch, session: SessionDep, _: CoordinatorDep
) -> RankerStatus:
    """Switch the learned re-ranker on or off for this round."""
    round_ = services.require_round(session, round_id, writable=True)
    round_.reranker_enabled = body.enabled
    session.add(round_)
    session.commit()
    return _status(session, round_)
