"""SQLModel tables and their request/response schemas.

Family per entity: ``XBase`` (shared fields) -> ``XCreate`` (input) / ``X`` (table) /
``XPublic`` (output); no class inherits from a table model. ``Offer`` and ``Applicant`` hold
every field of the interchange format (DATA_FORMAT.md); the interchange ``id`` is stored as
``external_id``, unique within a round, next to an integer surrogate key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, DateTime, Dialect, Index, LargeBinary, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class RoundStatus(StrEnum):
    """Lifecycle of a matching round."""

    OPEN = "open"
    MATCHING = "matching"
    CLOSED = "closed"


class PlacementStatus(StrEnum):
    """A placement is proposed by the matcher, then confirmed or rejected by a coordinator."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class MentorDecision(StrEnum):
    """The host mentor's answer to a confirmed placement (the second approval)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class Role(StrEnum):
    COORDINATOR = "coordinator"
    APPLICANT = "applicant"
    MENTOR = "mentor"


class RunStatus(StrEnum):
    """Lifecycle of a batch matching run; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _status_type(enum: type[StrEnum]) -> sa.Enum:
    """Store the enum's values (not its member names) and let the database reject others."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        values_callable=lambda members: [member.value for member in members],
    )


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes; stored without offset because SQLite's DATETIME keeps none."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time is ambiguous (local or UTC?); refuse it rather than guess.
            raise ValueError("naive datetime: pass an aware datetime, e.g. datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


#: SQLite reuses the largest deleted rowid unless a table says AUTOINCREMENT; a reused id would
#: let a stale link confirm another pair or attach an erased person's audit trail to a new one.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default of every timestamp)."""
    return datetime.now(UTC)


# --- rounds -----------------------------------------------------------------------------------


class RoundDirection(StrEnum):
    """Who travels: Berlin staff to partner cities, or partner-city staff to Berlin hosts."""

    OUTGOING = "outgoing"
    INCOMING = "incoming"


class RoundBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    direction: RoundDirection = Field(
        default=RoundDirection.OUTGOING,
        sa_type=_status_type(RoundDirection),
        sa_column_kwargs={"server_default": RoundDirection.OUTGOING.value},
    )


class RoundCreate(RoundBase):
    pass


class Round(RoundBase, table=True):
    """One matching round: the offers and applicants imported together, and their placements."""

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    status: RoundStatus = Field(default=RoundStatus.OPEN, sa_type=_status_type(RoundStatus))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    #: Coordinators may switch the learned re-ranker off for a round.
    reranker_enabled: bool = True


class RoundPublic(RoundBase):
    id: int
    status: RoundStatus
    created_at: datetime


# --- offers -----------------------------------------------------------------------------------


class OfferBase(SQLModel):
    """Every field of an interchange offer; ``external_id`` is its ``id`` in offers.json."""

    external_id: str
    city: str
    country: str | None = None
    organisation: str
    title: str
    description: str
    language: str | None = None
    working_languages: list[str] = Field(sa_column=Column(JSON, nullable=False))
    min_language_level: str = "B1"
    capacity: int
    available_from: date
    available_until: date
    min_weeks: int
    max_weeks: int
    mentor_name: str | None = None
    mentor_email: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Offer(OfferBase, table=True):
    """A host offer of one round; deleted with its round."""

    # The unique index starts with round_id, so it also serves every lookup by round.
    __table_args__ = (
        UniqueConstraint("round_id", "external_id", name="uq_offer_round_external_id"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE")


class OfferPublic(OfferBase):
    id: int
    round_id: int


# --- applicants -------------------------------------------------------------------------------


class ApplicantBase(SQLModel):
    """Every field of an interchange application; ``external_id`` is its ``id``.

    ``name`` and ``email`` are personal data: never log them.
    """

    external_id: str
    name: str | None = None
    email: str | None = None
    home_organisation: str
    position: str
    languages: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    preferred_cities: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    available_from: date
    available_until: date
    weeks_wanted: int
    motivation: str
    #: ISO 639-1 of ``motivation``: as imported, else as detected at import.
    language: str | None = None


class Applicant(ApplicantBase, table=True):
    """An application to one round; deleted with its round."""

    # The unique index starts with round_id, so it also serves every lookup by round.
    __table_args__ = (
        UniqueConstraint("round_id", "external_id", name="uq_applicant_round_external_id"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE")
    #: The applicant's choice of language for their own page ("de", "en"); None: default.
    explanation_language: str | None = None


class ApplicantPublic(ApplicantBase):
    id: int
    round_id: int


# --- placements -------------------------------------------------------------------------------


class PlacementBase(SQLModel):
    # Indexed because ON DELETE CASCADE looks placements up by these keys.
    applicant_id: int = Field(foreign_key="applicant.id", ondelete="CASCADE", index=True)
    offer_id: int = Field(foreign_key="offer.id", ondelete="CASCADE", index=True)
    status: PlacementStatus = Field(sa_type=_status_type(PlacementStatus))
    score: float
    reason: str | None = None  # why it was proposed or rejected


class PlacementCreate(PlacementBase):
    run_id: int | None = None


class Placement(PlacementBase, table=True):
    """An applicant placed at an offer, with the coordinator's decision once there is one."""

    # The index serves both "placements of a round" and "proposals of a round".
    __table_args__ = (
        Index("ix_placement_round_status", "round_id", "status"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE")
    decided_by: str | None = None
    decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    run_id: int | None = Field(default=None, foreign_key="matchingrun.id", ondelete="SET NULL")
    mentor_decision: MentorDecision | None = Field(
        default=None, sa_type=_status_type(MentorDecision)
    )
    mentor_reason: str | None = None
    mentor_decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class PlacementPublic(PlacementBase):
    id: int
    round_id: int
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    mentor_decision: MentorDecision | None
    mentor_reason: str | None


# --- accounts (bearer tokens) -----------------------------------------------------------------


class Account(SQLModel, table=True):
    """Who may call the API: a role, and for applicants and mentors what they are bound to.

    Only the sha256 of the token is stored; the token itself is shown once, when issued.
    """

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    role: Role = Field(sa_type=_status_type(Role))
    label: str = Field(max_length=200)
    token_hash: str = Field(max_length=64, unique=True)
    applicant_id: int | None = Field(
        default=None, foreign_key="applicant.id", ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class MentorOffer(SQLModel, table=True):
    """Binds a mentor account to an offer it may see and decide on."""

    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE", primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", ondelete="CASCADE", primary_key=True)


# --- batch runs -------------------------------------------------------------------------------


class MatchingRun(SQLModel, table=True):
    """A batch assignment of a round, run in the background; ``result`` holds its summary."""

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE", index=True)
    mode: str = Field(max_length=20)
    status: RunStatus = Field(default=RunStatus.QUEUED, sa_type=_status_type(RunStatus))
    progress: float = 0.0
    stage: str = ""
    cancel_requested: bool = False
    error: str | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


# --- learned re-rankers -----------------------------------------------------------------------


class RankerModel(SQLModel, table=True):
    """A re-ranker fitted on decisions of rounds up to ``round_id``; ``params`` is its JSON."""

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE", index=True)
    version: str = Field(max_length=40)
    params: str
    confirmed: int
    rejected: int
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


# --- audit log --------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One decision: who, when, what, why. Holds ids only, never names or texts.

    The ids are plain columns, not foreign keys, so entries outlive a deleted applicant.
    """

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    round_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    placement_id: int | None = None
    applicant_id: int | None = None
    offer_id: int | None = None
    reason: str | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


# --- embeddings -------------------------------------------------------------------------------


class EmbeddingRecord(SQLModel, table=True):
    """One cached sentence embedding: float32 bytes of ``dim`` values, keyed by model and text.

    ``text_key`` is the sha256 hex digest of exactly what the model read, so rows never go stale:
    changed text is a new key, a changed model a new ``model_id``.
    """

    __tablename__ = "embedding"

    model_id: str = Field(primary_key=True)
    text_key: str = Field(primary_key=True, max_length=64)
    dim: int
    vector: bytes = Field(sa_type=LargeBinary)
