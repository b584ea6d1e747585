"""Applicants and host offers as validated, immutable records of the interchange format.

The rules are those of the interchange format (DATA_FORMAT.md): unknown fields are ignored,
missing or mistyped fields and impossible values are rejected, and a file with any invalid
record is rejected whole, with every problem named by record id and field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from matcher import german
from matcher.errors import InvalidRecordsError, RecordProblem

CEFR_LEVELS: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2")
CefrLevel = Literal["A1", "A2", "B1", "B2", "C1", "C2"]

#: Longest accepted free text (motivation, description), in characters. Real applications are
#: a few hundred characters; the limit keeps one runaway paste from dominating embedding time.
MAX_TEXT_CHARS = 10_000
#: Longest accepted short field (ids, names, titles, cities).
MAX_SHORT_CHARS = 500

ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la
    lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj
    om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv
    sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh
    zu""".split()
)


def _iso_date(value: Any) -> date:
    """Accept only ISO date strings: a number or a free-form string is a mistake, not a date."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("erwartet ein Datum wie 2027-03-01")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} ist kein Datum der Form JJJJ-MM-TT") from None


def _language_code(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in ISO_639_1:
        raise ValueError(f"{value!r} ist kein Sprachcode nach ISO 639-1 (de, en, fr, …)")
    return value.strip().lower()


#: C0 controls except tab/LF/CR, DEL, C1 controls and lone UTF-16 surrogates: the same rule as
#: ``models.text`` (which the engine may not import). Surrogates cannot be stored or exported.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(value: Any) -> Any:
    """Strip surrounding whitespace (blank text counts as empty); refuse control characters."""
    if not isinstance(value, str):
        return value
    found = _UNSAFE_CHARACTERS.search(value)
    if found is not None:
        raise ValueError(
            f"Unzulässiges Zeichen U+{ord(found.group()):04X} an Stelle {found.start() + 1}: "
            "erlaubt sind druckbare Zeichen, Tabulator und Zeilenumbruch."
        )
    return value.strip()


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
LanguageCode = Annotated[str, BeforeValidator(_language_code)]
ShortText = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=MAX_SHORT_CHARS)]
LongText = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Weeks = Annotated[int, Field(ge=1, le=52)]
#: EUR; the cap only rejects typos (a stay costs a few thousand euros).
Euros = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


_DATES_REVERSED = "liegt vor „Verfügbar ab“"
_WEEKS_REVERSED = "ist kleiner als die „Mindestdauer (Wochen)“"
_WISH_REPEATED = "nennt ein Angebot mehrfach"
#: Most offers an applicant may rank as wishes.
MAX_WISHES = 3


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    id: ShortText


class Offer(_Record):
    """A host department's offer of places for guests, with a mentor on site."""

    city: ShortText
    country: ShortText | None = None
    organisation: ShortText
    title: ShortText
    description: LongText
    language: LanguageCode | None = None
    working_languages: list[LanguageCode] = Field(min_length=1)
    min_language_level: CefrLevel = "B1"
    capacity: int = Field(ge=0, le=1000)
    available_from: IsoDate
    available_until: IsoDate
    min_weeks: Weeks
    max_weeks: Weeks
    mentor_name: ShortText | None = None
    mentor_email: ShortText | None = None
    tags: list[ShortText] = Field(default_factory=list, max_length=50)
    travel_cost: Euros | None = None
    weekly_cost: Euros | None = None

    @property
    def has_costs(self) -> bool:
        """Whether the offer states its own costs (else the round's table for its city applies)."""
        return self.travel_cost is not None or self.weekly_cost is not None

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.available_from > self.available_until:
            raise ValueError(_DATES_REVERSED)
        if self.min_weeks > self.max_weeks:
            raise ValueError(_WEEKS_REVERSED)
        return self


class Applicant(_Record):
    """An application (Berlin staff, or partner-city staff applying to Berlin in their own
    language); name and e-mail are personal data and never logged."""

    name: ShortText | None = None
    email: ShortText | None = None
    home_organisation: ShortText
    position: ShortText
    languages: dict[LanguageCode, CefrLevel] = Field(min_length=1)
    preferred_cities: list[ShortText] = Field(default_factory=list, max_length=10)
    available_from: IsoDate
    available_until: IsoDate
    weeks_wanted: Weeks
    motivation: LongText
    agency: ShortText | None = None
    #: ISO 639-1 of ``motivation``; ``matcher.language`` detects it where absent.
    language: LanguageCode | None = None
    #: Offer ids the applicant ranked while applying online, first wish first (at most three).
    wishes: list[ShortText] = Field(default_factory=list, max_length=MAX_WISHES)

    @property
    def quota_agency(self) -> str:
        """The agency whose quota this application counts against (default: from the unit)."""
        return self.agency or self.home_organisation.split(" – ", 1)[0].strip()

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.available_from > self.available_until:
            raise ValueError(_DATES_REVERSED)
        if len(set(self.wishes)) < len(self.wishes):
            raise ValueError(_WISH_REPEATED)
        return self


RecordT = TypeVar("RecordT", Offer, Applicant)

# Model-level checks have no field of their own; name the field a coordinator has to fix.
_MODEL_CHECK_FIELDS = {
    _DATES_REVERSED: "available_until",
    _WEEKS_REVERSED: "max_weeks",
    _WISH_REPEATED: "wishes",
}


def _problems_of(
    error: ValidationError, source: str, index: int, record_id: str | None
) -> list[RecordProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        loc = tuple(part for part in detail["loc"] if part != "[key]")
        if not loc:
            checked = str(detail.get("ctx", {}).get("error", ""))
            loc = (_MODEL_CHECK_FIELDS[checked],) if checked in _MODEL_CHECK_FIELDS else ()
        field = ".".join(str(part) for part in loc)
        message = german.message(detail, loc=loc)
        problems.append(RecordProblem(source, index, record_id, field, message))
    return problems


def parse_records(kind: type[RecordT], data: Any, *, source: str = "input") -> list[RecordT]:
    """Validate a decoded JSON array of records; raise one error listing every problem."""
    if not isinstance(data, list):
        problem = RecordProblem(
            source, None, None, "", "Erwartet wird eine JSON-Liste von Datensätzen."
        )
        raise InvalidRecordsError([problem])
    records: list[RecordT] = []
    problems: list[RecordProblem] = []
    record_ids = [_raw_id(raw) for raw in data]
    for index, (raw, record_id) in enumerate(zip(data, record_ids, strict=True)):
        if not isinstance(raw, dict):
            problems.append(
                RecordProblem(source, index, None, "", "Der Datensatz ist kein JSON-Objekt.")
            )
            continue
        try:
            records.append(kind.model_validate(raw))
        except ValidationError as error:
            problems.extend(_problems_of(error, source, index, record_id))
    problems.extend(_duplicate_ids(record_ids, source))
    if problems:
        raise InvalidRecordsError(problems)
    return records


def _raw_id(raw: Any) -> str | None:
    record_id = raw.get("id") if isinstance(raw, dict) else None
    return record_id.strip() if isinstance(record_id, str) and record_id.strip() else None


def _duplicate_ids(record_ids: Sequence[str | None], source: str) -> list[RecordProblem]:
    counts = Counter(record_id for record_id in record_ids if record_id is not None)
    return [
        RecordProblem(
            source, index, record_id, "id", "Die Kennung kommt in dieser Datei mehrfach vor."
        )
        for index, record_id in enumerate(record_ids)
        if record_id is not None and counts[record_id] > 1
    ]


def decode_json(raw: bytes | str, *, source: str) -> Any:
    """Decode UTF-8 JSON, turning encoding and syntax errors into record problems."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError as error:
        message = f"Die Datei ist kein gültiges UTF-8 (Byte {error.start})."
    except json.JSONDecodeError as error:
        message = f"Die Datei ist kein gültiges JSON (Zeile {error.lineno}, Spalte {error.colno})."
    except ValueError:  # json refuses integers of more than 4300 digits this way
        message = "Die Datei enthält eine Zahl mit zu vielen Ziffern."
    raise InvalidRecordsError([RecordProblem(source, None, None, "", message)])


def load_offers(raw: bytes | str, *, source: str = "offers") -> list[Offer]:
    """Parse an offers file of the interchange format."""
    return parse_records(Offer, decode_json(raw, source=source), source=source)


def load_applicants(raw: bytes | str, *, source: str = "applicants") -> list[Applicant]:
    """Parse an applicants file of the interchange format."""
    return parse_records(Applicant, decode_json(raw, source=source), source=source)


def parse_round(
    parse_offers: Callable[[], list[Offer]], parse_applicants: Callable[[], list[Applicant]]
) -> tuple[list[Offer], list[Applicant]]:
    """Run both parsers and raise one error with the problems of both files, if any."""
    problems: list[RecordProblem] = []
    offers: list[Offer] = []
    applicants: list[Applicant] = []
    try:
        offers = parse_offers()
    except InvalidRecordsError as error:
        problems += error.problems
    try:
        applicants = parse_applicants()
    except InvalidRecordsError as error:
        problems += error.problems
    if problems:
        raise InvalidRecordsError(problems)
    return offers, applicants


def ids_of(records: Iterable[Offer | Applicant]) -> list[str]:
    """Record ids in order; the index of an id is its row or column in every matrix."""
    return [record.id for record in records]
