"""Exact shortlists from the stored head of each applicant's full ranking.

A shortlist is the first k offers of one ordering (the score, the topic fit, or a re-ranker's
probability; ties by column) among the offers an applicant may take. Between two changes of the
texts only free places change (each confirmed placement uses one), and dropping the offers that
are full keeps the order of the rest. So the first ``depth`` offers of each ordering, computed
once with the full computation (``score_prepared`` against every offer), answer every later
request exactly while at least k of them still have a free place: the answer is a prefix of the
full answer, not an approximation of it. When fewer do (and the head is not the whole
ordering), the caller computes in full again.

The numbers shown for a listed pair are the full computation's: its score is stored with the
head, its topic fit is cut out of the full ``TopicFit``, and everything else (bonus,
feasibility, explanation) is elementwise (``matcher.scoring.assemble``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.ranking import best_first
from matcher.records import Applicant
from matcher.scoring import PairScores, PreparedOffers, assemble, take_columns
from matcher.topic import EmbeddedTexts, TopicFit

#: The name of the topic-only ordering (every offer by topic fit, feasible or not).
TOPIC_VIEW = "topic"


@dataclass(frozen=True)
class Head:
    """The first offers of one ordering: ``columns[r]`` is its r-th offer, ``shown[r]`` the
    score a shortlist shows for it."""

    columns: np.ndarray  # (d,) offer columns, best first
    shown: np.ndarray  # (d,) float64
    complete: bool  # the ordering has no further offer
    capacity_bound: bool  # offers without a free place drop out (not so in the topic view)

    def first(self, has_place: np.ndarray, k: int) -> np.ndarray | None:
        """Positions of the first ``k`` listed offers left, ``has_place[r]`` for ``columns[r]``;
        None when the head cannot tell (fewer than ``k`` left and further offers unlisted)."""
        left = np.flatnonzero(has_place) if self.capacity_bound else np.arange(len(self.columns))
        positions = left[: max(0, k)]
        return positions if len(positions) == max(0, k) or self.complete else None


def head(values: np.ndarray, shown: np.ndarray, allowed: np.ndarray | None, depth: int) -> Head:
    """The first ``depth`` offers by ``values`` (ties: column order) among ``allowed``."""
    order = best_first(values, allowed)
    columns = order[:depth].astype(np.intp)
    return Head(
        columns=columns,
        shown=np.asarray(shown[columns], dtype=np.float64),
        complete=len(order) <= depth,
        capacity_bound=allowed is not None,
    )


@dataclass(frozen=True)
class ApplicantHeads:
    """One applicant's heads, by ordering name, and the topic fit of every listed offer."""

    columns: np.ndarray  # (u,) ascending: every offer some head lists
    topic: TopicFit  # (1, u) the full computation's topic fit of those offers
    heads: Mapping[str, Head]

    @property
    def nbytes(self) -> int:
        arrays = [self.columns, *(v for h in self.heads.values() for v in (h.columns, h.shown))]
        return sum(a.nbytes for a in arrays) + 16 * len(self.columns)


def applicant_heads(
    scores: PairScores, ranked: Mapping[str, PairScores], depth: int
) -> ApplicantHeads:
    """Heads of one applicant's orderings (row 0 of ``scores``, against every offer).

    ``ranked`` maps a ranker's name to the same pairs under that ranker (``scores`` itself for
    the base ranking); the topic-only head comes from ``scores``. Static feasibility (language,
    weeks, dates) decides which offers an ordering has; free places are checked per request.
    """
    feasibility = scores.feasibility
    static = feasibility.language[0] & feasibility.weeks[0] & feasibility.dates[0]
    heads = {
        TOPIC_VIEW: head(scores.topic.fit[0], scores.topic_score[0], None, depth),
        **{name: head(r.score[0], r.score[0], static, depth) for name, r in ranked.items()},
    }
    columns = np.unique(np.concatenate([h.columns for h in heads.values()]))
    return ApplicantHeads(columns, take_columns(scores.topic, columns, pairs=True), heads)


def listed_scores(
    heads: ApplicantHeads,
    prepared: PreparedOffers,
    applicant: Applicant,
    applicant_texts: EmbeddedTexts,
    columns: np.ndarray,
    confirmed: Mapping[str, str],
) -> PairScores:
    """Pair scores of the applicant and the listed offers ``columns``: those of the full
    computation, bit for bit (``confirmed``: the placements on these offers)."""
    positions = np.searchsorted(heads.columns, columns)
    topic = take_columns(heads.topic, positions, pairs=True)
    return assemble([applicant], applicant_texts, prepared.take(columns), topic, confirmed)


def all_listed(heads: ApplicantHeads, columns: Sequence[int]) -> bool:
    """True when every offer of ``columns`` is listed by some head."""
    found = np.searchsorted(heads.columns, columns)
    return bool(np.all(found < len(heads.columns)) and np.all(heads.columns[found] == columns))
