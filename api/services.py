"""Use cases that need both the engine and the database: the only place rows become records.

Each function takes an open session and leaves committing to its caller unless it says
otherwise, so a use case is one transaction: all of it is stored or none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

import matcher
from matcher import Applicant, Assignment, Mode, Offer, PairScores, TopicScorer
from models import crud, tables
from models.store import SqlEmbeddingStore

_OFFER_FIELDS = set(matcher.Offer.model_fields) - {"id"}
_APPLICANT_FIELDS = set(matcher.Applicant.model_fields) - {"id"}


def make_scorer(engine: Engine, model_name: str) -> TopicScorer:
    """Load the model once and cache its embeddings in the database."""
    embedder = matcher.Embedder(
        matcher.load_model(model_name), SqlEmbeddingStore(engine), model_name=model_name
    )
    return TopicScorer(embedder)


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session that rolls back whatever its block did not commit."""
    with Session(engine) as session:
        yield session


def offer_row(offer: Offer) -> tables.OfferBase:
    return tables.OfferBase(external_id=offer.id, **offer.model_dump(exclude={"id"}))


def applicant_row(applicant: Applicant) -> tables.ApplicantBase:
    return tables.ApplicantBase(external_id=applicant.id, **applicant.model_dump(exclude={"id"}))


def offer_record(row: tables.Offer) -> Offer:
    return Offer.model_validate({"id": row.external_id, **row.model_dump(include=_OFFER_FIELDS)})


def applicant_record(row: tables.Applicant) -> Applicant:
    return Applicant.model_validate(
        {"id": row.external_id, **row.model_dump(include=_APPLICANT_FIELDS)}
    )


def import_round(
    session: Session, *, name: str, offers: Sequence[Offer], applicants: Sequence[Applicant]
) -> tables.Round:
    """Create a round holding validated records (the caller commits)."""
    round_ = crud.create_round(session=session, name=name)
    assert round_.id is not None
    crud.add_offers(session=session, round_id=round_.id, offers=[offer_row(o) for o in offers])
    crud.add_applicants(
        session=session, round_id=round_.id, applicants=[applicant_row(a) for a in applicants]
    )
    return round_


@dataclass(frozen=True)
class RoundState:
    """A round as the engine sees it, with the row ids to write results back."""

    applicants: list[Applicant]
    offers: list[Offer]
    applicant_row_ids: dict[str, int]
    offer_row_ids: dict[str, int]
    confirmed: dict[str, str]
    rejected: list[tuple[str, str]]


def load_round(session: Session, round_id: int) -> RoundState:
    """Records and decisions of a round, keyed by interchange ids."""
    applicant_rows = crud.list_applicants(session=session, round_id=round_id)
    offer_rows = crud.list_offers(session=session, round_id=round_id)
    applicant_ids = {row.id: row.external_id for row in applicant_rows}
    offer_ids = {row.id: row.external_id for row in offer_rows}
    placements = crud.list_placements(session=session, round_id=round_id)
    confirmed = {
        applicant_ids[p.applicant_id]: offer_ids[p.offer_id]
        for p in placements
        if p.status is tables.PlacementStatus.CONFIRMED
    }
    rejected = [
        (applicant_ids[p.applicant_id], offer_ids[p.offer_id])
        for p in placements
        if p.status is tables.PlacementStatus.REJECTED
    ]
    return RoundState(
        applicants=[applicant_record(row) for row in applicant_rows],
        offers=[offer_record(row) for row in offer_rows],
        applicant_row_ids={row.external_id: _id(row.id) for row in applicant_rows},
        offer_row_ids={row.external_id: _id(row.id) for row in offer_rows},
        confirmed=confirmed,
        rejected=rejected,
    )


def _id(row_id: int | None) -> int:
    assert row_id is not None, "rows loaded from the database have ids"
    return row_id


def score_round(
    scorer: TopicScorer, state: RoundState, *, show_progress: bool = False
) -> PairScores:
    """Score every pair of a round, counting confirmed placements against capacity."""
    return matcher.score_pairs(
        scorer,
        state.applicants,
        state.offers,
        confirmed=state.confirmed,
        show_progress=show_progress,
    )


def store_proposals(
    session: Session, round_id: int, state: RoundState, assignment: Assignment
) -> int:
    """Replace the round's open proposals by those of ``assignment`` (the caller commits)."""
    crud.delete_proposals(session=session, round_id=round_id)
    proposals = [
        tables.PlacementCreate(
            applicant_id=state.applicant_row_ids[p.applicant_id],
            offer_id=state.offer_row_ids[p.offer_id],
            status=tables.PlacementStatus.PROPOSED,
            score=p.score,
            reason=f"Batch-Zuordnung ({assignment.mode.value})",
        )
        for p in assignment.placements
        if not p.pinned
    ]
    crud.add_placements(session=session, round_id=round_id, placements=proposals)
    return len(proposals)


def propose(
    session: Session, scorer: TopicScorer, round_id: int, *, mode: Mode, show_progress: bool = False
) -> tuple[RoundState, PairScores, Assignment]:
    """Batch-assign a round and store its proposals; confirmed stay, rejected are excluded."""
    state = load_round(session, round_id)
    scores = score_round(scorer, state, show_progress=show_progress)
    assignment = matcher.assign(scores, mode=mode, rejected=state.rejected)
    store_proposals(session, round_id, state, assignment)
    session.commit()
    return state, scores, assignment
