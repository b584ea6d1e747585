"""Data access: every query the application makes, as keyword-only functions.

Writers add and flush (so ids are known and constraint violations surface here) but never
commit: the caller owns the transaction, so an import of a round with its offers and applicants
is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, delete, func, select, update

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
    utc_now,
)

#: Run states that hold the round's single run slot (``uq_matchingrun_active_round``).
ACTIVE_RUN_STATES = (RunStatus.QUEUED, RunStatus.RUNNING)

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


def get_round_applicant(
    *, session: Session, round_id: int, external_id: str
) -> tuple[Round, Applicant, int | None] | None:
    """The round, its applicant with this interchange id and the id of the newest re-ranker
    learned up to the round (as :func:`latest_ranker`), in one query (shortlists)."""
    newest_ranker = (
        select(RankerModel.id)
        .where(col(RankerModel.round_id) <= col(Round.id))
        .order_by(col(RankerModel.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(Round, Applicant, newest_ranker)
        .join(Applicant, col(Applicant.round_id) == col(Round.id))
        .where(Round.id == round_id, Applicant.external_id == external_id)
    )
    found = session.exec(statement).first()
    return None if found is None else (found[0], found[1], found[2])


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


def placement_statuses(*, session: Session, applicant_id: int) -> dict[str, PlacementStatus]:
    """Offer id → status of the applicant's latest placement on it (one query, for shortlists)."""
    statement = (
        select(Offer.external_id, Placement.status)
        .join(Offer, col(Offer.id) == col(Placement.offer_id))
        .where(Placement.applicant_id == applicant_id)
        .order_by(col(Placement.id))
    )
    return {offer: PlacementStatus(status) for offer, status in session.exec(statement)}


def shortlist_placements(
    *, session: Session, round_id: int, applicant_id: int, offer_ids: Sequence[int]
) -> list[tuple[str, int, int, PlacementStatus]]:
    """The round's confirmed placements on ``offer_ids`` and every placement of the applicant,
    oldest first: (applicant interchange id, applicant row, offer row, status).

    Each side of the OR has an index of its own (round and status; applicant), so neither
    reads the round's other placements.
    """
    confirmed_there = (
        (col(Placement.round_id) == round_id)
        & (col(Placement.status) == PlacementStatus.CONFIRMED)
        & col(Placement.offer_id).in_(offer_ids)
    )
    statement = (
        select(Applicant.external_id, Placement.applicant_id, Placement.offer_id, Placement.status)
        .join(Applicant, col(Applicant.id) == col(Placement.applicant_id))
        .where(confirmed_there | (col(Placement.applicant_id) == applicant_id))
        .order_by(col(Placement.id))
    )
    return [
        (a, row, offer, PlacementStatus(status))
        for a, row, offer, status in session.exec(statement)
    ]


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


def create_run(
    *,
    session: Session,
    round_id: int,
    mode: str,
    created_by: str,
    owner: str,
    lease_until: datetime,
    parameters: dict[str, Any] | None = None,
) -> MatchingRun:
    """Add a queued run owned by ``owner``; a second active run of the round raises
    IntegrityError (the partial unique index), whichever process inserts it."""
    run = MatchingRun(
        round_id=round_id,
        mode=mode,
        created_by=created_by,
        owner=owner,
        lease_until=lease_until,
        parameters=parameters,
    )
    session.add(run)
    session.flush()
    return run


def active_run(*, session: Session, round_id: int) -> MatchingRun | None:
    """The round's queued or running run, if any."""
    statement = select(MatchingRun).where(
        MatchingRun.round_id == round_id, col(MatchingRun.status).in_(ACTIVE_RUN_STATES)
    )
    return session.exec(statement).first()


def update_active_run(*, session: Session, run_id: int, owner: str, **values: Any) -> bool:
    """Write ``values`` to a run only while ``owner`` still holds it active; False otherwise.

    A run whose lease expired was failed by another process; its old owner must not
    overwrite that, so every write of the owner is conditional.
    """
    statement = (
        update(MatchingRun)
        .where(
            col(MatchingRun.id) == run_id,
            col(MatchingRun.owner) == owner,
            col(MatchingRun.status).in_(ACTIVE_RUN_STATES),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(session.exec(statement).rowcount == 1)


def renew_leases(*, session: Session, owner: str, until: datetime) -> int:
    """Extend the lease of every active run ``owner`` holds (its heartbeat); the count."""
    statement = (
        update(MatchingRun)
        .where(col(MatchingRun.owner) == owner, col(MatchingRun.status).in_(ACTIVE_RUN_STATES))
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return int(session.exec(statement).rowcount)


def fail_expired_runs(*, session: Session, error: str) -> list[int]:
    """Fail every active run whose lease ran out (its owner is gone); their ids."""
    now = utc_now()
    expired = _lease_expired(now)
    ids = list(session.exec(select(MatchingRun.id).where(*expired)).all())
    if ids:
        statement = (
            update(MatchingRun)
            .where(col(MatchingRun.id).in_(ids), *expired)
            .values(status=RunStatus.FAILED, stage="fehlgeschlagen", error=error, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        session.exec(statement)
    return [i for i in ids if i is not None]


def _lease_expired(now: datetime) -> tuple[Any, ...]:
    """WHERE clauses of "active, and its lease ran out (or it never had one)"."""
    return (
        col(MatchingRun.status).in_(ACTIVE_RUN_STATES),
        (col(MatchingRun.lease_until).is_(None)) | (col(MatchingRun.lease_until) < now),
    )


def request_cancel(*, session: Session, run_id: int) -> None:
    """Ask an active run to stop; a queued one is cancelled at once (by any process)."""
    session.exec(
        update(MatchingRun)
        .where(col(MatchingRun.id) == run_id, col(MatchingRun.status).in_(ACTIVE_RUN_STATES))
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.exec(
        update(MatchingRun)
        .where(col(MatchingRun.id) == run_id, col(MatchingRun.status) == RunStatus.QUEUED)
        .values(status=RunStatus.CANCELLED, stage="abgebrochen", finished_at=utc_now())
        .execution_options(synchronize_session=False)
    )


# --- placement invariants ---------------------------------------------------------------------


def lock_round_for_write(*, session: Session, round_id: int, offer_ids: Sequence[int] = ()) -> None:
    """Take the database's write lock for a round before a check that spans several rows.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the round row, then on the offers' rows (always in
    this order, by id, so two writers never deadlock). SQLite has no row locks: ``BEGIN
    IMMEDIATE`` takes the database's single write lock before the first read of the check
    (unless this transaction already writes and so holds it). Either way, a capacity count
    read after this call stays true until the caller commits, in every process.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    session.exec(select(Round.id).where(Round.id == round_id).with_for_update())
    if offer_ids:
        statement = (
            select(Offer.id)
            .where(col(Offer.id).in_(sorted(set(offer_ids))))
            .order_by(col(Offer.id))
            .with_for_update()
        )
        session.exec(statement).all()


def count_confirmed_of_applicant(*, session: Session, applicant_id: int) -> int:
    """Confirmed placements of an applicant (0 or 1 by the partial unique index)."""
    statement = select(func.count()).where(
        Placement.applicant_id == applicant_id, Placement.status == PlacementStatus.CONFIRMED
    )
    return session.exec(statement).one()


def conflicting_proposals(
    *, session: Session, applicant_id: int, offer_id: int | None
) -> list[Placement]:
    """Open proposals of the applicant, and with ``offer_id`` also those on that offer."""
    mine = col(Placement.applicant_id) == applicant_id
    where = mine if offer_id is None else mine | (col(Placement.offer_id) == offer_id)
    statement = select(Placement).where(where, Placement.status == PlacementStatus.PROPOSED)
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def confirmed_placements(
    *, session: Session, offer_id: int | None = None, applicant_id: int | None = None
) -> list[Placement]:
    """Confirmed placements on an offer or of an applicant."""
    statement = select(Placement).where(Placement.status == PlacementStatus.CONFIRMED)
    if offer_id is not None:
        statement = statement.where(Placement.offer_id == offer_id)
    if applicant_id is not None:
        statement = statement.where(Placement.applicant_id == applicant_id)
    return list(session.exec(statement.order_by(col(Placement.id))).all())


def mark_for_review(*, session: Session, placement_ids: Sequence[int], reason: str) -> None:
    """Flag confirmed placements that a forced edit broke (the coordinator's to-do list)."""
    session.exec(
        update(Placement)
        .where(col(Placement.id).in_(list(placement_ids)))
        .values(needs_review=True, review_reason=reason)
        .execution_options(synchronize_session=False)
    )


def list_runs(*, session: Session, round_id: int) -> list[MatchingRun]:
    statement = select(MatchingRun).where(MatchingRun.round_id == round_id)
    return list(session.exec(statement.order_by(col(MatchingRun.id).desc())).all())


def add_audit(*, session: Session, entry: AuditEntry) -> AuditEntry:
    session.add(entry)
    session.flush()
    return entry


def list_audit_entries(*, session: Session, round_id: int | None) -> list[AuditEntry]:
    """A round's entries (None: entries of no round), oldest first."""
    where = (
        AuditEntry.round_id == round_id
        if round_id is not None
        else col(AuditEntry.round_id).is_(None)
    )
    return list(session.exec(select(AuditEntry).where(where).order_by(col(AuditEntry.id))).all())


def pseudonymise_audit(
    *, session: Session, round_id: int, applicant_id: int, external_id: str
) -> int:
    """Let an erased applicant's entries keep only the row id as a pseudonym; the count.

    The public id („A-003“) is dropped and entries that named the person by it alone get the
    row id instead: the log still tells one person's steps apart, but names nobody.
    """
    result = session.exec(
        update(AuditEntry)
        .where(
            col(AuditEntry.round_id) == round_id,
            (col(AuditEntry.applicant_id) == applicant_id)
            | (col(AuditEntry.applicant_public_id) == external_id),
        )
        .values(applicant_public_id=None, applicant_id=applicant_id)
    )
    return result.rowcount


def external_ids(
    *, session: Session, table: type[Applicant] | type[Offer], row_ids: Sequence[int]
) -> dict[int, str]:
    """Row id → public id of those rows that still exist."""
    found: dict[int, str] = {}
    for start in range(0, len(row_ids), 500):
        chunk = list(row_ids[start : start + 500])
        statement = select(table.id, table.external_id).where(col(table.id).in_(chunk))
        found.update({row_id: external for row_id, external in session.exec(statement) if row_id})
    return found


def list_accounts(*, session: Session) -> list[Account]:
    """Every account, oldest first."""
    return list(session.exec(select(Account).order_by(col(Account.id))).all())


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


def stamp_account_use(*, session: Session, account_id: int, used_at: datetime) -> None:
    """Record when a token was last used (the caller commits)."""
    session.execute(
        update(Account).where(col(Account.id) == account_id).values(last_used_at=used_at)
    )
