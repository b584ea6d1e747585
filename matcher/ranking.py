"""Shortlists: the best offers for each applicant (and the best applicants for an offer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.explain import Explanation, explain
from matcher.scoring import PairScores


@dataclass(frozen=True)
class Suggestion:
    """One ranked offer for an applicant, with its score parts and the German explanation."""

    offer_id: str
    score: float
    topic_fit: float
    preference_bonus: float
    feasible: bool
    reasons: tuple[str, ...]
    explanation: Explanation


@dataclass(frozen=True)
class Ranking:
    """Suggestions for one applicant, best first."""

    applicant_id: str
    suggestions: tuple[Suggestion, ...]


@dataclass(frozen=True)
class CandidateRanking:
    """Applicants for one offer, best first (the offer-side shortlist)."""

    offer_id: str
    candidates: tuple[tuple[str, float], ...]


def suggestion(scores: PairScores, i: int, j: int, *, topic_only: bool = False) -> Suggestion:
    """The suggestion for pair (i, j); ``topic_only`` scores without the city bonus."""
    return Suggestion(
        offer_id=scores.offers[j].id,
        score=float(scores.topic_score[i, j] if topic_only else scores.score[i, j]),
        topic_fit=float(scores.topic.fit[i, j]),
        preference_bonus=0.0 if topic_only else float(scores.bonus[i, j]),
        feasible=bool(scores.feasibility.feasible[i, j]),
        reasons=tuple(scores.feasibility.reasons(i, j)),
        explanation=explain(scores, i, j),
    )


def rank_applicant(
    scores: PairScores, i: int, *, top_k: int = 5, topic_only: bool = False
) -> Ranking:
    """Best ``top_k`` offers for applicant i.

    By default only feasible offers, ordered by score; with ``topic_only`` every offer, ordered
    by topic fit alone and marked feasible or not (the view used for evaluation).
    """
    values = scores.topic.fit[i] if topic_only else scores.score[i]
    order = best_first(values, scores.feasibility.feasible[i] if not topic_only else None)
    chosen = order[: max(0, top_k)]
    return Ranking(
        applicant_id=scores.applicants[i].id,
        suggestions=tuple(suggestion(scores, i, int(j), topic_only=topic_only) for j in chosen),
    )


def rank(scores: PairScores, *, top_k: int = 5, topic_only: bool = False) -> list[Ranking]:
    """Shortlists for every applicant, in input order."""
    return [
        rank_applicant(scores, i, top_k=top_k, topic_only=topic_only)
        for i in range(len(scores.applicants))
    ]


def rank_candidates(scores: PairScores, j: int, *, top_k: int = 5) -> CandidateRanking:
    """Best ``top_k`` feasible applicants for offer j."""
    order = best_first(scores.score[:, j], scores.feasibility.feasible[:, j])
    return CandidateRanking(
        offer_id=scores.offers[j].id,
        candidates=tuple(
            (scores.applicants[int(i)].id, float(scores.score[i, j])) for i in order[:top_k]
        ),
    )


def best_first(values: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Indices by descending value (ties: input order), restricted to ``allowed``."""
    order = np.argsort(-values, kind="stable")
    return order if allowed is None else order[allowed[order]]
