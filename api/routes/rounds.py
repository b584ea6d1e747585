"""Rounds: create, list, show, change status, import, export, audit log."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

import matcher
from api import services
from api.deps import CoordinatorDep, IdPath, SessionDep, WriteLockDep
from api.errors import Unprocessable
from models import crud
from models.schemas import (
    AuditEntryPublic,
    ImportBody,
    ImportResult,
    RoundStatusUpdate,
    RoundSummary,
)
from models.tables import RoundCreate

router = APIRouter(prefix="/api/rounds", tags=["Runden"])

#: Largest accepted upload per file; a real round's files are well below 1 MB.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@router.post("", status_code=status.HTTP_201_CREATED)
def create_round(body: RoundCreate, session: SessionDep, _: CoordinatorDep) -> RoundSummary:
    """Open a new round."""
    round_ = crud.create_round(session=session, name=body.name, direction=body.direction)
    session.commit()
    return services.round_summary(session, round_)


@router.get("")
def list_rounds(session: SessionDep, _: CoordinatorDep) -> list[RoundSummary]:
    return [services.round_summary(session, r) for r in crud.list_rounds(session=session)]


@router.get("/{round_id}")
def show_round(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> RoundSummary:
    """A round with its counts of applicants, offers, places and placements."""
    return services.round_summary(session, services.require_round(session, round_id))


@router.patch("/{round_id}")
def change_status(
    round_id: IdPath,
    body: RoundStatusUpdate,
    session: SessionDep,
    lock: WriteLockDep,
    _: CoordinatorDep,
) -> RoundSummary:
    """open → matching → closed (a closed round is read-only; not while a run is active)."""
    with lock:
        round_ = services.change_round_status(
            session, services.require_round(session, round_id), body.status
        )
        session.commit()
    return services.round_summary(session, round_)


@router.post("/{round_id}/import", status_code=status.HTTP_201_CREATED)
def import_json(
    round_id: IdPath, body: ImportBody, session: SessionDep, lock: WriteLockDep, _: CoordinatorDep
) -> ImportResult:
    """Add offers and applicants in the interchange format: all of them, or none (422)."""
    services.require_round(session, round_id, writable=True)
    offers, applicants = matcher.parse_round(
        lambda: matcher.parse_records(matcher.Offer, body.offers, source="offers"),
        lambda: matcher.parse_records(matcher.Applicant, body.applicants, source="applicants"),
    )
    with lock:
        services.import_records(session, round_id, offers=offers, applicants=applicants)
        session.commit()
    return ImportResult(offers=len(offers), applicants=len(applicants))


@router.post("/{round_id}/import/csv", status_code=status.HTTP_201_CREATED)
def import_csv(
    round_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    _: CoordinatorDep,
    offers: Annotated[UploadFile | None, File(description="offers.csv")] = None,
    applicants: Annotated[UploadFile | None, File(description="applicants.csv")] = None,
) -> ImportResult:
    """The CSV variant: lists as ``a;b``, languages as ``de:C2;en:B1``; all or nothing."""
    services.require_round(session, round_id, writable=True)
    offer_bytes = _read_upload(offers, "offers")
    applicant_bytes = _read_upload(applicants, "applicants")
    parsed_offers, parsed_applicants = matcher.parse_round(
        lambda: matcher.load_offers_csv(offer_bytes, source="offers.csv") if offer_bytes else [],
        lambda: (
            matcher.load_applicants_csv(applicant_bytes, source="applicants.csv")
            if applicant_bytes
            else []
        ),
    )
    with lock:
        services.import_records(
            session, round_id, offers=parsed_offers, applicants=parsed_applicants
        )
        session.commit()
    return ImportResult(offers=len(parsed_offers), applicants=len(parsed_applicants))


def _read_upload(upload: UploadFile | None, field: str) -> bytes:
    if upload is None:
        return b""
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Unprocessable(
            "Datei zu groß.",
            [{"field": field, "message": f"larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB"}],
        )
    return data


@router.get("/{round_id}/export.csv", response_class=Response)
def export_csv(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> Response:
    """The round's result: one row per applicant (offer, city, mentor, status)."""
    services.require_round(session, round_id)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=services.EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(services.export_rows(session, round_id))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="runde-{round_id}.csv"'},
    )


@router.get("/{round_id}/audit")
def audit_log(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> list[AuditEntryPublic]:
    """Every decision of the round: who, when, what, why."""
    services.require_round(session, round_id)
    return [
        AuditEntryPublic.model_validate(entry, from_attributes=True)
        for entry in crud.list_audit(session=session, round_id=round_id)
    ]
