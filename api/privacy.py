"""Personal data (GDPR): what is stored about one applicant, and forgetting them.

Applicants' names, e-mails and motivations are personal data. The access export lists every
table that mentions the person: the profile, placements, tokens, audit entries, the stored
results of batch runs and unconfirmed online applications from their e-mail address. Erasure
removes the profile, the cached embeddings of their texts, their placements and tokens (ON DELETE
CASCADE), their public id from every stored run result and those unconfirmed applications. A
person known only by an unconfirmed application is found and erased by the e-mail address. The
audit log keeps its entries under the applicant's row id, a pseudonym once the row is gone (row
ids are never reused), without the free-text reasons written about them.

Deleted rows must not stay readable on disk either: SQLite runs with ``secure_delete=ON`` (freed
space is zeroed) and ``wipe_erased`` empties the write-ahead log afterwards, which otherwise
keeps the pages as they were before the delete.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from api import audit, services
from api.auth import Principal
from matcher import TopicScorer
from matcher.text import applicant_texts
from models import calls, crud, outbox
from models.health import truncate_wal
from models.tables import (
    Applicant,
    AuditEntry,
    MatchingRun,
    PendingApplication,
    PlacementStatus,
)

#: Lists of a run result whose entries name one applicant each (``{"applicant_id": ...}``).
_RESULT_LISTS = ("proposals", "pinned", "unplaced")


def personal_data(session: Session, round_id: int, applicant_id: str) -> dict[str, Any]:
    """Everything stored about one applicant, as one JSON document."""
    row = services.require_applicant(session, round_id, applicant_id)
    row_id = services.row_id(row.id)
    return {
        "applicant": services.applicant_record(row).model_dump(mode="json"),
        "placements": [
            services.placement_view(session, p).model_dump(mode="json")
            for p in crud.placements_of_applicant(session=session, applicant_id=row_id)
        ],
        "accounts": [
            {
                "id": a.id,
                "role": a.role.value,
                "label": a.label,
                "created_at": a.created_at.isoformat(),
            }
            for a in crud.accounts_of_applicant(session=session, applicant_id=row_id)
        ],
        "audit": [
            {
                "id": e.id,
                "actor": e.actor,
                "action": e.action,
                "placement_id": e.placement_id,
                "offer_id": e.offer_id,
                "reason": e.reason,
                "created_at": e.created_at.isoformat(),
            }
            for e in crud.audit_of_applicant(session=session, applicant_id=row_id)
        ],
        "run_results": [
            {"run_id": run.id, "created_at": run.created_at.isoformat(), **entries}
            for run in crud.list_runs(session=session, round_id=round_id)
            if (entries := _entries_of(run, applicant_id))
        ],
        "emails": [
            {
                "id": m.id,
                "kind": m.kind,
                "status": m.status.value,
                "subject": m.subject,
                "created_at": m.created_at.isoformat(),
            }
            for m in outbox.messages_about(
                session=session, round_id=round_id, applicant_public_id=applicant_id
            )
        ],
        "pending_applications": _pending_of(session, round_id, row.email),
        "embeddings": "Vektoren der Texte im Cache (werden beim Löschen entfernt)",
    }


def _pending_of(session: Session, round_id: int, email: str | None) -> list[dict[str, Any]]:
    """The round's unconfirmed online applications from this address, as stored."""
    if not email:
        return []
    return [
        _pending_view(p)
        for p in calls.pending_with_email(session=session, round_id=round_id, email=email)
    ]


def _pending_view(pending: PendingApplication) -> dict[str, Any]:
    return {
        "email": pending.email,
        "record": pending.record,
        "created_at": pending.created_at.isoformat(),
        "expires_at": pending.expires_at.isoformat(),
    }


def pending_personal_data(session: Session, round_id: int, email: str) -> dict[str, Any]:
    """What is stored about an address that only applied online without confirming (yet)."""
    services.require_round(session, round_id)
    return {"pending_applications": _pending_of(session, round_id, email)}


def forget_pending(session: Session, round_id: int, email: str, principal: Principal) -> int:
    """Erase the unconfirmed applications from this address (the caller commits, then
    ``wipe_erased``); the audit entry counts them and never names the address."""
    services.require_round(session, round_id)
    erased = calls.delete_pending_with_email(session=session, round_id=round_id, email=email)
    if erased:
        audit.record(
            session,
            actor=principal.actor,
            action="delete_pending",
            round_id=round_id,
            detail=f"{erased} unbestätigte Bewerbung(en) gelöscht",
        )
    return erased


def _entries_of(run: MatchingRun, applicant_id: str) -> dict[str, Any]:
    """What one run's stored result says about the applicant: by list, and offers as alternate."""
    result = run.result or {}
    entries: dict[str, Any] = {
        name: [e for e in result.get(name, []) if e.get("applicant_id") == applicant_id]
        for name in _RESULT_LISTS
    }
    entries["alternate_for"] = sorted(
        offer for offer, ids in result.get("alternates", {}).items() if applicant_id in ids
    )
    return {name: value for name, value in entries.items() if value}


def _without(result: dict[str, Any], applicant_id: str) -> dict[str, Any]:
    """A copy of a run result that no longer names the applicant anywhere."""
    cleaned = dict(result)
    for name in _RESULT_LISTS:
        cleaned[name] = [e for e in result.get(name, []) if e.get("applicant_id") != applicant_id]
    cleaned["alternates"] = {
        offer: [i for i in ids if i != applicant_id]
        for offer, ids in result.get("alternates", {}).items()
    }
    return cleaned


def forget_embeddings(session: Session, scorer: TopicScorer, row: Applicant) -> None:
    """Remove the cached vectors of an applicant's current texts (before erasure or an edit)."""
    texts = applicant_texts(services.applicant_record(row))
    keys = scorer.embedder.keys_for(texts, prompt_name="query")
    crud.delete_embeddings(session=session, text_keys=keys)


def forget_applicant(
    session: Session, scorer: TopicScorer, round_id: int, applicant_id: str, principal: Principal
) -> None:
    """Delete the applicant and every trace of them (the caller commits, then ``wipe_erased``)."""
    row = services.require_applicant(session, round_id, applicant_id)
    row_id = services.row_id(row.id)
    had_place = any(
        p.status is PlacementStatus.CONFIRMED
        for p in crud.placements_of_applicant(session=session, applicant_id=row_id)
    )
    forget_embeddings(session, scorer, row)
    if row.email:
        calls.delete_pending_with_email(session=session, round_id=round_id, email=row.email)
    outbox.delete_about(session=session, round_id=round_id, applicant_public_id=applicant_id)
    for run in crud.list_runs(session=session, round_id=round_id):
        if run.result and _entries_of(run, applicant_id):
            run.result = _without(run.result, applicant_id)  # a new dict: the JSON column saves
            session.add(run)
    for entry in crud.audit_of_applicant(session=session, applicant_id=row_id):
        entry.reason = None  # free text about the person; the row id stays as the pseudonym
        session.add(entry)
    crud.add_audit(
        session=session,
        entry=AuditEntry(
            round_id=round_id,
            actor=principal.actor,
            action="delete_applicant",
            applicant_id=row_id,
            reason="hatte einen bestätigten Platz" if had_place else None,
        ),
    )
    audit.pseudonymise(session, row)
    session.delete(row)  # placements and tokens follow by ON DELETE CASCADE


def wipe_erased(session: Session) -> None:
    """After the erasure is committed: fold the WAL into the zeroed file and empty it."""
    bind = session.get_bind()
    truncate_wal(bind if isinstance(bind, Engine) else bind.engine)
