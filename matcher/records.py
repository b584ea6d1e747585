"""Applicants and host offers as validated, immutable records of the interchange format.

The rules are those of the interchange format (DATA_FORMAT.md): unknown fields are ignored,
missing or mistyped fields and impossible values are rejected, and a file with any invalid
record is rejected whole, with every problem named by record id and field.
"""

from __future__ import annotations

import csv
import io
import json
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
        raise ValueError("expected an ISO date string like 2027-03-01")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _language_code(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in ISO_639_1:
        raise ValueError(f"{value!r} is not an ISO 639-1 language code")
    return value.strip().lower()


def _text(value: Any) -> Any:
    """Strip surrounding whitespace so that whitespace-only text counts as empty."""
    return value.strip() if isinstance(value, str) else value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
LanguageCode = Annotated[str, BeforeValidator(_language_code)]
ShortText = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=MAX_SHORT_CHARS)]
LongText = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Weeks = Annotated[int, Field(ge=1, le=52)]


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

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.available_from > self.available_until:
            raise ValueError("available_from must not be after available_until")
        if self.min_weeks > self.max_weeks:
            raise ValueError("min_weeks must not exceed max_weeks")
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
    #: ISO 639-1 of ``motivation``; ``matcher.language`` detects it where absent.
    language: LanguageCode | None = None

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.available_from > self.available_until:
            raise ValueError("available_from must not be after available_until")
        return self


RecordT = TypeVar("RecordT", Offer, Applicant)

# Model-level checks have no field of their own; name the field a coordinator has to fix.
_MODEL_CHECK_FIELDS = {
    "available_from must not be after available_until": "available_until",
    "min_weeks must not exceed max_weeks": "max_weeks",
}


def _problems_of(
    error: ValidationError, source: str, index: int, record_id: str | None
) -> list[RecordProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        message = str(detail["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in detail["loc"])
        if not field:
            field = _MODEL_CHECK_FIELDS.get(message, "")
        problems.append(RecordProblem(source, index, record_id, field, message))
    return problems


def parse_records(kind: type[RecordT], data: Any, *, source: str = "input") -> list[RecordT]:
    """Validate a decoded JSON array of records; raise one error listing every problem."""
    if not isinstance(data, list):
        problem = RecordProblem(source, None, None, "", "expected a JSON array of objects")
        raise InvalidRecordsError([problem])
    records: list[RecordT] = []
    problems: list[RecordProblem] = []
    record_ids = [_raw_id(raw) for raw in data]
    for index, (raw, record_id) in enumerate(zip(data, record_ids, strict=True)):
        if not isinstance(raw, dict):
            problems.append(RecordProblem(source, index, None, "", "expected a JSON object"))
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
        RecordProblem(source, index, record_id, "id", "duplicate id in this file")
        for index, record_id in enumerate(record_ids)
        if record_id is not None and counts[record_id] > 1
    ]


def decode_json(raw: bytes | str, *, source: str) -> Any:
    """Decode UTF-8 JSON, turning encoding and syntax errors into record problems."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError as error:
        message = f"not valid UTF-8 (byte {error.start})"
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
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


# --- CSV variant of the interchange format -----------------------------------------------------
# csv's default cap (128 KiB per field) would end an over-long motivation with csv.Error instead
# of a validation problem naming its record and field; uploads are capped far below this.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
# Same fields as the JSON format, one record per row: lists as "a;b", languages as "de:C2;en:B1".
_LIST_FIELDS = frozenset({"working_languages", "tags", "preferred_cities"})
_INT_FIELDS = frozenset({"capacity", "min_weeks", "max_weeks", "weeks_wanted"})


def _required_fields(kind: type[Offer] | type[Applicant]) -> list[str]:
    return [name for name, field in kind.model_fields.items() if field.is_required()]


def _csv_value(field: str, cell: str) -> Any:
    """Turn one CSV cell into the JSON value of its field; bad values are left to validation."""
    if field in _LIST_FIELDS:
        return [item.strip() for item in cell.split(";") if item.strip()]
    if field in _INT_FIELDS:
        try:
            return int(cell)
        except ValueError:
            return cell
    if field == "languages":
        pairs = [item.split(":", 1) for item in cell.split(";") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            return cell
        return {code.strip(): level.strip() for code, level in pairs}
    return cell


def decode_csv(raw: bytes | str, kind: type[Offer] | type[Applicant], *, source: str) -> list[Any]:
    """Rows of a CSV file as JSON-like records; missing required columns are reported."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise InvalidRecordsError(
            [RecordProblem(source, None, None, "", f"not valid UTF-8 (byte {error.start})")]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_records(reader, kind, source)
    except csv.Error as error:
        raise InvalidRecordsError(
            [RecordProblem(source, reader.line_num, None, "", f"not valid CSV: {error}")]
        ) from None


def _csv_records(
    reader: csv.DictReader[str], kind: type[Offer] | type[Applicant], source: str
) -> list[Any]:
    columns = [column.strip() for column in reader.fieldnames or []]
    missing = [field for field in _required_fields(kind) if field not in columns]
    if missing:
        raise InvalidRecordsError(
            [RecordProblem(source, None, None, field, "column missing") for field in missing]
        )
    records = []
    for row in reader:
        cells = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        records.append(
            {field: _csv_value(field, cell) for field, cell in cells.items() if field and cell}
        )
    return records


def load_offers_csv(raw: bytes | str, *, source: str = "offers.csv") -> list[Offer]:
    """Parse the CSV variant of an offers file."""
    return parse_records(Offer, decode_csv(raw, Offer, source=source), source=source)


def load_applicants_csv(raw: bytes | str, *, source: str = "applicants.csv") -> list[Applicant]:
    """Parse the CSV variant of an applicants file."""
    return parse_records(Applicant, decode_csv(raw, Applicant, source=source), source=source)
