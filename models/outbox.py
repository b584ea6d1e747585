"""The e-mail outbox's rows: enqueue once per event, claim, settle, list, resend.

Every write that a second process could race is a conditional update: a dispatcher claims a
row only if it is still due (``pending`` and its time has come, or ``sending`` with a lease
that ran out), and settles it only while it still holds that claim. So two dispatchers on one
database never send the same row, and a row whose dispatcher died is taken over after its
lease, never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from models.tables import OutboxMessage, OutboxStatus, utc_now

#: Due rows a dispatcher looks at per claim; the rest wait for the next claim.
CLAIM_CANDIDATES = 10


def add_message(*, session: Session, message: OutboxMessage) -> bool:
    """Insert the message unless one with its ``key`` exists; whether it was inserted.

    ``INSERT … ON CONFLICT (key) DO NOTHING``: a duplicate leaves the caller's transaction
    usable (an IntegrityError would abort it on PostgreSQL). The caller commits.
    """
    values = message.model_dump(exclude={"id"})
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(session.exec(statement).rowcount)


def _due(now: datetime) -> ColumnElement[bool]:
    """Waiting and due, or claimed by a dispatcher whose lease ran out (it died)."""
    return or_(
        and_(
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
        ),
        and_(
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.lease_until) < now,
        ),
    )


def claim_next(*, session: Session, owner: str, lease_until: datetime) -> OutboxMessage | None:
    """Claim the oldest due message for ``owner`` (committed), counting the attempt; None if
    none is due. Another process claiming the same row makes this one try the next."""
    now = utc_now()
    candidates = session.exec(
        select(OutboxMessage.id)
        .where(_due(now))
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(CLAIM_CANDIDATES)
    ).all()
    for message_id in candidates:
        statement = (
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id, _due(now))
            .values(
                status=OutboxStatus.SENDING,
                owner=owner,
                lease_until=lease_until,
                attempts=col(OutboxMessage.attempts) + 1,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = session.exec(statement).rowcount == 1
        session.commit()
        if claimed:
            return session.get(OutboxMessage, message_id, populate_existing=True)
    session.commit()
    return None


def _settle(*, session: Session, message_id: int, owner: str, **values: object) -> bool:
    """Write ``values`` if ``owner`` still holds the claim; whether it did (the caller commits)."""
    statement = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.owner) == owner,
        )
        .values(owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return session.exec(statement).rowcount == 1


def mark_sent(*, session: Session, message_id: int, owner: str) -> bool:
    """The mail server accepted the message: it is never sent again."""
    return _settle(
        session=session,
        message_id=message_id,
        owner=owner,
        status=OutboxStatus.SENT,
        sent_at=utc_now(),
        last_error=None,
    )


def mark_attempt_failed(
    *, session: Session, message_id: int, owner: str, error: str, retry_at: datetime | None
) -> bool:
    """Sending failed: try again at ``retry_at``, or give up (``failed``) when it is None.

    ``error`` must hold no personal data (no address, no text of the message).
    """
    status = OutboxStatus.FAILED if retry_at is None else OutboxStatus.PENDING
    values: dict[str, object] = {"status": status, "last_error": error[:500]}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    return _settle(session=session, message_id=message_id, owner=owner, **values)


def list_messages(
    *, session: Session, status: OutboxStatus | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """The newest messages first, optionally of one status."""
    statement = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status is not None:
        statement = statement.where(col(OutboxMessage.status) == status)
    return list(session.exec(statement).all())


def resend(*, session: Session, message_ids: Sequence[int]) -> list[int]:
    """Put failed messages back in the queue, due now with a fresh count of attempts; the ids
    that were failed (the others are left alone). The caller commits."""
    failed = col(OutboxMessage.status) == OutboxStatus.FAILED
    ids = list(
        session.exec(
            select(OutboxMessage.id).where(col(OutboxMessage.id).in_(message_ids), failed)
        ).all()
    )
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), failed)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    return [i for i in ids if i is not None]


def _about(round_id: int, applicant_public_id: str) -> ColumnElement[bool]:
    return and_(
        col(OutboxMessage.round_id) == round_id,
        col(OutboxMessage.applicant_public_id) == applicant_public_id,
    )


def messages_about(
    *, session: Session, round_id: int, applicant_public_id: str
) -> list[OutboxMessage]:
    """Every message to or about one applicant of a round (for the access export)."""
    statement = select(OutboxMessage).where(_about(round_id, applicant_public_id))
    return list(session.exec(statement.order_by(col(OutboxMessage.id))).all())


def delete_about(*, session: Session, round_id: int, applicant_public_id: str) -> int:
    """Erasure: delete the applicant's messages, sent or not (the caller commits); the count."""
    statement = delete(OutboxMessage).where(_about(round_id, applicant_public_id))
    return session.exec(statement.execution_options(synchronize_session=False)).rowcount
