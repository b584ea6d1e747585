"""Request and response bodies of the HTTP API that are not tables.

Field descriptions and examples feed the OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StrictBool
from pydantic_core import PydanticCustomError

from models.tables import (
    MentorDecision,
    PlacementStatus,
    Role,
    RoundDirection,
    RoundStatus,
    RunStatus,
)
from models.text import Name, SafeText

#: Row ids as both backends store them (PostgreSQL's INTEGER key: signed 32 bit); larger numbers
#: are input errors (422), not database errors.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Strict(), Field(ge=1, le=MAX_ROW_ID)]
#: Latest closing day a round may name: its tokens' expiry (days later) must stay a date.
LATEST_CLOSING = date(2999, 12, 31)
#: Match strength labels, strongest first (``matcher.strength.Strength`` values).
StrengthLabel = Literal["sehr gut", "gut", "schwach"]


class RoundSummary(BaseModel):
    """A round with the counts coordinators watch."""

    id: int
    name: str
    status: RoundStatus
    direction: RoundDirection = Field(
        description="outgoing: Berlin staff to partner cities; incoming: partner-city staff "
        "to Berlin hosts"
    )
    created_at: datetime
    applicants: int = Field(description="applications in the round")
    offers: int
    places: int = Field(description="sum of the offers' capacities")
    placed: int = Field(description="applicants with a confirmed placement")
    proposed: int = Field(description="open proposals awaiting a decision")
    min_strength: StrengthLabel | None = Field(
        default=None, description="weakest match strength a batch run proposes; null: any"
    )
    closes_on: date | None = Field(default=None, description="planned closing day")


class RoundSettings(BaseModel):
    """Round settings a coordinator may change; fields left out stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"min_strength": "gut", "closes_on": "2027-06-30"}]},
    )

    min_strength: StrengthLabel | None = Field(
        default=None, description="`sehr gut`, `gut` (default) or `schwach`; null: no minimum"
    )
    closes_on: date | None = Field(
        default=None,
        le=LATEST_CLOSING,
        description="planned closing day; tokens of the round expire after it",
    )


class RoundStatusUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "matching"}, {"status": "closed", "reject_pending": True}]
        }
    )

    status: RoundStatus
    reject_pending: bool = Field(
        default=False,
        description="when closing: reject every undecided proposal instead of refusing (409)",
    )


class ImportBody(BaseModel):
    """Offers and applicants in the interchange format; validated by the engine's rules."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"offers": [], "applicants": []}]})

    offers: list[Any] = Field(default_factory=list, max_length=20_000)
    applicants: list[Any] = Field(default_factory=list, max_length=20_000)


class ImportedFile(BaseModel):
    """How an uploaded spreadsheet was read: format, and for CSV the encoding and separator."""

    source: str
    format: Literal["csv", "xlsx"]
    encoding: str | None = Field(None, examples=["UTF-8 mit BOM", "Windows-1252"])
    delimiter: str | None = Field(None, examples=[";"])
    sheet: str | None = Field(None, description="the XLSX sheet read")


class ImportResult(BaseModel):
    offers: int
    applicants: int


class TableImportResult(ImportResult):
    """A CSV/XLSX import: the counts, and how each uploaded file was read."""

    files: list[ImportedFile]


class ScoreParts(BaseModel):
    topic_fit: float = Field(description="calibrated topic fit, cosine units; 0 = typical")
    preference_bonus: float = Field(description="bonus for a preferred city (≤ 0.03)")


class SuggestionPublic(BaseModel):
    """One ranked offer: the same fields the CLI's ``rank --json`` prints."""

    offer_id: str
    city: str
    title: str
    score: float
    feasible: bool
    reasons: list[str]
    explanation: str
    parts: ScoreParts
    applicant_sentence: str
    offer_sentence: str
    strength: StrengthLabel = Field(description="calibrated label of the topic fit")
    rerank_explanation: str | None = Field(
        default=None, description="features the learned re-ranker weighed most (German)"
    )
    placement_status: PlacementStatus | None = Field(
        default=None,
        description="this applicant's latest placement on this offer: `confirmed` (their own "
        "place, never counted as taken), `proposed`, `rejected` (placing by hand needs "
        "`override_rejection`), …; null: none",
    )


class ShortlistPublic(BaseModel):
    applicant_id: str
    ranker: str = Field(description="`basis` or `rerank:<version>`: what produced this list")
    suggestions: list[SuggestionPublic]


class CandidatePublic(BaseModel):
    applicant_id: str
    position: str
    home_organisation: str
    score: float
    explanation: str
    strength: StrengthLabel | None = Field(default=None, description="label of the topic fit")


class CandidateListPublic(BaseModel):
    offer_id: str
    candidates: list[CandidatePublic]


class CityCostIn(BaseModel):
    """Typical EUR costs of a stay in one city, for offers that state none."""

    travel_cost: float = Field(default=0.0, ge=0, le=1_000_000)
    weekly_cost: float = Field(default=0.0, ge=0, le=1_000_000)


class FundingIn(BaseModel):
    """Central fund and quotas of a batch assignment (DATA_FORMAT.md, "Costs and quotas")."""

    budget: float | None = Field(default=None, ge=0, le=1_000_000_000, description="EUR")
    agency_quota: int | None = Field(default=None, ge=0, le=100_000)
    city_quotas: dict[str, Annotated[int, Field(ge=0, le=100_000)]] = Field(default_factory=dict)
    city_costs: dict[str, CityCostIn] = Field(default_factory=dict)


class RunCreate(FundingIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"mode": "max-placed"}, {"mode": "max-fit", "budget": 25000}]
        }
    )

    mode: Literal["max-fit", "max-placed"] = "max-placed"


class RunPublic(BaseModel):
    id: int
    round_id: int
    mode: str
    status: RunStatus
    progress: float = Field(description="0 … 1")
    stage: str
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None = Field(
        default=None,
        description="when done: proposals, unplaced applicants with reasons, alternates",
    )


class Decision(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Passt fachlich, Mentorin einverstanden"}]}
    )

    reason: SafeText | None = Field(default=None, max_length=2000)


class ReasonedDecision(BaseModel):
    """A decision that ends a confirmed placement: the reason is required."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Erkrankt, tritt die Hospitation nicht an"}]}
    )

    reason: str = Field(min_length=1, max_length=2000)


class BulkDecision(BaseModel):
    placement_id: RowId
    decision: Literal["confirm", "reject"]
    reason: SafeText | None = Field(default=None, max_length=2000)


class BulkDecisions(BaseModel):
    decisions: list[BulkDecision] = Field(min_length=1, max_length=1000)


class ManualPlacement(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"applicant_id": "A-001", "offer_id": "H-013"}]}
    )

    applicant_id: SafeText = Field(min_length=1, max_length=500)
    offer_id: SafeText = Field(min_length=1, max_length=500)
    reason: SafeText | None = Field(default=None, max_length=2000)
    override_rejection: StrictBool = Field(
        default=False,
        description="place the pair although its proposal was rejected (else 409); audited",
    )


class PlacementView(BaseModel):
    """A placement as coordinators see it, with interchange ids."""

    id: int
    applicant_id: str
    offer_id: str
    city: str
    status: PlacementStatus
    score: float
    strength: StrengthLabel | None = Field(
        default=None,
        description="match strength of the pair when it was placed; null for older placements",
    )
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    mentor_decision: MentorDecision | None
    mentor_reason: str | None
    needs_review: bool = Field(
        default=False, description="a forced edit of its offer or applicant broke it"
    )
    review_reason: str | None = None


class FreedPlace(BaseModel):
    """A place a confirmed placement gave up, with the applicants who could take it."""

    placement: PlacementView
    alternates: list[str] = Field(
        description="runners-up of the latest run for this offer, not placed elsewhere"
    )


class TodoList(BaseModel):
    """What a coordinator still has to do in a round."""

    freed: list[FreedPlace] = Field(description="freed places still open")
    review: list[PlacementView] = Field(description="confirmed placements broken by an edit")
    pending: int = Field(description="proposals awaiting a decision")


class AuditEntryPublic(BaseModel):
    """One audit entry with public ids (``A-001``, ``H-013``); „gelöscht“ for erased rows."""

    id: int
    created_at: datetime
    actor: str = Field(description="`role:account`, e.g. `coordinator:1`; `system` for the server")
    action: str = Field(description="kind of change, e.g. `confirm`, `round_status`")
    applicant_id: str | None
    offer_id: str | None
    placement_id: int | None
    reason: str | None
    detail: str | None = Field(description="what changed beyond the ids")


def _distinct(values: list[str]) -> list[str]:
    """Each offer once: a token bound twice to one offer is a typing slip, not a wish."""
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise PydanticCustomError(
            "ids_repeated", "Mehrfach angegeben: {ids}.", {"ids": ", ".join(repeated)}
        )
    return values


class AccountCreate(BaseModel):
    """A new token: coordinators need nothing else; applicants one applicant, mentors offers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"role": "mentor", "label": "Mentorin MA 48", "round_id": 1, "offer_ids": ["H-001"]}
            ]
        }
    )

    role: Role
    label: Name
    round_id: RowId | None = None
    applicant_id: SafeText | None = Field(default=None, max_length=500)
    offer_ids: Annotated[list[SafeText], AfterValidator(_distinct)] = Field(
        default_factory=list, max_length=100
    )
    email: str | None = Field(
        default=None,
        max_length=320,
        description="mentor: e-mail the link to the offer page here (while the call takes offers)",
    )


class AccountIssued(BaseModel):
    id: int
    role: Role
    label: str
    token: str = Field(description="shown once; only its hash is stored")


class RankerStatus(BaseModel):
    """Which ranker a round uses: ``basis`` or ``rerank:<version>``."""

    enabled: bool = Field(description="the coordinator's switch for this round")
    active: str
    version: str | None
    confirmed: int = Field(description="confirmed placements the model learned from")
    rejected: int
    learned_at: datetime | None


class RankerSwitch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    enabled: StrictBool = Field(description='true or false; no strings like "yes"')


class TokenPublic(BaseModel):
    """A token as coordinators list it: never the secret, never its hash."""

    id: int
    label: str
    role: Role
    round_id: int | None = Field(description="round of the applicant or offers bound")
    applicant_id: str | None
    offer_ids: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    expires_at: datetime | None
    revoked_at: datetime | None
    state: Literal["aktiv", "abgelaufen", "widerrufen"]


class AccountPublic(BaseModel):
    """Who a token belongs to: enough for a page to show the right view."""

    id: int
    role: Role
    label: str
    round_id: int | None = None
    applicant_id: str | None = None
    offer_ids: list[str] = Field(default_factory=list)


class MySuggestion(BaseModel):
    """What an applicant sees of a suggested host: a label and words, no numbers, nobody else."""

    offer_id: str
    title: str
    organisation: str
    city: str
    mentor_name: str | None
    strength: StrengthLabel = Field(description="how well the host fits by topic")
    explanation: str = Field(description="why, in words; no similarity figures")
    explanation_language: str = Field(
        description="de or en: the applicant's choice, else from their German level"
    )
    status: str = Field(description="vorgeschlagen / bestätigt / abgelehnt / Vorschlag")
    stay_from: date | None = Field(
        default=None, description="first day of the stay, for a proposed or confirmed place"
    )
    stay_until: date | None = Field(
        default=None, description="last day of the stay, for a proposed or confirmed place"
    )


class ExplanationLanguageChoice(BaseModel):
    """The language an applicant wants their suggestions explained in."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"language": "en"}]})

    language: Literal["de", "en"] | None = Field(
        description="de or en; null: the default (German from level B2, else English)"
    )


class MentorGuest(BaseModel):
    """A guest proposed or confirmed for one of the mentor's offers.

    The guest's own data (dates, position, motivation); never the coordinators' score, reasons
    or who decided when.
    """

    placement_id: int
    offer_id: str
    offer_title: str
    applicant_id: str
    name: str | None
    position: str
    home_organisation: str
    available_from: date
    available_until: date
    weeks_wanted: int
    stay_from: date = Field(description="first day of the stay at the offer")
    stay_until: date = Field(description="last day of the stay at the offer")
    motivation_summary: str = Field(description="the motivation's first sentences")
    motivation: str
    status: PlacementStatus
    mentor_decision: MentorDecision | None
    mentor_reason: str | None = Field(description="the mentor's own reason")


#: How the single-record form asks for a field.
RecordInput = Literal["line", "text", "integer", "number", "date", "choice", "list", "languages"]


class RecordField(BaseModel):
    """One field of an offer or application, as the single-record form shows it."""

    name: str = Field(description="the interchange field")
    label: str = Field(description="German label (also the spreadsheet column header)")
    input: RecordInput
    required: bool
    options: list[str] = Field(default_factory=list, description="the choices of a choice field")
    example: Any = Field(default=None, description="a value from the template's example row")


class ErrorDetail(BaseModel):
    """Every error response: a German message and, for input errors, one entry per field."""

    detail: str
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="the first 100 problems, each with field and message"
    )
    total: int = Field(default=0, description="how many problems there were in all")
