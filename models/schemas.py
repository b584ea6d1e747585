"""Request and response bodies of the HTTP API that are not tables.

Field descriptions and examples feed the OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.tables import (
    MentorDecision,
    PlacementStatus,
    Role,
    RoundDirection,
    RoundStatus,
    RunStatus,
)

#: Row ids as SQLite stores them (signed 64 bit); larger numbers are input errors, not crashes.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


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


class RoundStatusUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "matching"}]})

    status: RoundStatus


class ImportBody(BaseModel):
    """Offers and applicants in the interchange format; validated by the engine's rules."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"offers": [], "applicants": []}]})

    offers: list[Any] = Field(default_factory=list, max_length=20_000)
    applicants: list[Any] = Field(default_factory=list, max_length=20_000)


class ImportResult(BaseModel):
    offers: int
    applicants: int


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
    rerank_explanation: str | None = Field(
        default=None, description="features the learned re-ranker weighed most (German)"
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


class CandidateListPublic(BaseModel):
    offer_id: str
    candidates: list[CandidatePublic]


class RunCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"mode": "max-placed"}]})

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

    reason: str | None = Field(default=None, max_length=2000)


class BulkDecision(BaseModel):
    placement_id: RowId
    decision: Literal["confirm", "reject"]
    reason: str | None = Field(default=None, max_length=2000)


class BulkDecisions(BaseModel):
    decisions: list[BulkDecision] = Field(min_length=1, max_length=1000)


class ManualPlacement(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"applicant_id": "A-001", "offer_id": "H-013"}]}
    )

    applicant_id: str = Field(min_length=1, max_length=500)
    offer_id: str = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=2000)


class PlacementView(BaseModel):
    """A placement as coordinators see it, with interchange ids."""

    id: int
    applicant_id: str
    offer_id: str
    city: str
    status: PlacementStatus
    score: float
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    mentor_decision: MentorDecision | None
    mentor_reason: str | None


class AuditEntryPublic(BaseModel):
    id: int
    actor: str
    action: str
    placement_id: int | None
    applicant_id: int | None
    offer_id: int | None
    reason: str | None
    created_at: datetime


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
    label: str = Field(min_length=1, max_length=200)
    round_id: RowId | None = None
    applicant_id: str | None = Field(default=None, max_length=500)
    offer_ids: list[str] = Field(default_factory=list, max_length=100)


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

    enabled: bool


class AccountPublic(BaseModel):
    """Who a token belongs to: enough for a page to show the right view."""

    id: int
    role: Role
    label: str
    round_id: int | None = None
    applicant_id: str | None = None
    offer_ids: list[str] = Field(default_factory=list)


class MySuggestion(BaseModel):
    """What an applicant sees of a suggested host: no scores, nobody else."""

    offer_id: str
    title: str
    organisation: str
    city: str
    mentor_name: str | None
    explanation: str
    explanation_language: str = Field(
        description="de or en: the applicant's choice, else from their German level"
    )
    status: str = Field(description="vorgeschlagen / bestätigt / abgelehnt / Vorschlag")


class ExplanationLanguageChoice(BaseModel):
    """The language an applicant wants their suggestions explained in."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"language": "en"}]})

    language: Literal["de", "en"] | None = Field(
        description="de or en; null: the default (German from level B2, else English)"
    )


class MentorGuest(BaseModel):
    """A guest proposed or confirmed for one of the mentor's offers."""

    placement_id: int
    offer_id: str
    applicant_id: str
    name: str | None
    position: str
    home_organisation: str
    motivation: str
    weeks_wanted: int
    status: PlacementStatus
    mentor_decision: MentorDecision | None


class ErrorDetail(BaseModel):
    """Every error response: a German message and, for input errors, one entry per field."""

    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)
