"""Data access: every query the application makes, as keyword-only functions.

Writers add and flush (so ids are known and constraint violations surface here) but never
commit: the caller owns the transaction, so an import of a round with its offers and applicants
is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, SQLModel, col, delete, func, select

from models.tables import (
    Applicant,
    ApplicantBase,
    EmbeddingRecord,
    Offer,
    OfferBase,
    Placement,
    PlacementCreate,
    PlacementStatus,
    Round,
)

_TABLES: tuple[type[SQLModel], ...] = (Round, Offer, Applicant, Placement, EmbeddingRecord)


def create_round(*, session: Session, name: str) -> Round:
    """Add a new open round; the name is validated (1-200 characters)."""
    round_ = Round.model_validate({"name": name})
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
