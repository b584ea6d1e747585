"""Shortlists for coordinators, "Meine Vorschläge" for applicants, guests for mentors.

All read the engine's ranking for the round; the suggestion fields are those of the CLI's
``rank --json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

import numpy as np
from sqlmodel import Session

import matcher
from api import cache, learning, services
from api.auth import Principal
from api.errors import NotFound
from api.office import stay_dates
from matcher import PairScores, TopicScorer
from matcher.explain import explanation_language
from matcher.ranking import suggestion
from matcher.scoring import score_prepared
from matcher.strength import StrengthThresholds, load_thresholds
from matcher.text import split_sentences
from matcher.topic import embed_applicants
from matcher.toplist import TOPIC_VIEW, listed_scores
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
from models.tables import Applicant, Offer, Placement, PlacementStatus, Round

STATUS_LABELS = {
    PlacementStatus.PROPOSED: "vorgeschlagen",
    PlacementStatus.CONFIRMED: "bestätigt",
    PlacementStatus.REJECTED: "abgelehnt",
    PlacementStatus.SUPERSEDED: "nicht mehr aktuell",
    PlacementStatus.WITHDRAWN: "zurückgezogen",
    PlacementStatus.DECLINED_BY_HOST: "abgesagt",
    PlacementStatus.RELEASED: "aufgehoben",
}


def worded(
    thresholds: StrengthThresholds, scores: PairScores, i: int, j: int, language: str = "de"
) -> tuple[str, str]:
    """The pair's strength label and its explanation worded by it (no similarity figure)."""
    label = thresholds.label(float(scores.topic.fit[i, j])).value
    return label, replace(matcher.explain(scores, i, j), strength=label).render(language)


def suggestion_public(
    scores: PairScores,
    suggestion: matcher.Suggestion,
    thresholds: StrengthThresholds,
    rerank_explanation: str | None = None,
    placement_status: PlacementStatus | None = None,
) -> SuggestionPublic:
    j = scores.offer_index[suggestion.offer_id]
    offer = scores.offers[j]
    strength, explanation = worded(thresholds, scores, 0, j)
    return SuggestionPublic(
        offer_id=suggestion.offer_id,
        city=offer.city,
        title=offer.title,
        score=round(suggestion.score, 6),
        feasible=suggestion.feasible,
        reasons=list(suggestion.reasons),
        explanation=explanation,
        strength=strength,
        parts=ScoreParts(
            topic_fit=round(suggestion.topic_fit, 6),
            preference_bonus=suggestion.preference_bonus,
        ),
        applicant_sentence=suggestion.explanation.applicant_sentence,
        offer_sentence=suggestion.explanation.offer_sentence,
        rerank_explanation=rerank_explanation,
        placement_status=placement_status,
    )


# --- the applicant's own placements in their shortlist ------------------------------------------


def others_confirmed(confirmed: dict[str, str], applicant: Applicant) -> dict[str, str]:
    """The round's confirmed placements but the applicant's own: their own place is theirs, not
    taken (it was listed as infeasible, „kein freier Platz“)."""
    return {a: o for a, o in confirmed.items() if a != applicant.external_id}


def placement_statuses(session: Session, applicant: Applicant) -> dict[str, PlacementStatus]:
    """Offer id → status of the applicant's latest placement on it (confirmed, rejected, …)."""
    return crud.placement_statuses(session=session, applicant_id=services.row_id(applicant.id))


def _applicant_scores(
    session: Session, scorer: TopicScorer, round_: Round, applicant: Applicant
) -> PairScores:
    """One applicant against every offer of the round: the full computation.

    Exactly ``matcher.score_pairs(scorer, [applicant], offers, confirmed=confirmed)``; the
    offers' side (records, vectors, baselines) comes prepared from the round cache.
    """
    offers = cache.round_offers(session, scorer, round_)
    return score_prepared(
        scorer,
        [services.applicant_record(applicant)],
        offers.prepared,
        confirmed=others_confirmed(
            cache.confirmed_on(session, services.row_id(round_.id), offers), applicant
        ),
    )


def shortlist(
    session: Session,
    scorer: TopicScorer,
    round_id: int,
    applicant_id: str,
    *,
    top_k: int,
    topic_only: bool = False,
    full: bool = False,
) -> ShortlistPublic:
    """Best ``top_k`` offers for an applicant of the round.

    Read from the applicant's cached heads (``matcher.toplist``) when they can tell, else
    computed against every offer; ``full`` forces the latter (the reference the benchmark and
    the tests compare with: both give the same JSON).
    """
    round_, applicant, newest_ranker = services.require_round_applicant(
        session, round_id, applicant_id
    )
    ranker = learning.ranker_known(session, round_, newest_ranker)
    thresholds = load_thresholds(scorer.embedder.model_id)
    listed = (
        None
        if full
        else _from_heads(session, scorer, round_, applicant, ranker, thresholds, top_k, topic_only)
    )
    if listed is None:
        scores = ranker.apply(_applicant_scores(session, scorer, round_, applicant))
        ranking = matcher.rank_applicant(scores, 0, top_k=top_k, topic_only=topic_only)
        listed = _marked(
            _listed(scores, ranking.suggestions, ranker, thresholds),
            placement_statuses(session, applicant),
        )
    return ShortlistPublic(applicant_id=applicant_id, ranker=ranker.name, suggestions=listed)


def _marked(
    listed: list[SuggestionPublic], statuses: dict[str, PlacementStatus]
) -> list[SuggestionPublic]:
    """The suggestions with the status of the applicant's placement on each offer, if any.

    Marked after a kept answer is read (the applicant's placements are not part of its key);
    kept suggestions are shared between requests, so a marked one is a copy.
    """
    return [
        s.model_copy(update={"placement_status": statuses[s.offer_id]})
        if s.offer_id in statuses
        else s
        for s in listed
    ]


def _listed(
    scores: PairScores,
    suggestions: Sequence[matcher.Suggestion],
    ranker: learning.Ranker,
    thresholds: StrengthThresholds,
) -> list[SuggestionPublic]:
    """The suggestions as shown, with the ranker's explanation of each pair."""
    return [
        suggestion_public(
            scores, s, thresholds, ranker.explain(scores, 0, scores.offer_index[s.offer_id])
        )
        for s in suggestions
    ]


def _from_heads(
    session: Session,
    scorer: TopicScorer,
    round_: Round,
    applicant: Applicant,
    ranker: learning.Ranker,
    thresholds: StrengthThresholds,
    top_k: int,
    topic_only: bool,
) -> list[SuggestionPublic] | None:
    """The shortlist from the applicant's heads, best first; None when the head cannot tell
    (too few listed offers with a free place).

    The answer is a function of the heads (offers version, applicant record), the ranker, the
    view, ``top_k`` and the confirmed placements per offer of the head: with those as its key
    it is kept, and a repeated request only reads the placements (one query: those on the
    head's offers and the applicant's own, which mark the answer).
    """
    round_id = services.row_id(round_.id)
    entry = cache.round_offers(session, scorer, round_)
    rankers = [learning.Ranker(learning.BASE_RANKER), ranker]
    record = services.applicant_record(applicant)
    cached = cache.heads_for(scorer, entry, applicant, record, rankers)
    heads = cached.heads
    head = heads.heads[TOPIC_VIEW if topic_only else ranker.name]
    confirmed, statuses = cache.shortlist_placements(
        session, round_id, entry, services.row_id(applicant.id), entry.row_ids[head.columns]
    )
    taken = Counter(confirmed.values())
    ids = [entry.offer_ids[int(row)] for row in entry.row_ids[head.columns]]
    counts = np.array([taken[i] for i in ids], dtype=np.int64)
    key = (ranker.name, topic_only, top_k, counts.tobytes())
    answer: list[SuggestionPublic] | None = cached.answers.get(key)
    if answer is not None:
        return _marked(answer, statuses)
    has_place = entry.prepared.constraints.capacity[head.columns] - counts > 0
    positions = head.first(has_place, top_k)
    if positions is None:
        return None
    texts = embed_applicants(scorer.embedder, [record])
    scores = listed_scores(heads, entry.prepared, record, texts, head.columns[positions], confirmed)
    suggestions = [
        replace(suggestion(scores, 0, r, topic_only=topic_only), score=float(head.shown[p]))
        for r, p in enumerate(positions)
    ]
    answer = _listed(scores, suggestions, ranker, thresholds)
    cached.remember(key, answer)
    return _marked(answer, statuses)


def candidates(
    session: Session, scorer: TopicScorer, round_id: int, offer_id: str, *, top_k: int
) -> CandidateListPublic:
    """Best ``top_k`` feasible applicants for an offer of the round."""
    services.require_offer(session, round_id, offer_id)
    offers = cache.round_offers(session, scorer, services.require_round(session, round_id))
    applicants = [
        services.applicant_record(row)
        for row in crud.list_applicants(session=session, round_id=round_id)
    ]
    scores = score_prepared(
        scorer, applicants, offers.prepared, confirmed=cache.confirmed_on(session, round_id, offers)
    )
    j = scores.offer_index[offer_id]
    ranking = matcher.rank_candidates(scores, j, top_k=top_k)
    thresholds = load_thresholds(scorer.embedder.model_id)
    result = []
    for applicant_id, score in ranking.candidates:
        i = scores.applicant_index[applicant_id]
        applicant = scores.applicants[i]
        strength, explanation = worded(thresholds, scores, i, j)
        result.append(
            CandidatePublic(
                applicant_id=applicant_id,
                position=applicant.position,
                home_organisation=applicant.home_organisation,
                score=round(score, 6),
                explanation=explanation,
                strength=strength,
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
    round_ = services.require_round(session, applicant.round_id)
    scores = _applicant_scores(session, scorer, round_, applicant)
    placements = crud.placements_of_applicant(
        session=session, applicant_id=services.row_id(applicant.id)
    )
    status_of = {
        services.offer_external_id(session, p.offer_id): STATUS_LABELS[p.status] for p in placements
    }
    stays = _stays(session, applicant, placements)
    language = explanation_language(scores.applicants[0], applicant.explanation_language)
    ranking = matcher.rank_applicant(scores, 0, top_k=top_k)
    offer_ids = [
        *status_of,
        *(s.offer_id for s in ranking.suggestions if s.offer_id not in status_of),
    ]
    thresholds = load_thresholds(scorer.embedder.model_id)
    result = []
    for offer_id in offer_ids:
        j = scores.offer_index[offer_id]
        offer = scores.offers[j]
        strength, explanation = worded(thresholds, scores, 0, j, language)
        stay_from, stay_until = stays.get(offer_id, (None, None))
        result.append(
            MySuggestion(
                offer_id=offer_id,
                title=offer.title,
                organisation=offer.organisation,
                city=offer.city,
                mentor_name=offer.mentor_name,
                strength=strength,
                explanation=explanation,
                explanation_language=language,
                status=status_of.get(offer_id, "Vorschlag"),
                stay_from=stay_from,
                stay_until=stay_until,
            )
        )
    return result


def _stays(
    session: Session, applicant: Applicant, placements: list[Placement]
) -> dict[str, tuple[date, date]]:
    """Offer id → stay dates of the applicant's proposed or confirmed placements."""
    stays = {}
    for placement in placements:
        offer = session.get(Offer, placement.offer_id)
        if offer is not None and placement.status in _HOLDING:
            stays[offer.external_id] = stay_dates(applicant, offer)
    return stays


#: The placements whose stay an applicant is shown: open or confirmed.
_HOLDING = {PlacementStatus.PROPOSED, PlacementStatus.CONFIRMED}


#: Longest motivation summary a mentor's list shows, in characters.
SUMMARY_CHARS = 280


def summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentences of a text that fit in ``limit`` characters (at least one, cut)."""
    kept = ""
    for sentence in split_sentences(text):
        if kept and len(kept) + 1 + len(sentence) > limit:
            break
        kept = f"{kept} {sentence}".strip()
    return kept if len(kept) <= limit else kept[: limit - 1].rstrip() + "…"


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
    placements = crud.placements_of_offers(session=session, offer_ids=sorted(principal.offer_ids))
    return [
        mentor_guest(session, placement)
        for placement in placements
        if placement.status not in {PlacementStatus.REJECTED, PlacementStatus.SUPERSEDED}
    ]


def mentor_guest(session: Session, placement: Placement) -> MentorGuest:
    """One guest as the mentor sees them: the guest's own data, no coordinators' fields."""
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    assert applicant is not None and offer is not None and placement.id is not None
    stay_from, stay_until = stay_dates(applicant, offer)
    return MentorGuest(
        placement_id=placement.id,
        offer_id=offer.external_id,
        offer_title=offer.title,
        applicant_id=applicant.external_id,
        name=applicant.name,
        position=applicant.position,
        home_organisation=applicant.home_organisation,
        available_from=applicant.available_from,
        available_until=applicant.available_until,
        weeks_wanted=applicant.weeks_wanted,
        stay_from=stay_from,
        stay_until=stay_until,
        motivation_summary=summary(applicant.motivation),
        motivation=applicant.motivation,
        status=placement.status,
        mentor_decision=placement.mentor_decision,
        mentor_reason=placement.mentor_reason,
    )
