"""The audit log of a round, filtered, as JSON or as a CSV for Excel (coordinators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import audit, services
from api.deps import CoordinatorDep, IdPath, SessionDep
from models.schemas import AuditEntryPublic

router = APIRouter(tags=["Protokoll"])

ApplicantFilter = Annotated[
    str | None, Query(max_length=500, description="only entries of this applicant, e.g. A-001")
]
OfferFilter = Annotated[
    str | None, Query(max_length=500, description="only entries of this offer, e.g. H-013")
]
KindFilter = Annotated[
    str | None, Query(max_length=40, description="only this kind, e.g. confirm, round_status")
]


@router.get("/api/rounds/{round_id}/audit")
def round_audit(
    round_id: IdPath,
    session: SessionDep,
    _: CoordinatorDep,
    applicant_id: ApplicantFilter = None,
    offer_id: OfferFilter = None,
    kind: KindFilter = None,
) -> list[AuditEntryPublic]:
    """Every state change of the round: who, when, what, why, with public ids."""
    services.require_round(session, round_id)
    return audit.entries(session, round_id, audit.AuditFilter(applicant_id, offer_id, kind))


@router.get("/api/rounds/{round_id}/audit.csv", response_class=Response)
def round_audit_csv(
    round_id: IdPath,
    session: SessionDep,
    _: CoordinatorDep,
    applicant_id: ApplicantFilter = None,
    offer_id: OfferFilter = None,
    kind: KindFilter = None,
) -> Response:
    """The same entries as a CSV Excel opens directly (semicolons, UTF-8 with BOM)."""
    services.require_round(session, round_id)
    rows = audit.entries(session, round_id, audit.AuditFilter(applicant_id, offer_id, kind))
    return _csv(audit.csv_text(rows), f"protokoll-runde-{round_id}.csv")


@router.get("/api/audit")
def audit_without_round(
    session: SessionDep, _: CoordinatorDep, kind: KindFilter = None
) -> list[AuditEntryPublic]:
    """Entries that belong to no round, e.g. coordinator tokens issued or revoked."""
    return audit.entries(session, None, audit.AuditFilter(kind=kind))


def _csv(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
