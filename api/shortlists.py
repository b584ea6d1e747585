"""Shortlists for coordinators, "Meine Vorschläge" for applicants, guests for mentors.

All read the engine's ranking for the round; the suggestion fields are those of the CLI's
``rank --json``.
"""

from __future__ import annotations

from sqlmodel import Session

import matcher
from api import services
from api.auth import Principal
from api.errors import NotFound
from matcher import PairScores, TopicScorer
from models import crud
from models.schemas import (
    CandidateListPublic,
    CandidatePublic,
    MentorGuest,
    MySuggestion,
    ScoreParts,
    ShortlistPublic,
    SuggestionPublic,
)
from models.tables import Applicant, PlacementStatus

STATUS_LABELS = {
    PlacementStatus.PROPOSED: "vorgeschlagen",
    PlacementStatus.CONFIRMED: "bestätigt",
    PlacementStatus.REJECTED: "abgelehnt",
}


def suggestion_public(scores: PairScores, suggestion: matcher.Suggestion) -> SuggestionPublic:
    offer = scores.offers[scores.offer_index[suggestion.offer_id]]
    return SuggestionPublic(
        offer_id=suggestion.offer_id,
        city=offer.city,
        title=offer.title,
        score=round(suggestion.score, 6),
        feasible=suggestion.feasible,
        reasons=list(suggestion.reasons),
        explanation=suggestion.explanation.text,
        parts=ScoreParts(
            topic_fit=round(suggestion.topic_fit, 6),
            preference_bonus=suggestion.preference_bonus,
        ),
        applicant_sentence=suggestion.explanation.applicant_sentence,
        offer_sentence=suggestion.explanation.offer_sentence,
    )


def _applicant_scores(
    session: Session, scorer: TopicScorer, round_id: int, applicant: Applicant
) -> PairScores:
    """One applicant against every offer of the round (embeddings come from the cache)."""
    state = services.load_round(session, round_id)
    record = services.applicant_record(applicant)
    return matcher.score_pairs(scorer, [record], state.offers, confirmed=state.confirmed)


def shortlist(
    session: Session,
    scorer: TopicScorer,
    round_id: int,
    applicant_id: str,
    *,
    top_k: int,
    topic_only: bool = False,
) -> ShortlistPublic:
    """Best ``top_k`` offers for an applicant of the round."""
    applicant = services.require_applicant(session, round_id, applicant_id)
    scores = _applicant_scores(session, scorer, round_id, applicant)
    ranking = matcher.rank_applicant(scores, 0, top_k=top_k, topic_only=topic_only)
    return ShortlistPublic(
        applicant_id=applicant_id,
        suggestions=[suggestion_public(scores, s) for s in ranking.suggestions],
    )


def candidates(
    session: Session, scorer: TopicScorer, round_id: int, offer_id: str, *, top_k: int
) -> CandidateListPublic:
    """Best ``top_k`` feasible applicants for an offer of the round."""
    services.require_offer(session, round_id, offer_id)
    state = services.load_round(session, round_id)
    scores = services.score_round(scorer, state)
    j = scores.offer_index[offer_id]
    ranking = matcher.rank_candidates(scores, j, top_k=top_k)
    result = []
    for applicant_id, score in ranking.candidates:
        i = scores.applicant_index[applicant_id]
        applicant = scores.applicants[i]
        result.append(
            CandidatePublic(
                applicant_id=applicant_id,
                position=applicant.position,
                home_organisation=applicant.home_organisation,
                score=round(score, 6),
                explanation=matcher.explain(scores, i, j).text,
            )
        )
    return CandidateListPublic(offer_id=offer_id, candidates=result)


def my_suggestions(
    session: Session, scorer: TopicScorer, principal: Principal, *, top_k: int
) -> list[MySuggestion]:
    """The applicant's placements first (with their status), then further feasible hosts."""
    applicant = session.get(Applicant, principal.applicant_id) if principal.applicant_id else None
    if applicant is None:
        raise NotFound("Keine Bewerbung zu diesem Token.")
    scores = _applicant_scores(session, scorer, applicant.round_id, applicant)
    status_of = {
        services.offer_external_id(session, p.offer_id): STATUS_LABELS[p.status]
        for p in crud.placements_of_applicant(
            session=session, applicant_id=services.row_id(applicant.id)
        )
    }
    ranking = matcher.rank_applicant(scores, 0, top_k=top_k)
    offer_ids = [
        *status_of,
        *(s.offer_id for s in ranking.suggestions if s.offer_id not in status_of),
    ]
    result = []
    for offer_id in offer_ids:
        j = scores.offer_index[offer_id]
        offer = scores.offers[j]
        result.append(
            MySuggestion(
                offer_id=offer_id,
                title=offer.title,
                organisation=offer.organisation,
                city=offer.city,
                mentor_name=offer.mentor_name,
                explanation=matcher.explain(scores, 0, j).text,
                status=status_of.get(offer_id, "Vorschlag"),
            )
        )
    return result


def mentor_guests(session: Session, principal: Principal) -> list[MentorGuest]:
    """Proposed and confirmed guests on the mentor's own offers."""
    guests = []
    placements = crud.placements_of_offers(session=session, offer_ids=sorted(principal.offer_ids))
    for placement in placements:
        if placement.status is PlacementStatus.REJECTED:
            continue
        applicant = session.get(Applicant, placement.applicant_id)
        assert applicant is not None and placement.id is not None
        guests.append(
            MentorGuest(
                placement_id=placement.id,
                offer_id=services.offer_external_id(session, placement.offer_id),
                applicant_id=applicant.external_id,
                name=applicant.name,
                position=applicant.position,
                home_organisation=applicant.home_organisation,
                motivation=applicant.motivation,
                weeks_wanted=applicant.weeks_wanted,
                status=placement.status,
                mentor_decision=placement.mentor_decision,
            )
        )
    return guests
