"""Coordinator shortlists: best offers for an applicant, best applicants for an offer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import services, shortlists
from api.deps import (
    CoordinatorDep,
    IdPath,
    PlainBool,
    PlainDigits,
    ScorerDep,
    SessionDep,
    SettingsDep,
)
from models.schemas import CandidateListPublic, ShortlistPublic

router = APIRouter(prefix="/api/rounds/{round_id}", tags=["Shortlists"])

TopK = Annotated[
    int | None, PlainDigits, Query(ge=1, le=100, description="length; default MATCHER_TOP_K")
]


@router.get("/applicants/{applicant_id:record_id}/shortlist", response_model=ShortlistPublic)
def applicant_shortlist(
    round_id: IdPath,
    applicant_id: str,
    session: SessionDep,
    scorer: ScorerDep,
    settings: SettingsDep,
    _: CoordinatorDep,
    top_k: TopK = None,
    topic_only: Annotated[
        bool,
        PlainBool,
        Query(description="every offer by topic fit alone, marked feasible or not"),
    ] = False,
) -> Response:
    """Best feasible offers with score, score parts and the German explanation."""
    answer = shortlists.shortlist(
        session,
        scorer,
        round_id,
        applicant_id,
        top_k=top_k or settings.top_k,
        topic_only=topic_only,
    )
    # Serialised here: FastAPI would dump the model to a dict, validate that into a new model
    # and serialise it, 7 % of a shortlist request's time for the same bytes.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/offers/{offer_id:record_id}/candidates")
def offer_candidates(
    round_id: IdPath,
    offer_id: str,
    session: SessionDep,
    scorer: ScorerDep,
    settings: SettingsDep,
    _: CoordinatorDep,
    top_k: TopK = None,
) -> CandidateListPublic:
    """Best feasible applicants for an offer."""
    services.require_round(session, round_id)
    return shortlists.candidates(session, scorer, round_id, offer_id, top_k=top_k or settings.top_k)
