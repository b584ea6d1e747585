"""The audit log: every state change with public ids, who, when, what and why.

Writing goes through :func:`record` (or :func:`record_placement` for a placement's change), so
every entry carries the public ids (``A-001``, ``H-013``); placement entries also keep the row
ids, by which the GDPR access request finds a person's decisions. Reading (:func:`entries`)
resolves entries written before public ids were stored through their row ids. An erasure
(:func:`pseudonymise`) leaves the person's entries only the row id as a pseudonym: they read
„gelöscht“, never a public id or a name.

Kinds (``action``) in use: ``confirm``, ``reject``, ``place``, ``mentor_accepted``,
``mentor_declined``, ``delete_applicant`` (written by the decision and privacy modules),
``round_settings``, ``offer_added``, ``offer_changed``, ``offer_deleted``, ``applicant_added``,
``applicant_changed``, ``token_issued``, ``token_revoked``, ``token_reissued``,
``ranker_learned``, ``override_rejection`` (a rejected pair placed by hand); runs write
``run_started``, ``run_finished``, ``run_failed`` and ``run_cancelled`` (:func:`record_run`);
round status changes and the placement lifecycle add their own (e.g. ``round_status`` with
``detail`` "open → matching").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from models import crud, tables
from models.schemas import AuditEntryPublic

#: Shown for an id whose row has been deleted since (only entries from before public ids).
DELETED = "gelöscht"

#: CSV columns: German header → field of :class:`AuditEntryPublic`.
CSV_COLUMNS = {
    "Zeitpunkt (UTC)": "created_at",
    "Wer": "actor",
    "Vorgang": "action",
    "Bewerbung": "applicant_id",
    "Angebot": "offer_id",
    "Platzierung": "placement_id",
    "Was": "detail",
    "Begründung": "reason",
}
DETAIL_LENGTH: int = tables.AuditEntry.__table__.c.detail.type.length  # type: ignore[attr-defined]
#: A cell starting with one of these would be a formula in Excel or LibreOffice.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    round_id: int | None = None,
    applicant: tables.Applicant | None = None,
    offer: tables.Offer | None = None,
    placement_id: int | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> tables.AuditEntry:
    """Write one entry in the caller's transaction; ``actor`` is ``Principal.actor``.

    The entry names the applicant and offer by public id only; placement entries
    (:func:`record_placement`) also keep the row ids, as the GDPR access request finds a
    person's decisions by them.
    """
    return crud.add_audit(
        session=session,
        entry=tables.AuditEntry(
            round_id=round_id,
            actor=actor,
            action=action,
            placement_id=placement_id,
            applicant_public_id=applicant.external_id if applicant else None,
            offer_public_id=offer.external_id if offer else None,
            reason=reason,
            detail=_clipped(detail),
        ),
    )


def _clipped(detail: str | None) -> str | None:
    """At most the column's length (PostgreSQL refuses longer text, SQLite would keep it): a
    run's error message after its id could otherwise make the failure itself unrecordable."""
    if detail is None or len(detail) <= DETAIL_LENGTH:
        return detail
    return detail[: DETAIL_LENGTH - 1] + "…"


def record_placement(
    session: Session,
    placement: tables.Placement,
    *,
    actor: str,
    action: str,
    reason: str | None = None,
    detail: str | None = None,
) -> tables.AuditEntry:
    """:func:`record` for a change of one placement, with its applicant's and offer's ids."""
    entry = record(
        session,
        actor=actor,
        action=action,
        round_id=placement.round_id,
        applicant=session.get(tables.Applicant, placement.applicant_id),
        offer=session.get(tables.Offer, placement.offer_id),
        placement_id=placement.id,
        reason=reason,
        detail=detail,
    )
    entry.applicant_id, entry.offer_id = placement.applicant_id, placement.offer_id
    session.add(entry)
    session.flush()
    return entry


#: Audit kind of a run's end, by its final status.
RUN_ENDED = {
    tables.RunStatus.DONE: "run_finished",
    tables.RunStatus.FAILED: "run_failed",
    tables.RunStatus.CANCELLED: "run_cancelled",
}


def record_run(
    session: Session, run: tables.MatchingRun, action: str, *, actor: str, detail: str = ""
) -> tables.AuditEntry:
    """:func:`record` for a run's start or end: its id (as the API shows it) and mode, then
    ``detail`` (parameters, counts, the error)."""
    return record(
        session,
        actor=actor,
        action=action,
        round_id=run.round_id,
        detail=f"Lauf {run.id} ({run.mode})" + (f": {detail}" if detail else ""),
    )


def pseudonymise(session: Session, applicant: tables.Applicant) -> int:
    """Before an erasure: the person's entries keep only the row id (they read „gelöscht“)."""
    assert applicant.id is not None
    return crud.pseudonymise_audit(
        session=session,
        round_id=applicant.round_id,
        applicant_id=applicant.id,
        external_id=applicant.external_id,
    )


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show; None means any."""

    applicant_id: str | None = None
    offer_id: str | None = None
    kind: str | None = None

    def keeps(self, entry: AuditEntryPublic) -> bool:
        return (
            (self.applicant_id is None or entry.applicant_id == self.applicant_id)
            and (self.offer_id is None or entry.offer_id == self.offer_id)
            and (self.kind is None or entry.action == self.kind)
        )


def entries(
    session: Session, round_id: int | None, where: AuditFilter = AuditFilter()
) -> list[AuditEntryPublic]:
    """The entries of a round (None: those of no round, e.g. coordinator tokens), oldest first."""
    rows = crud.list_audit_entries(session=session, round_id=round_id)
    applicants = _public_ids(session, tables.Applicant, [r.applicant_id for r in rows])
    offers = _public_ids(session, tables.Offer, [r.offer_id for r in rows])
    result = [
        AuditEntryPublic(
            id=_stored(row.id),
            created_at=row.created_at,
            actor=row.actor,
            action=row.action,
            applicant_id=row.applicant_public_id or _resolve(applicants, row.applicant_id),
            offer_id=row.offer_public_id or _resolve(offers, row.offer_id),
            placement_id=row.placement_id,
            reason=row.reason,
            detail=row.detail,
        )
        for row in rows
    ]
    return [entry for entry in result if where.keeps(entry)]


def _stored(value: int | None) -> int:
    assert value is not None, "stored entries have ids"
    return value


def _public_ids(
    session: Session,
    table: type[tables.Applicant] | type[tables.Offer],
    row_ids: Sequence[int | None],
) -> dict[int, str]:
    wanted = sorted({row_id for row_id in row_ids if row_id is not None})
    return crud.external_ids(session=session, table=table, row_ids=wanted)


def _resolve(public: dict[int, str], row_id: int | None) -> str | None:
    if row_id is None:
        return None
    return public.get(row_id, DELETED)


def csv_text(rows: Sequence[AuditEntryPublic]) -> str:
    """Excel-ready CSV: semicolons, UTF-8 with BOM, German headers, no cell read as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in rows:
        values = entry.model_dump()
        writer.writerow(_neutral(_cell(values[field])) for field in CSV_COLUMNS.values())
    return "\ufeff" + buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _neutral(text: str) -> str:
    """Prefix a would-be formula with an apostrophe, as spreadsheet users expect."""
    return "'" + text if text.startswith(_FORMULA_START) else text
