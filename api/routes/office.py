"""Office files: import offers and applications from CSV or XLSX, export the result, templates."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile, status

import matcher
from api import office, services
from api.deps import CoordinatorDep, IdPath, SessionDep, WriteLockDep
from api.errors import Unprocessable
from matcher.tabular import RecordT
from models.schemas import ImportedFile, RecordField, TableImportResult

router = APIRouter(tags=["Tabellen (Excel, CSV)"])

#: Largest accepted upload per file; a real round's files are well below 1 MB.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
FormatPath = Literal["csv", "xlsx"]
SheetQuery = Annotated[
    str | None,
    Query(max_length=31, description="XLSX: the sheet to read (default: the first one)"),
]


@router.post("/api/rounds/{round_id}/import/csv", status_code=status.HTTP_201_CREATED)
def import_tables(
    round_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    _: CoordinatorDep,
    offers: Annotated[UploadFile | None, File(description="offers: CSV or XLSX")] = None,
    applicants: Annotated[UploadFile | None, File(description="applicants: CSV or XLSX")] = None,
    sheet: SheetQuery = None,
) -> TableImportResult:
    """CSV (``;`` or ``,``; UTF-8, UTF-8 with BOM or Windows-1252) or XLSX, German or
    interchange headers; lists as ``a; b``, languages as ``de:C2; en:B1``; all or nothing."""
    services.require_round(session, round_id, writable=True)
    offer_file = _Upload(offers, "offers")
    applicant_file = _Upload(applicants, "applicants")
    parsed_offers, parsed_applicants = matcher.parse_round(
        lambda: offer_file.records(matcher.Offer, sheet),
        lambda: applicant_file.records(matcher.Applicant, sheet),
    )
    with lock:
        services.import_records(
            session, round_id, offers=parsed_offers, applicants=parsed_applicants
        )
        session.commit()
    files = [f.info for f in (offer_file, applicant_file) if f.info is not None]
    return TableImportResult(
        offers=len(parsed_offers), applicants=len(parsed_applicants), files=files
    )


class _Upload:
    """One uploaded file of the import: its bytes, its name, and how it was read."""

    def __init__(self, upload: UploadFile | None, field: str) -> None:
        self.data = _read_upload(upload, field)
        self.source = _source_name(upload, field)
        self.info: ImportedFile | None = None

    def records(self, kind: type[RecordT], sheet: str | None) -> list[RecordT]:
        if not self.data:
            return []
        records, info = matcher.load_table(kind, self.data, source=self.source, sheet=sheet)
        self.info = ImportedFile.model_validate(info, from_attributes=True)
        return records


def _source_name(upload: UploadFile | None, field: str) -> str:
    """The uploaded file's own name (what the coordinator knows), else ``offers.csv``."""
    name = PurePosixPath((upload.filename or "") if upload else "").name[:200]
    return name or f"{field}.csv"


def _read_upload(upload: UploadFile | None, field: str) -> bytes:
    if upload is None:
        return b""
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // 1024 // 1024
        raise Unprocessable(
            "Datei zu groß.",
            [{"field": field, "message": f"Die Datei ist größer als {limit} MB."}],
        )
    return data


def _download(data: bytes, fmt: FormatPath, filename: str) -> Response:
    return Response(
        data,
        media_type=office.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'},
    )


@router.get("/api/rounds/{round_id}/export.{fmt}", response_class=Response)
def export_round(
    round_id: IdPath, fmt: FormatPath, session: SessionDep, _: CoordinatorDep
) -> Response:
    """The result for Excel, one row per applicant: placement with dates, e-mail and mentor,
    or the reason for no place. CSV: UTF-8 with BOM, ``;``; XLSX: frozen header row."""
    services.require_round(session, round_id)
    return _download(office.export_round(session, round_id, fmt), fmt, f"runde-{round_id}")


@router.get("/api/templates/{kind}.{fmt}", response_class=Response)
def template(kind: office.Kind, fmt: FormatPath, _: CoordinatorDep) -> Response:
    """An empty sheet for offers or applications with German headers and one example row."""
    names = {office.Kind.OFFERS: "vorlage-angebote", office.Kind.APPLICANTS: "vorlage-bewerbungen"}
    return _download(office.template(kind, fmt), fmt, names[kind])


@router.get("/api/templates/{kind}/fields")
def record_fields(kind: office.Kind, _: CoordinatorDep) -> list[RecordField]:
    """The fields of an offer or application with German labels: what the form asks for."""
    return office.record_fields(kind)
