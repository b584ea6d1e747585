"""Office files for coordinators: the round's result for Excel, and empty templates to fill in.

The spreadsheet format itself (reading, writing, neutralising formulas) is the engine's
``matcher.tabular``; this module decides what goes into the sheets. The result has one row per
applicant with German headers and values: the confirmed placement (else the open proposal) with
its dates, mentor, e-mail addresses and strength label, or, for everyone without a place, the
reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from sqlmodel import Session

import matcher
from api import services
from matcher.constraints import last_day
from matcher.german import FIELD_LABELS
from matcher.tabular import (
    SHEET_TITLES,
    Cell,
    record_header,
    record_row,
    write_csv,
    write_xlsx,
)
from models import crud, tables
from models.schemas import RecordField, RecordInput

Format = Literal["csv", "xlsx"]


class Kind(StrEnum):
    """What a template is for."""

    OFFERS = "offers"
    APPLICANTS = "applicants"


#: Media types of the written files.
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

EXPORT_HEADER = (
    "Bewerbung",
    "Name",
    "E-Mail",
    "Dienststelle",
    "Funktion",
    "Status",
    "Angebot",
    "Titel",
    "Gastbehörde",
    "Stadt",
    "Beginn",
    "Ende",
    "Wochen",
    "Mentor/in",
    "E-Mail Mentor/in",
    "Rückmeldung Mentor/in",
    "Score",
    "Passung",
    "Grund (ohne Platz)",
)

_STATUS_DE = {
    tables.PlacementStatus.CONFIRMED: "bestätigt",
    tables.PlacementStatus.PROPOSED: "vorgeschlagen",
}
_MENTOR_DE = {
    tables.MentorDecision.ACCEPTED: "angenommen",
    tables.MentorDecision.DECLINED: "abgelehnt",
}
WITHOUT_PLACE = "ohne Platz"
NO_RUN_YET = "Noch kein abgeschlossener Zuordnungslauf."
NOT_ASSIGNED = "Zulässige Angebote vorhanden, aber kein Platz zugeteilt."


def encode(header: Sequence[str], rows: list[list[Cell]], fmt: Format, title: str) -> bytes:
    """A sheet as file bytes in the requested format."""
    return write_csv(header, rows) if fmt == "csv" else write_xlsx(header, rows, title=title)


def export_round(session: Session, round_id: int, fmt: Format) -> bytes:
    """The round's result as a file for Excel: one row per applicant."""
    return encode(EXPORT_HEADER, export_rows(session, round_id), fmt, title="Ergebnis")


@dataclass(frozen=True)
class _Placed:
    placement: tables.Placement
    offer: tables.Offer


def _placements_by_applicant(
    session: Session, round_id: int, offers: dict[int | None, tables.Offer]
) -> tuple[dict[int, _Placed], dict[int, tables.Placement]]:
    """Per applicant row id: the confirmed (else proposed) placement, and the last rejected."""
    best: dict[int, _Placed] = {}
    rejected: dict[int, tables.Placement] = {}
    rank = {tables.PlacementStatus.CONFIRMED: 0, tables.PlacementStatus.PROPOSED: 1}
    for p in crud.list_placements(session=session, round_id=round_id):
        if p.status not in rank:
            rejected[p.applicant_id] = p
        elif (
            p.applicant_id not in best
            or rank[p.status] < rank[best[p.applicant_id].placement.status]
        ):
            best[p.applicant_id] = _Placed(p, offers[p.offer_id])
    return best, rejected


def export_rows(session: Session, round_id: int) -> list[list[Cell]]:
    """Rows of ``EXPORT_HEADER``: confirmed placement, else open proposal, else the reason."""
    offers = {o.id: o for o in crud.list_offers(session=session, round_id=round_id)}
    best, rejected = _placements_by_applicant(session, round_id, offers)
    reasons = _unplaced_reasons(session, round_id)
    applicants = crud.list_applicants(session=session, round_id=round_id)
    blocked = _without_feasible_offer(session, round_id, applicants, list(offers.values()))
    rows = []
    for applicant in applicants:
        placed = best.get(services.row_id(applicant.id))
        person: list[Cell] = [
            applicant.external_id,
            applicant.name,
            applicant.email,
            applicant.home_organisation,
            applicant.position,
        ]
        if placed is None:
            reason = (
                reasons.get(applicant.external_id)
                or blocked.get(applicant.external_id)
                or _rejected_reason(rejected.get(services.row_id(applicant.id)), bool(best))
            )
            empty = len(EXPORT_HEADER) - len(person) - 2  # between the status and the reason
            rows.append([*person, WITHOUT_PLACE, *[None] * empty, reason])
        else:
            rows.append([*person, *_placement_cells(applicant, placed), None])
    return rows


def stay_dates(applicant: tables.Applicant, offer: tables.Offer) -> tuple[date, date]:
    """First and last day of the applicant's stay at the offer: from the later of both starts,
    for the weeks the applicant wants (the export, mentors and applicants all show these)."""
    start = max(applicant.available_from, offer.available_from)
    return start, last_day(start, applicant.weeks_wanted)


def _placement_cells(applicant: tables.Applicant, placed: _Placed) -> list[Cell]:
    offer, placement = placed.offer, placed.placement
    start, end = stay_dates(applicant, offer)
    decision = placement.mentor_decision
    return [
        _STATUS_DE[placement.status],
        offer.external_id,
        offer.title,
        offer.organisation,
        offer.city,
        start,
        end,
        applicant.weeks_wanted,
        offer.mentor_name,
        offer.mentor_email,
        _MENTOR_DE[decision] if decision else "offen",
        round(placement.score, 2),
        placement.strength,  # the label stored when placed; empty for older placements
    ]


def _unplaced_reasons(session: Session, round_id: int) -> dict[str, str]:
    """Applicant id → reason, from the newest finished run that gave reasons."""
    for run in crud.list_runs(session=session, round_id=round_id):
        if run.status is tables.RunStatus.DONE and run.result:
            unplaced: list[dict[str, Any]] = run.result.get("unplaced", [])
            return {u["applicant_id"]: u["reason"] for u in unplaced}
    return {}


def _without_feasible_offer(
    session: Session,
    round_id: int,
    applicants: list[tables.Applicant],
    offers: list[tables.Offer],
) -> dict[str, str]:
    """Applicant id → why no offer is feasible, for those where none is (no model needed)."""
    confirmed = Counter(
        p.offer_id
        for p in crud.list_placements(
            session=session, round_id=round_id, status=tables.PlacementStatus.CONFIRMED
        )
    )
    feasibility = matcher.check_feasibility(
        [services.applicant_record(a) for a in applicants],
        [services.offer_record(o) for o in offers],
        [confirmed[services.row_id(o.id)] for o in offers],
    )
    return {
        a.external_id: "Kein zulässiges Angebot: " + feasibility.obstacles(i)
        for i, a in enumerate(applicants)
        if not feasibility.feasible[i].any()
    }


def _rejected_reason(placement: tables.Placement | None, anyone_placed: bool) -> str:
    if placement is not None:
        because = f": {placement.reason}" if placement.reason else ""
        return f"Vorschlag abgelehnt{because}."
    return NOT_ASSIGNED if anyone_placed else NO_RUN_YET


# --- templates ----------------------------------------------------------------------------------

#: The example row of each template: valid records, so a template with its example imports.
EXAMPLES: dict[Kind, dict[str, Any]] = {
    Kind.OFFERS: {
        "id": "H-BEISPIEL",
        "city": "Wien",
        "country": "AT",
        "organisation": "Magistratsabteilung 48 – Abfallwirtschaft",
        "title": "Beispiel: Stadtreinigung und Abfalllogistik",
        "description": "Gäste begleiten die Einsatzplanung der Stadtreinigung und lernen, "
        "wie Touren aus Beschwerden und Füllstandsdaten geplant werden.",
        "language": "de",
        "working_languages": ["de", "en"],
        "min_language_level": "B2",
        "capacity": 2,
        "available_from": "2027-03-01",
        "available_until": "2027-10-29",
        "min_weeks": 2,
        "max_weeks": 6,
        "mentor_name": "Erika Muster",
        "mentor_email": "erika.muster@example.org",
        "tags": ["Stadtsauberkeit", "Logistik"],
    },
    Kind.APPLICANTS: {
        "id": "A-BEISPIEL",
        "name": "Max Mustermann",
        "email": "max.mustermann@example.org",
        "home_organisation": "Bezirksamt Pankow – Straßen- und Grünflächenamt",
        "position": "Sachbearbeiter Straßenreinigung",
        "languages": {"de": "C2", "en": "B2"},
        "preferred_cities": ["Wien", "Kopenhagen"],
        "available_from": "2027-04-01",
        "available_until": "2027-08-31",
        "weeks_wanted": 4,
        "motivation": "Ich plane die Reinigung der Grünanlagen im Bezirk und möchte lernen, "
        "wie andere Städte Touren mit Daten planen.",
    },
}


def _model(kind: Kind) -> type[matcher.Offer] | type[matcher.Applicant]:
    return matcher.Offer if kind is Kind.OFFERS else matcher.Applicant


_SHEET_TITLES = {
    kind: SHEET_TITLES[_model(kind).__name__][0] for kind in (Kind.OFFERS, Kind.APPLICANTS)
}


def template(kind: Kind, fmt: Format) -> bytes:
    """An empty sheet for offers or applications: German headers and one example row."""
    return records_file(kind, [_model(kind).model_validate(EXAMPLES[kind])], fmt)


def records_file(
    kind: Kind, records: Sequence[matcher.Offer | matcher.Applicant], fmt: Format
) -> bytes:
    """Records as a sheet with German headers: what a template looks like once filled in."""
    rows = [record_row(record) for record in records]
    return encode(record_header(_model(kind)), rows, fmt, title=_SHEET_TITLES[kind])


def record_fields(kind: Kind) -> list[RecordField]:
    """The fields of an offer or application, in interchange order, as a form shows them."""
    example = EXAMPLES[kind]
    return [
        RecordField(
            name=name,
            label=FIELD_LABELS[name],
            input=_input_of(field),
            required=field.is_required(),
            options=_options(field),
            example=example.get(name),
        )
        for name, field in _model(kind).model_fields.items()
    ]


def _base_type(annotation: Any) -> Any:
    """``Optional[Annotated[T, …]]`` → ``T``."""
    if get_origin(annotation) in (Union, UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _options(field: FieldInfo) -> list[str]:
    """The values of a ``Literal`` field (the language levels); none for any other."""
    base = _base_type(field.annotation)
    return [str(option) for option in get_args(base)] if get_origin(base) is Literal else []


#: Longest text a one-line input takes; longer ones (description, motivation) get a text area.
_LINE_CHARS = 500


def _input_of(field: FieldInfo) -> RecordInput:
    base = _base_type(field.annotation)
    origin = get_origin(base)
    if base is date:
        return "date"
    if base is int or base is float:
        return "integer" if base is int else "number"
    if origin is Literal:
        return "choice"
    if origin is list:
        return "list"
    if origin is dict:
        return "languages"
    longest = min((m.max_length for m in field.metadata if hasattr(m, "max_length")), default=0)
    return "text" if longest > _LINE_CHARS else "line"
