"""The score of every (applicant, offer) pair: topic fit, city preference, feasibility.

``rank``, ``explain`` and ``assign`` all read one :class:`PairScores`, so the score a
placement gets in an assignment is, by construction, the score the ranking shows for that pair.

Score = sigmoid((fit + preference bonus) / SCORE_TEMPERATURE), in (0, 1): 0.5 is the fit of a
typical application, ideal pairs of the development set have a median of about 0.88.

City preferences are a soft bonus on the fit (cosine units): +0.03 for the first preferred
city, +0.02 for the second, +0.01 for the third. It reorders near-ties, but an offer whose
topic fit is more than 0.03 better always ranks above, whatever the preferences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from matcher.constraints import Feasibility, check_feasibility
from matcher.embedding import Embedder
from matcher.records import Applicant, Offer, ids_of
from matcher.topic import EmbeddedTexts, TopicFit, TopicScorer, embed_applicants, embed_offers

PREFERENCE_BONUS: tuple[float, ...] = (0.03, 0.02, 0.01)
#: Largest bonus: a topic-fit gap above this is never overturned by preferences.
MAX_PREFERENCE_BONUS = max(PREFERENCE_BONUS)
SCORE_TEMPERATURE = 0.1


def preference_rank(applicant: Applicant, city: str) -> int | None:
    """0 for the first preferred city, 1 for the second, …; None if not preferred."""
    wanted = [preferred.casefold() for preferred in applicant.preferred_cities]
    folded = city.casefold()
    return wanted.index(folded) if folded in wanted else None


def preference_bonus(applicant: Applicant, city: str) -> float:
    """Soft bonus for an offer in one of the applicant's preferred cities."""
    rank = preference_rank(applicant, city)
    return PREFERENCE_BONUS[rank] if rank is not None and rank < len(PREFERENCE_BONUS) else 0.0


def to_score(fit_with_bonus: np.ndarray) -> np.ndarray:
    """Map calibrated fit (cosine units) to the (0, 1) score coordinators see."""
    return 1.0 / (1.0 + np.exp(-fit_with_bonus / SCORE_TEMPERATURE))


@dataclass(frozen=True)
class PairScores:
    """All that is known of n applicants x m offers: row i is applicants[i], column j offers[j]."""

    applicants: Sequence[Applicant]
    offers: Sequence[Offer]
    applicant_texts: EmbeddedTexts
    offer_texts: EmbeddedTexts
    topic: TopicFit
    feasibility: Feasibility
    confirmed: Mapping[str, str]

    @cached_property
    def bonus(self) -> np.ndarray:
        """(n, m) city preference bonus."""
        return np.array(
            [[preference_bonus(a, o.city) for o in self.offers] for a in self.applicants],
            dtype=np.float64,
        ).reshape(len(self.applicants), len(self.offers))

    @cached_property
    def score(self) -> np.ndarray:
        """(n, m) final score in (0, 1): topic fit plus preference bonus."""
        return to_score(self.topic.fit + self.bonus)

    @cached_property
    def topic_score(self) -> np.ndarray:
        """(n, m) score of the topic fit alone, on the same (0, 1) scale."""
        return to_score(self.topic.fit)

    @cached_property
    def applicant_index(self) -> dict[str, int]:
        return {applicant_id: i for i, applicant_id in enumerate(ids_of(self.applicants))}

    @cached_property
    def offer_index(self) -> dict[str, int]:
        return {offer_id: j for j, offer_id in enumerate(ids_of(self.offers))}


def score_pairs(
    scorer: TopicScorer,
    applicants: Sequence[Applicant],
    offers: Sequence[Offer],
    *,
    confirmed: Mapping[str, str] | None = None,
    show_progress: bool = False,
) -> PairScores:
    """Embed (cached), score and check every pair.

    ``confirmed`` maps applicant id → offer id of placements already confirmed; they use up
    places of their offers.
    """
    confirmed = dict(confirmed or {})
    column = {offer_id: j for j, offer_id in enumerate(ids_of(offers))}
    per_offer = [0] * len(offers)
    for offer_id in confirmed.values():
        if offer_id in column:
            per_offer[column[offer_id]] += 1
    embedder: Embedder = scorer.embedder
    applicant_texts = embed_applicants(embedder, applicants, show_progress=show_progress)
    offer_texts = embed_offers(embedder, offers, show_progress=show_progress)
    return PairScores(
        applicants=applicants,
        offers=offers,
        applicant_texts=applicant_texts,
        offer_texts=offer_texts,
        topic=scorer.fit(applicant_texts, offer_texts),
        feasibility=check_feasibility(applicants, offers, per_offer),
        confirmed=confirmed,
    )
