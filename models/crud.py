"""Data access: every query the application makes, as keyword-only functions.

Writers add and flush (so ids are known and constraint violations surface here) but never
commit: the caller owns the transaction, so an import of a round with its offers and applicants
is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, SQLModel, col, delete, func, select

from models.tables import (
    Account,
    Applicant,
    ApplicantBase,
    AuditEntry,
    EmbeddingRecord,
    MatchingRun,
    MentorOffer,
    Offer,
    OfferBase,
    Placement,
    PlacementCreate,
    PlacementStatus,
    RankerModel,
    Role,
    Round,
    RoundDirection,
    RunStatus,
)

_TABLES: tuple[type[SQLModel], ...] = (
    Round,
    Offer,
    Applicant,
    Placement,
    EmbeddingRecord,
    Account,
    MentorOffer,
    MatchingRun,
    AuditEntry,
    RankerModel,
)


def create_round(
    *, session: Session, name: str, direction: RoundDirection = RoundDirection.OUTGOING
) -> Round:
    """Add a new open round; the name is validated (1-200 characters)."""
    round_ = Round.model_validate({"name": name, "direction": direction})
    session.add(round_)
    session.flush()
    return round_


def get_round(*, session: Session, round_id: int) -> Round | None:
    """The round with this id, or None."""
    return session.get(Round, round_id)


def find_round(*, session: Session, name: str) -> Round | None:
    """The most recent round with this name, or None."""
    statement = select(Round).where(Round.name == name).order_by(col(Round.id).desc())
    return session.exec(statement).first()


def list_rounds(*, session: Session) -> list[Round]:
    """All rounds, oldest first."""
    return list(session.exec(select(Round).order_by(col(Round.id))).all())


def add_offers(*, session: Session, round_id: int, offers: Sequence[OfferBase]) -> list[Offer]:
    """Add offers to a round; a repeated external id in the round raises IntegrityError."""
    rows = [Offer.model_validate(offer, update={"round_id": round_id}) for offer in offers]
    session.add_all(rows)
    session.flush()
    return rows


def add_applicants(
    *, session: Session, round_id: int, applicants: Sequence[ApplicantBase]
) -> list[Applicant]:
    """Add applicants to a round; a repeated external id in the round raises IntegrityError."""
    rows = [
        Applicant.model_validate(applicant, update={"round_id": round_id})
        for applicant in applicants
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_offers(*, session: Session, round_id: int) -> list[Offer]:
    """The round's offers in import order (by id)."""
    statement = select(Offer).where(Offer.round_id == round_id).order_by(col(Offer.id))
    return list(session.exec(statement).all())


def list_applicants(*, session: Session, round_id: int) -> list[Applicant]:
    """The round's applicants in import order (by id)."""
    statement = select(Applicant).where(Applicant.round_id == round_id).order_by(col(Applicant.id))
    return list(session.exec(statement).all())


def add_placements(
    *, session: Session, round_id: int, placements: Sequence[PlacementCreate]
) -> list[Placement]:
    """Add placements to a round; unknown applicant or offer ids raise IntegrityError."""
    rows = [
        Placement.model_validate(placement, update={"round_id": round_id})
        for placement in placements
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_placements(
    *, session: Session, round_id: int, status: PlacementStatus | None = None
) -> list[Placement]:
    """The round's placements by id, optionally only those with one status."""
    statement = select(Placement).where(Placement.round_id == round_id)
    if status is not None:
        statement = statement.where(Placement.status == status)
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def delete_proposals(*, session: Session, round_id: int) -> int:
    """Remove the round's undecided (proposed) placements, e.g. before re-matching; the count."""
    result = session.exec(
        delete(Placement).where(
            col(Placement.round_id) == round_id,
            col(Placement.status) == PlacementStatus.PROPOSED,
        )
    )
    return result.rowcount


def table_counts(*, session: Session) -> dict[str, int]:
    """Rows per table, by table name."""
    return {
        str(table.__tablename__): session.exec(select(func.count()).select_from(table)).one()
        for table in _TABLES
    }


def delete_embeddings(*, session: Session, text_keys: Sequence[str]) -> int:
    """Forget cached vectors of these texts, for every model; the count removed."""
    removed = 0
    for start in range(0, len(text_keys), 500):
        chunk = list(text_keys[start : start + 500])
        result = session.exec(
            delete(EmbeddingRecord).where(col(EmbeddingRecord.text_key).in_(chunk))
        )
        removed += result.rowcount
    return removed


def accounts_of_applicant(*, session: Session, applicant_id: int) -> list[Account]:
    statement = select(Account).where(Account.applicant_id == applicant_id)
    return list(session.exec(statement).all())


def audit_of_applicant(*, session: Session, applicant_id: int) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.applicant_id == applicant_id)
    return list(session.exec(statement.order_by(col(AuditEntry.id))).all())


def get_offer(*, session: Session, round_id: int, external_id: str) -> Offer | None:
    """The round's offer with this interchange id."""
    statement = select(Offer).where(Offer.round_id == round_id, Offer.external_id == external_id)
    return session.exec(statement).first()


def get_applicant(*, session: Session, round_id: int, external_id: str) -> Applicant | None:
    """The round's applicant with this interchange id."""
    statement = select(Applicant).where(
        Applicant.round_id == round_id, Applicant.external_id == external_id
    )
    return session.exec(statement).first()


def get_placement(*, session: Session, round_id: int, placement_id: int) -> Placement | None:
    """The round's placement with this id (None if it belongs to another round)."""
    placement = session.get(Placement, placement_id)
    return placement if placement is not None and placement.round_id == round_id else None


def count_confirmed(*, session: Session, offer_id: int) -> int:
    """Confirmed placements on an offer: the places it has given away."""
    statement = select(func.count()).where(
        Placement.offer_id == offer_id, Placement.status == PlacementStatus.CONFIRMED
    )
    return session.exec(statement).one()


def placements_of_applicant(*, session: Session, applicant_id: int) -> list[Placement]:
    statement = select(Placement).where(Placement.applicant_id == applicant_id)
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def placements_of_offers(*, session: Session, offer_ids: Sequence[int]) -> list[Placement]:
    statement = select(Placement).where(col(Placement.offer_id).in_(offer_ids))
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def create_account(
    *,
    session: Session,
    role: Role,
    label: str,
    token_hash: str,
    applicant_id: int | None = None,
    offer_ids: Sequence[int] = (),
) -> Account:
    """Add an account with its token hash; mentors are bound to ``offer_ids``."""
    account = Account(role=role, label=label, token_hash=token_hash, applicant_id=applicant_id)
    session.add(account)
    session.flush()
    assert account.id is not None
    session.add_all(MentorOffer(account_id=account.id, offer_id=offer_id) for offer_id in offer_ids)
    session.flush()
    return account


def find_account(*, session: Session, token_hash: str) -> Account | None:
    statement = select(Account).where(Account.token_hash == token_hash)
    return session.exec(statement).first()


def mentor_offer_ids(*, session: Session, account_id: int) -> list[int]:
    statement = select(MentorOffer.offer_id).where(MentorOffer.account_id == account_id)
    return list(session.exec(statement).all())


def create_run(*, session: Session, round_id: int, mode: str, created_by: str) -> MatchingRun:
    run = MatchingRun(round_id=round_id, mode=mode, created_by=created_by)
    session.add(run)
    session.flush()
    return run


def active_run(*, session: Session, round_id: int) -> MatchingRun | None:
    """The round's queued or running run, if any."""
    statement = select(MatchingRun).where(
        MatchingRun.round_id == round_id,
        col(MatchingRun.status).in_([RunStatus.QUEUED, RunStatus.RUNNING]),
    )
    return session.exec(statement).first()


def unfinished_runs(*, session: Session) -> list[MatchingRun]:
    """Runs of any round still queued or running."""
    statement = select(MatchingRun).where(
        col(MatchingRun.status).in_([RunStatus.QUEUED, RunStatus.RUNNING])
    )
    return list(session.exec(statement).all())


def list_runs(*, session: Session, round_id: int) -> list[MatchingRun]:
    statement = select(MatchingRun).where(MatchingRun.round_id == round_id)
    return list(session.exec(statement.order_by(col(MatchingRun.id).desc())).all())


def add_audit(*, session: Session, entry: AuditEntry) -> AuditEntry:
    session.add(entry)
    session.flush()
    return entry


def list_audit(*, session: Session, round_id: int) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.round_id == round_id)
    return list(session.exec(statement.order_by(col(AuditEntry.id))).all())


def decided_placements(*, session: Session, up_to_round: int) -> list[Placement]:
    """Confirmed and rejected placements of every round up to this one (training data)."""
    statement = select(Placement).where(
        col(Placement.round_id) <= up_to_round,
        col(Placement.status).in_([PlacementStatus.CONFIRMED, PlacementStatus.REJECTED]),
    )
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def add_ranker(*, session: Session, ranker: RankerModel) -> RankerModel:
    session.add(ranker)
    session.flush()
    return ranker


def latest_ranker(*, session: Session, up_to_round: int) -> RankerModel | None:
    """The newest re-ranker learned for this round or an earlier one."""
    statement = (
        select(RankerModel)
        .where(col(RankerModel.round_id) <= up_to_round)
        .order_by(col(RankerModel.id).desc())
    )
    return session.exec(statement).first()
