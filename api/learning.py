"""Learning from coordinators' decisions: fit, store and apply the re-ranker of a round.

Training data are the confirmed (1) and rejected (0) placements of the round and all earlier
rounds, so the matcher improves with every round. The re-ranker is used only when at least
``MIN_DECISIONS_PER_CLASS`` decisions of each kind went into it and the round has it switched
on; otherwise the base ranking stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlmodel import Session

from api import audit, services
from api.errors import Conflict
from matcher import PairScores, TopicScorer
from matcher.rerank import (
    MIN_DECISIONS_PER_CLASS,
    DecisionReranker,
    OfferSide,
    enough_decisions,
    explain_rerank,
    pair_features,
    with_reranker,
)
from models import crud, tables

BASE_RANKER = "basis"


@dataclass(frozen=True)
class Ranker:
    """The ranker a round uses: its name for shortlists and the model, if any."""

    name: str
    model: DecisionReranker | None = None

    def apply(self, scores: PairScores, side: OfferSide | None = None) -> PairScores:
        """The pairs under this ranker (``side``: the offers' re-ranker features, if built)."""
        return with_reranker(scores, self.model, side) if self.model is not None else scores

    def explain(self, scores: PairScores, i: int, j: int) -> str | None:
        """Which learned features moved pair (i, j); None under the base ranking."""
        return explain_rerank(scores, self.model, i, j) if self.model is not None else None


def learn(session: Session, scorer: TopicScorer, round_id: int, actor: str) -> tables.RankerModel:
    """Fit the re-ranker on decisions up to this round and store it (the caller commits)."""
    services.require_round(session, round_id)
    decided = crud.decided_placements(session=session, up_to_round=round_id)
    labels = [int(p.status is tables.PlacementStatus.CONFIRMED) for p in decided]
    if not enough_decisions(labels):
        raise Conflict(
            f"Zu wenige Entscheidungen zum Lernen: {sum(labels)} Bestätigungen und "
            f"{len(labels) - sum(labels)} Ablehnungen; nötig sind je {MIN_DECISIONS_PER_CLASS}."
        )
    features = []
    for round_id_of, placements in _by_round(decided).items():
        state = services.load_round(session, round_id_of)
        scores = services.score_round(scorer, state)
        a_index = {row: scores.applicant_index[ext] for ext, row in state.applicant_row_ids.items()}
        o_index = {row: scores.offer_index[ext] for ext, row in state.offer_row_ids.items()}
        features += [
            (p.id, pair_features(scores, a_index[p.applicant_id], o_index[p.offer_id]))
            for p in placements
        ]
    by_id = dict(features)
    model = DecisionReranker().fit([by_id[p.id] for p in decided], labels)
    audit.record(
        session,
        actor=actor,
        action="ranker_learned",
        round_id=round_id,
        detail=f"Re-Ranker {model.version}: {sum(labels)} Bestätigungen, "
        f"{len(labels) - sum(labels)} Ablehnungen",
    )
    return crud.add_ranker(
        session=session,
        ranker=tables.RankerModel(
            round_id=round_id,
            version=model.version,
            params=model.to_json(),
            confirmed=sum(labels),
            rejected=len(labels) - sum(labels),
            created_by=actor,
        ),
    )


def _by_round(placements: list[tables.Placement]) -> dict[int, list[tables.Placement]]:
    grouped: dict[int, list[tables.Placement]] = {}
    for placement in placements:
        grouped.setdefault(placement.round_id, []).append(placement)
    return grouped


def ranker_for(session: Session, round_: tables.Round) -> Ranker:
    """The re-ranker the round uses now, or the base ranking."""
    if not round_.reranker_enabled:
        return Ranker(BASE_RANKER)
    stored = crud.latest_ranker(session=session, up_to_round=services.row_id(round_.id))
    return Ranker(BASE_RANKER) if stored is None else _ranker(stored)


def ranker_known(session: Session, round_: tables.Round, newest: int | None) -> Ranker:
    """``ranker_for`` when the id of the newest re-ranker is known (read with the round).

    Parsed models are kept per database and row id: stored models are never changed and their
    ids never reused, so a known id needs no query.
    """
    if newest is None or not round_.reranker_enabled:
        return Ranker(BASE_RANKER)
    known = _known.setdefault(session.get_bind().engine, {})
    ranker = known.get(newest)
    if ranker is None:
        stored = session.get(tables.RankerModel, newest)
        assert stored is not None, "read in the same transaction"
        ranker = known[newest] = _ranker(stored)
    return ranker


#: Parsed re-rankers by database and row id (``ranker_known``).
_known: WeakKeyDictionary[Engine, dict[int, Ranker]] = WeakKeyDictionary()


def rankers_of(session: Session, round_: tables.Round) -> list[Ranker]:
    """The base ranking and the round's latest re-ranker, switched on or not (for caches)."""
    stored = crud.latest_ranker(session=session, up_to_round=services.row_id(round_.id))
    return [Ranker(BASE_RANKER), *([_ranker(stored)] if stored is not None else [])]


def _ranker(stored: tables.RankerModel) -> Ranker:
    return Ranker(f"rerank:{stored.version}", _parsed(stored.params))


@lru_cache(maxsize=16)
def _parsed(params: str) -> DecisionReranker:
    """The stored model, parsed once per process (a shortlist request reads it every time).

    Keyed by the stored text itself, so a new model is never mistaken for an old one; callers
    only read the model.
    """
    return DecisionReranker.from_json(params)


def score_round_ranked(
    session: Session, scorer: TopicScorer, round_: tables.Round, state: services.RoundState
) -> tuple[PairScores, Ranker]:
    """A round's pair scores under the ranker it uses (for runs and shortlists alike)."""
    ranker = ranker_for(session, round_)
    return ranker.apply(services.score_round(scorer, state)), ranker
