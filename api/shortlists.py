"""Shortlists for coordinators, "Meine Vorschläge" for applicants, guests for mentors.

All read the engine's ranking for the round; the suggestion fields are those of the CLI's
``rank --json``.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

import matcher
from api import cache, learning, services
from api.auth import Principal
from api.errors import NotFound
from matcher import PairScores, TopicScorer
from matcher.explain import explanation_language
from matcher.scoring import score_prepared
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
from models.tables import Applicant, Placement, PlacementStatus

STATUS_LABELS = {
    PlacementStatus.PROPOSED: "vorgeschlagen",
    PlacementStatus.CONFIRMED: "bestätigt",
    PlacementStatus.REJECTED: "abgelehnt",
}


def suggestion_public(
    scores: PairScores, suggestion: matcher.Suggestion, rerank_explanation: str | None = None
) -> SuggestionPublic:
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
        rerank_explanation=rerank_explanation,
    )


def _applicant_scores(
    session: Session, scorer: TopicScorer, round_id: int, applicant: Applicant
) -> PairScores:
    """One applicant against every offer of the round.

    Exactly ``matcher.score_pairs(scorer, [applicant], offers, confirmed=confirmed)``; the
    offers' side (records, vectors, baselines) comes prepared from the round cache.
    """
    offers = cache.round_offers(session, scorer, round_id)
    return score_prepared(
        scorer,
        [services.applicant_record(applicant)],
        offers.prepared,
        confirmed=_confirmed(session, round_id, offers),
    )


def _confirmed(session: Session, round_id: int, offers: cache.RoundOffers) -> dict[str, str]:
    """Applicant id → offer id of the round's confirmed placements (as ``load_round`` has it)."""
    statement = (
        select(Applicant.external_id, Placement.offer_id)
        .join(Applicant, col(Applicant.id) == col(Placement.applicant_id))
        .where(Placement.round_id == round_id, Placement.status == PlacementStatus.CONFIRMED)
        .order_by(col(Placement.id))
    )
    return {
        applicant_id: offers.offer_ids.get(offer_row)
        or services.offer_external_id(session, offer_row)
        for applicant_id, offer_row in session.exec(statement)
    }


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
    ranker = learning.ranker_for(session, services.require_round(session, round_id))
    scores = ranker.apply(_applicant_scores(session, scorer, round_id, applicant))
    ranking = matcher.rank_applicant(scores, 0, top_k=top_k, topic_only=topic_only)
    return ShortlistPublic(
        applicant_id=applicant_id,
        ranker=ranker.name,
        suggestions=[
            suggestion_public(scores, s, ranker.explain(scores, 0, scores.offer_index[s.offer_id]))
            for s in ranking.suggestions
        ],
    )


def candidates(
    session: Session, scorer: TopicScorer, round_id: int, offer_id: str, *, top_k: int
) -> CandidateListPublic:
    """Best ``top_k`` feasible applicants for an offer of the round."""
    services.require_offer(session, round_id, offer_id)
    offers = cache.round_offers(session, scorer, round_id)
    applicants = [
        services.applicant_record(row)
        for row in crud.list_applicants(session=session, round_id=round_id)
    ]
    scores = score_prepared(
        scorer, applicants, offers.prepared, confirmed=_confirmed(session, round_id, offers)
    )
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
    language = explanation_language(scores.applicants[0], applicant.explanation_language)
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
                explanation=matcher.explain(scores, 0, j).render(language),
                explanation_language=language,
                status=status_of.get(offer_id, "Vorschlag"),
            )
        )
    return result


def choose_explanation_language(
    session: Session, principal: Principal, language: str | None
) -> None:
    """Store the applicant's choice of explanation language (the caller commits)."""
    applicant = session.get(Applicant, principal.applicant_id) if principal.applicant_id else None
    if applicant is None:
        raise NotFound("Keine Bewerbung zu diesem Token.")
    applicant.explanation_language = language
    session.add(applicant)


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
