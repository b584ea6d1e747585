"""Personal data (GDPR): what is stored about one applicant, and forgetting them.

Applicants' names, e-mails and motivations are personal data. Deleting an applicant removes the
profile, the cached embeddings of their texts, their placements and their tokens; the audit log
keeps its entries, which hold only row ids, never names or texts.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from api import audit, services
from api.auth import Principal
from matcher import TopicScorer
from matcher.text import applicant_texts
from models import crud
from models.tables import Applicant, AuditEntry, PlacementStatus


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
        "embeddings": "Vektoren der Texte im Cache (werden beim Löschen entfernt)",
    }


def forget_embeddings(session: Session, scorer: TopicScorer, row: Applicant) -> None:
    """Remove the cached vectors of an applicant's current texts (before erasure or an edit)."""
    texts = applicant_texts(services.applicant_record(row))
    keys = scorer.embedder.keys_for(texts, prompt_name="query")
    crud.delete_embeddings(session=session, text_keys=keys)


def forget_applicant(
    session: Session, scorer: TopicScorer, round_id: int, applicant_id: str, principal: Principal
) -> None:
    """Delete the applicant, their embeddings, placements and tokens (the caller commits)."""
    row = services.require_applicant(session, round_id, applicant_id)
    row_id = services.row_id(row.id)
    had_place = any(
        p.status is PlacementStatus.CONFIRMED
        for p in crud.placements_of_applicant(session=session, applicant_id=row_id)
    )
    forget_embeddings(session, scorer, row)
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
    audit.keep_public_ids(session, row)
    session.delete(row)  # placements and tokens follow by ON DELETE CASCADE
