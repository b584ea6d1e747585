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
from api.auth import Principal, hash_token, new_token
from api.errors import Conflict, NotFound, Unprocessable
from matcher import Applicant, Assignment, Mode, Offer, PairScores, TopicScorer
from matcher.language import applicant_language
from models import crud, tables
from models.schemas import AccountPublic, PlacementView, RoundSummary
from models.store import SqlEmbeddingStore

_OFFER_FIELDS = set(matcher.Offer.model_fields) - {"id"}
_APPLICANT_FIELDS = set(matcher.Applicant.model_fields) - {"id"}


def make_scorer(engine: Engine, model_names: Sequence[str]) -> TopicScorer:
    """Load the models once and cache their embeddings in the database."""
    return TopicScorer(matcher.load_embedder(model_names, SqlEmbeddingStore(engine)))


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session that rolls back whatever its block did not commit."""
    with Session(engine) as session:
        yield session


def offer_row(offer: Offer) -> tables.OfferBase:
    return tables.OfferBase(external_id=offer.id, **offer.model_dump(exclude={"id"}))


def applicant_row(applicant: Applicant) -> tables.ApplicantBase:
    """The row of an application; its language is stored as given, else as detected."""
    fields = applicant.model_dump(exclude={"id"})
    fields["language"] = applicant_language(applicant)
    return tables.ApplicantBase(external_id=applicant.id, **fields)


def offer_record(row: tables.Offer) -> Offer:
    return Offer.model_validate({"id": row.external_id, **row.model_dump(include=_OFFER_FIELDS)})


def applicant_record(row: tables.Applicant) -> Applicant:
    return Applicant.model_validate(
        {"id": row.external_id, **row.model_dump(include=_APPLICANT_FIELDS)}
    )


def import_round(
    session: Session,
    *,
    name: str,
    offers: Sequence[Offer],
    applicants: Sequence[Applicant],
    direction: tables.RoundDirection = tables.RoundDirection.OUTGOING,
) -> tables.Round:
    """Create a round holding validated records (the caller commits)."""
    round_ = crud.create_round(session=session, name=name, direction=direction)
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
        applicant_row_ids={row.external_id: row_id(row.id) for row in applicant_rows},
        offer_row_ids={row.external_id: row_id(row.id) for row in offer_rows},
        confirmed=confirmed,
        rejected=rejected,
    )


def row_id(value: int | None) -> int:
    """The id of a row that has been flushed or loaded (never None then)."""
    assert value is not None, "rows loaded from the database have ids"
    return value


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
    session: Session,
    round_id: int,
    state: RoundState,
    assignment: Assignment,
    *,
    run_id: int | None = None,
) -> dict[str, int]:
    """Replace the round's open proposals by those of ``assignment`` (the caller commits).

    Returns the new placement id of each proposed applicant.
    """
    crud.delete_proposals(session=session, round_id=round_id)
    proposals = [
        tables.PlacementCreate(
            applicant_id=state.applicant_row_ids[p.applicant_id],
            offer_id=state.offer_row_ids[p.offer_id],
            status=tables.PlacementStatus.PROPOSED,
            score=p.score,
            reason=f"Batch-Zuordnung ({assignment.mode.value})",
            run_id=run_id,
        )
        for p in assignment.placements
        if not p.pinned
    ]
    rows = crud.add_placements(session=session, round_id=round_id, placements=proposals)
    by_row = {key: external for external, key in state.applicant_row_ids.items()}
    return {by_row[row.applicant_id]: row_id(row.id) for row in rows}


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


def require_round(session: Session, round_id: int, *, writable: bool = False) -> tables.Round:
    """The round, or 404; with ``writable``, 409 if it is closed (closed rounds are read-only)."""
    round_ = crud.get_round(session=session, round_id=round_id)
    if round_ is None:
        raise NotFound(f"Runde {round_id} gibt es nicht.")
    if writable and round_.status is tables.RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen und nur noch lesbar.")
    return round_


def require_applicant(session: Session, round_id: int, applicant_id: str) -> tables.Applicant:
    applicant = crud.get_applicant(session=session, round_id=round_id, external_id=applicant_id)
    if applicant is None:
        raise NotFound(f"Bewerbung {applicant_id} gibt es in Runde {round_id} nicht.")
    return applicant


def require_offer(session: Session, round_id: int, offer_id: str) -> tables.Offer:
    offer = crud.get_offer(session=session, round_id=round_id, external_id=offer_id)
    if offer is None:
        raise NotFound(f"Angebot {offer_id} gibt es in Runde {round_id} nicht.")
    return offer


def offer_external_id(session: Session, offer_row_id: int) -> str:
    offer = session.get(tables.Offer, offer_row_id)
    assert offer is not None
    return offer.external_id


def round_summary(session: Session, round_: tables.Round) -> RoundSummary:
    """The round with its counts."""
    round_id = row_id(round_.id)
    offers = crud.list_offers(session=session, round_id=round_id)
    placements = crud.list_placements(session=session, round_id=round_id)
    return RoundSummary(
        id=round_id,
        name=round_.name,
        status=round_.status,
        direction=round_.direction,
        created_at=round_.created_at,
        applicants=len(crud.list_applicants(session=session, round_id=round_id)),
        offers=len(offers),
        places=sum(offer.capacity for offer in offers),
        placed=sum(p.status is tables.PlacementStatus.CONFIRMED for p in placements),
        proposed=sum(p.status is tables.PlacementStatus.PROPOSED for p in placements),
    )


#: Allowed status changes of a round; a closed round stays closed.
ROUND_TRANSITIONS = {
    tables.RoundStatus.OPEN: {tables.RoundStatus.MATCHING, tables.RoundStatus.CLOSED},
    tables.RoundStatus.MATCHING: {tables.RoundStatus.OPEN, tables.RoundStatus.CLOSED},
    tables.RoundStatus.CLOSED: set(),
}


def change_round_status(
    session: Session, round_: tables.Round, status: tables.RoundStatus
) -> tables.Round:
    if status is not round_.status and status not in ROUND_TRANSITIONS[round_.status]:
        raise Conflict(f"Statuswechsel {round_.status.value} → {status.value} ist nicht erlaubt.")
    if status is tables.RoundStatus.CLOSED and crud.active_run(
        session=session, round_id=row_id(round_.id)
    ):
        raise Conflict("Die Runde kann nicht abgeschlossen werden, solange eine Zuordnung läuft.")
    round_.status = status
    session.add(round_)
    return round_


def import_records(
    session: Session,
    round_id: int,
    *,
    offers: Sequence[Offer],
    applicants: Sequence[Applicant],
) -> None:
    """Add validated records to a round; ids already in the round are input errors (422)."""
    taken_offers = {o.external_id for o in crud.list_offers(session=session, round_id=round_id)}
    taken_applicants = {
        a.external_id for a in crud.list_applicants(session=session, round_id=round_id)
    }
    problems = [
        matcher.RecordProblem("offers", i, o.id, "id", "id already exists in this round")
        for i, o in enumerate(offers)
        if o.id in taken_offers
    ] + [
        matcher.RecordProblem("applicants", i, a.id, "id", "id already exists in this round")
        for i, a in enumerate(applicants)
        if a.id in taken_applicants
    ]
    if problems:
        raise matcher.InvalidRecordsError(problems)
    crud.add_offers(session=session, round_id=round_id, offers=[offer_row(o) for o in offers])
    crud.add_applicants(
        session=session, round_id=round_id, applicants=[applicant_row(a) for a in applicants]
    )


EXPORT_COLUMNS = (
    "applicant_id",
    "name",
    "home_organisation",
    "offer_id",
    "offer_title",
    "city",
    "mentor_name",
    "status",
    "mentor_decision",
)


def export_rows(session: Session, round_id: int) -> list[dict[str, str]]:
    """One row per applicant: the confirmed placement, else the open proposal, else none."""
    offers = {o.id: o for o in crud.list_offers(session=session, round_id=round_id)}
    best: dict[int, tables.Placement] = {}
    rank = {tables.PlacementStatus.CONFIRMED: 0, tables.PlacementStatus.PROPOSED: 1}
    for p in crud.list_placements(session=session, round_id=round_id):
        if p.status in rank and (
            p.applicant_id not in best or rank[p.status] < rank[best[p.applicant_id].status]
        ):
            best[p.applicant_id] = p
    rows = []
    for applicant in crud.list_applicants(session=session, round_id=round_id):
        placement = best.get(row_id(applicant.id))
        offer = offers[placement.offer_id] if placement else None
        rows.append(
            {
                "applicant_id": applicant.external_id,
                "name": applicant.name or "",
                "home_organisation": applicant.home_organisation,
                "offer_id": offer.external_id if offer else "",
                "offer_title": offer.title if offer else "",
                "city": offer.city if offer else "",
                "mentor_name": (offer.mentor_name or "") if offer else "",
                "status": placement.status.value if placement else "ohne Platz",
                "mentor_decision": (
                    placement.mentor_decision.value
                    if placement and placement.mentor_decision
                    else ""
                ),
            }
        )
    return rows


def issue_account(
    session: Session,
    *,
    role: tables.Role,
    label: str,
    round_id: int | None = None,
    applicant_id: str | None = None,
    offer_ids: Sequence[str] = (),
) -> tuple[tables.Account, str]:
    """Create an account and return it with its token (the only time the token is visible)."""
    applicant_row_id = None
    offer_row_ids: list[int] = []
    if role is tables.Role.APPLICANT or role is tables.Role.MENTOR:
        if round_id is None:
            raise Unprocessable("round_id fehlt.", [{"field": "round_id", "message": "required"}])
        require_round(session, round_id)
    if role is tables.Role.APPLICANT:
        if not applicant_id:
            raise Unprocessable(
                "Ein Bewerbungs-Token braucht applicant_id.",
                [{"field": "applicant_id", "message": "required for role applicant"}],
            )
        assert round_id is not None
        applicant_row_id = row_id(require_applicant(session, round_id, applicant_id).id)
    if role is tables.Role.MENTOR:
        if not offer_ids:
            raise Unprocessable(
                "Ein Mentoring-Token braucht mindestens ein Angebot.",
                [{"field": "offer_ids", "message": "required for role mentor"}],
            )
        assert round_id is not None
        offer_row_ids = [row_id(require_offer(session, round_id, o).id) for o in offer_ids]
    token = new_token()
    account = crud.create_account(
        session=session,
        role=role,
        label=label,
        token_hash=hash_token(token),
        applicant_id=applicant_row_id,
        offer_ids=offer_row_ids,
    )
    return account, token


def require_same_id(body_id: str, path_id: str) -> None:
    if body_id != path_id:
        raise Unprocessable(
            "Die id im Inhalt muss der id im Pfad entsprechen.",
            [{"field": "id", "message": f"expected {path_id!r}"}],
        )


def replace_record(
    session: Session, round_id: int, record_id: str, record: Offer | Applicant
) -> None:
    """Overwrite every interchange field of an existing offer or applicant (ids stay)."""
    require_same_id(record.id, record_id)
    row: tables.Offer | tables.Applicant
    values: tables.OfferBase | tables.ApplicantBase
    if isinstance(record, Offer):
        row, values = require_offer(session, round_id, record_id), offer_row(record)
    else:
        row, values = require_applicant(session, round_id, record_id), applicant_row(record)
    for field, value in values.model_dump().items():
        setattr(row, field, value)
    session.add(row)


def placement_view(session: Session, placement: tables.Placement) -> PlacementView:
    applicant = session.get(tables.Applicant, placement.applicant_id)
    offer = session.get(tables.Offer, placement.offer_id)
    assert applicant is not None and offer is not None
    return PlacementView(
        id=row_id(placement.id),
        applicant_id=applicant.external_id,
        offer_id=offer.external_id,
        city=offer.city,
        status=placement.status,
        score=placement.score,
        reason=placement.reason,
        decided_by=placement.decided_by,
        decided_at=placement.decided_at,
        mentor_decision=placement.mentor_decision,
        mentor_reason=placement.mentor_reason,
    )


def account_public(session: Session, principal: Principal) -> AccountPublic:
    account = session.get(tables.Account, principal.account_id)
    assert account is not None
    applicant = (
        session.get(tables.Applicant, principal.applicant_id) if principal.applicant_id else None
    )
    offers = [session.get(tables.Offer, offer_id) for offer_id in sorted(principal.offer_ids)]
    round_ids = {o.round_id for o in offers if o} | ({applicant.round_id} if applicant else set())
    return AccountPublic(
        id=principal.account_id,
        role=principal.role,
        label=account.label,
        round_id=min(round_ids) if round_ids else None,
        applicant_id=applicant.external_id if applicant else None,
        offer_ids=[o.external_id for o in offers if o],
    )
