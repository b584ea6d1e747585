"""The state machines of placements and rounds: one transition table each, one writer each.

Every status change of a placement goes through :func:`transition`: it looks the change up in
:data:`PLACEMENT_TRANSITIONS`, writes it with a conditional update (``UPDATE … WHERE id = :id
AND status = :expected``; no row changed means somebody else decided first → :class:`StaleState`)
and adds an audit entry naming the pair by its public ids. Rounds work the same way with
:data:`ROUND_TRANSITIONS` and :func:`change_round`. The tables are also the README's diagram
(:func:`placement_diagram`, :func:`round_diagram`; a test pins them).

Capacity and "one confirmed place per applicant" need more than one row, so the callers take
the round's write lock first (:func:`models.crud.lock_round_for_write`); the partial unique
index on confirmed placements backs the second rule up inside the database.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, update

from models.tables import (
    Applicant,
    AuditEntry,
    MentorDecision,
    Offer,
    Placement,
    PlacementStatus,
    Round,
    RoundStatus,
    utc_now,
)


class PlacementEvent(StrEnum):
    """What can happen to a placement; the value is the audit log's ``action``."""

    CONFIRM = "confirm"
    REJECT = "reject"
    SUPERSEDE = "supersede"
    WITHDRAW = "withdraw"
    HOST_ACCEPT = "mentor_accepted"
    HOST_DECLINE = "mentor_declined"
    RELEASE = "release"


P = PlacementStatus
E = PlacementEvent

#: (status now, event) → status afterwards. Anything not listed is refused with 409.
PLACEMENT_TRANSITIONS: dict[tuple[PlacementStatus, PlacementEvent], PlacementStatus] = {
    (P.PROPOSED, E.CONFIRM): P.CONFIRMED,
    (P.PROPOSED, E.REJECT): P.REJECTED,
    (P.PROPOSED, E.SUPERSEDE): P.SUPERSEDED,
    (P.CONFIRMED, E.HOST_ACCEPT): P.CONFIRMED,
    (P.CONFIRMED, E.WITHDRAW): P.WITHDRAWN,
    (P.CONFIRMED, E.HOST_DECLINE): P.DECLINED_BY_HOST,
    (P.CONFIRMED, E.RELEASE): P.RELEASED,
}

#: The host mentor decides once (accept or decline); later changes are a coordinator's release.
MENTOR_EVENTS = {E.HOST_ACCEPT: MentorDecision.ACCEPTED, E.HOST_DECLINE: MentorDecision.DECLINED}

#: Ends of a confirmed placement: each frees its place at once.
FREED = frozenset({P.WITHDRAWN, P.DECLINED_BY_HOST, P.RELEASED})
#: Pairs a later run must not propose again (the coordinator or the host said no to them).
EXCLUDED_PAIRS = frozenset({P.REJECTED, P.DECLINED_BY_HOST, P.RELEASED})

R = RoundStatus

#: (status now, status wanted) → the audit log's action. A closed round is read-only until
#: it is reopened (closed → matching).
ROUND_TRANSITIONS: dict[tuple[RoundStatus, RoundStatus], str] = {
    (R.OPEN, R.MATCHING): "round_matching",
    (R.MATCHING, R.OPEN): "round_open",
    (R.OPEN, R.CLOSED): "round_close",
    (R.MATCHING, R.CLOSED): "round_close",
    (R.CLOSED, R.MATCHING): "round_reopen",
}


class StaleState(Exception):
    """The change is not allowed from the state the row is in (now, in the database)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def placement_label(session: Session, placement: Placement) -> str:
    """How messages name a placement: ``Platzierung 12 (A-001 → H-013)``."""
    applicant_id, offer_id = public_ids(session, placement)
    return f"Platzierung {placement.id} ({applicant_id} → {offer_id})"


def public_ids(session: Session, placement: Placement) -> tuple[str, str]:
    """The interchange ids of the placement's applicant and offer."""
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    assert applicant is not None and offer is not None, "foreign keys guarantee both"
    return applicant.external_id, offer.external_id


def transition(
    session: Session,
    placement: Placement,
    event: PlacementEvent,
    *,
    actor: str,
    reason: str | None,
    action: str | None = None,
) -> Placement:
    """Apply ``event`` to the placement if the database still holds the state it was made on.

    Raises :class:`StaleState` when the table has no such change or the row changed meanwhile
    (also in another process). ``action`` names the audit entry when it differs from the
    event (a manual placement is a ``place``). The caller commits.
    """
    session.refresh(placement)  # the state in the database, not the one this session saw
    target = PLACEMENT_TRANSITIONS.get((placement.status, event))
    if target is None:
        raise StaleState(
            f"{placement_label(session, placement)} ist „{placement.status.value}“; "
            f"„{event.value}“ ist so nicht möglich."
        )
    statement = update(Placement).where(
        col(Placement.id) == placement.id, col(Placement.status) == placement.status
    )
    if event in MENTOR_EVENTS:
        statement = statement.where(col(Placement.mentor_decision).is_(None)).values(
            status=target,
            mentor_decision=MENTOR_EVENTS[event],
            mentor_reason=reason,
            mentor_decided_at=utc_now(),
        )
    else:
        values: dict[str, object] = {"status": target, "decided_by": actor}
        values["decided_at"] = utc_now()
        if reason is not None:
            values["reason"] = reason
        statement = statement.values(**values)
    try:
        changed = session.exec(statement.execution_options(synchronize_session=False)).rowcount
    except IntegrityError as error:  # the partial unique index: a second confirmed place
        raise StaleState(
            f"{placement_label(session, placement)}: die Bewerbung hat bereits einen "
            "bestätigten Platz."
        ) from error
    if changed != 1:
        session.refresh(placement)
        raise StaleState(
            f"{placement_label(session, placement)} wurde inzwischen geändert "
            f"(jetzt „{placement.status.value}“)."
        )
    session.refresh(placement)
    audit(session, placement, actor=actor, action=action or event.value, reason=reason)
    return placement


def audit(
    session: Session, placement: Placement, *, actor: str, action: str, reason: str | None
) -> AuditEntry:
    """An audit entry about one placement, with row ids and public ids."""
    applicant_id, offer_id = public_ids(session, placement)
    entry = AuditEntry(
        round_id=placement.round_id,
        actor=actor,
        action=action,
        placement_id=placement.id,
        applicant_id=placement.applicant_id,
        offer_id=placement.offer_id,
        applicant_public_id=applicant_id,
        offer_public_id=offer_id,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def change_round(
    session: Session, round_: Round, target: RoundStatus, *, actor: str, reason: str | None = None
) -> Round:
    """Move a round to ``target`` if the table allows it from the state stored now."""
    session.refresh(round_)
    if round_.status is target:
        return round_
    action = ROUND_TRANSITIONS.get((round_.status, target))
    if action is None:
        raise StaleState(f"Statuswechsel {round_.status.value} → {target.value} ist nicht erlaubt.")
    statement = (
        update(Round)
        .where(col(Round.id) == round_.id, col(Round.status) == round_.status)
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if session.exec(statement).rowcount != 1:
        raise StaleState("Der Status der Runde wurde inzwischen geändert.")
    session.refresh(round_)
    session.add(AuditEntry(round_id=round_.id, actor=actor, action=action, reason=reason))
    session.flush()
    return round_


def placement_diagram() -> str:
    """:data:`PLACEMENT_TRANSITIONS` as a Mermaid state diagram (the README shows it)."""
    arrows = [
        f"    {before.value} --> {after.value}: {event.value}"
        for (before, event), after in PLACEMENT_TRANSITIONS.items()
    ]
    return "\n".join(["stateDiagram-v2", "    [*] --> proposed", *arrows])


def round_diagram() -> str:
    """:data:`ROUND_TRANSITIONS` as a Mermaid state diagram (the README shows it)."""
    arrows = [
        f"    {before.value} --> {after.value}: {action}"
        for (before, after), action in ROUND_TRANSITIONS.items()
    ]
    return "\n".join(["stateDiagram-v2", "    [*] --> open", *arrows])
