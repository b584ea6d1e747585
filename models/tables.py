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
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Index,
    LargeBinary,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from models.text import Name


class RoundStatus(StrEnum):
    """Lifecycle of a matching round."""

    OPEN = "open"
    MATCHING = "matching"
    CLOSED = "closed"


class PlacementStatus(StrEnum):
    """Where a placement stands; allowed changes: ``models.lifecycle.PLACEMENT_TRANSITIONS``."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"
    DECLINED_BY_HOST = "declined_by_host"
    RELEASED = "released"


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


def _partial_unique(name: str, columns: list[str], where: str) -> Index:
    """A unique index over the rows that satisfy ``where`` (SQLite and PostgreSQL alike)."""
    condition = text(where)
    return Index(name, *columns, unique=True, sqlite_where=condition, postgresql_where=condition)


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
    name: Name  # stricter than the column: no control characters, not blank


class Round(RoundBase, table=True):
    """One matching round: the offers and applicants imported together, and their placements."""

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    status: RoundStatus = Field(default=RoundStatus.OPEN, sa_type=_status_type(RoundStatus))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    #: Coordinators may switch the learned re-ranker off for a round.
    reranker_enabled: bool = True
    #: Bumped in the same transaction as every change to the round's offers; processes that
    #: cache scores of the round (``api/cache.py``) compare it on every use.
    offers_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: Weakest match strength a batch run proposes („sehr gut“, „gut“, „schwach“); NULL: any.
    min_strength: str | None = Field(
        default="gut", max_length=20, sa_column_kwargs={"server_default": "gut"}
    )
    #: Planned closing day; tokens bound to the round expire 90 days (a setting) after it.
    closes_on: date | None = None


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
    #: EUR per guest (one-off) and per guest-week; NULL: the round's cost table applies.
    travel_cost: float | None = None
    weekly_cost: float | None = None


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
    #: Counts against this agency's quota; NULL: ``home_organisation`` up to the first " – ".
    agency: str | None = None
    #: ISO 639-1 of ``motivation``: as imported, else as detected at import.
    language: str | None = None
    #: Offer ids (``external_id``) ranked as wishes while applying online, first wish first.
    wishes: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )


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
    #: Match strength of the pair when it was placed („sehr gut“, „gut“, „schwach“, the
    #: ``matcher.strength.Strength`` values, stored like ``Round.min_strength``); NULL for
    #: placements written before labels existed.
    strength: str | None = Field(default=None, max_length=20)


class PlacementCreate(PlacementBase):
    run_id: int | None = None


class Placement(PlacementBase, table=True):
    """An applicant placed at an offer, with the coordinator's decision once there is one."""

    # The first index serves both "placements of a round" and "proposals of a round"; the
    # second is the database's own guarantee of one confirmed place per applicant and round.
    __table_args__ = (
        Index("ix_placement_round_status", "round_id", "status"),
        _partial_unique(
            "uq_placement_confirmed_applicant", ["round_id", "applicant_id"], "status = 'confirmed'"
        ),
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
    #: Set when a forced edit of its offer or applicant broke this confirmed placement.
    needs_review: bool = Field(
        default=False, sa_column_kwargs={"server_default": false(), "nullable": False}
    )
    review_reason: str | None = None


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
    #: Tokens stop working at ``expires_at`` (NULL: never, for accounts from before expiry).
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    #: Updated at most once a minute, so reading requests seldom write.
    last_used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class MentorOffer(SQLModel, table=True):
    """Binds a mentor account to an offer it may see and decide on."""

    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE", primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", ondelete="CASCADE", primary_key=True)


# --- call for applications -------------------------------------------------------------------


class CallForApplications(SQLModel, table=True):
    """A round's public call: its unguessable link and its deadlines.

    Applications are taken while ``closed_at`` is NULL and ``applications_until`` lies ahead;
    mentors may edit their offers until ``offers_until``.
    """

    __tablename__ = "call_for_applications"
    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE", unique=True)
    #: The public link's secret part (never the row id: links must not be guessable).
    slug: str = Field(max_length=64, unique=True)
    applications_until: datetime = Field(sa_type=UtcDateTime)
    offers_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    opened_by: str = Field(max_length=100)
    opened_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class PendingApplication(SQLModel, table=True):
    """An application whose e-mail address is not confirmed yet: not an applicant of the round.

    ``record`` holds the validated interchange fields (without ``id``); confirming the address
    turns it into an ``applicant`` with the next free public id and an applicant account whose
    token hash is ``token_hash`` (the link's token becomes the applicant's access). ``email`` is
    personal data: never log it.
    """

    __tablename__ = "pending_application"
    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call_for_applications.id", ondelete="CASCADE", index=True)
    email: str = Field(max_length=320, index=True)
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)


# --- batch runs -------------------------------------------------------------------------------

#: The SQL form of "queued or running" for the partial index (values of ``RunStatus``).
ACTIVE_RUN_CONDITION = "status IN ('queued', 'running')"


class MatchingRun(SQLModel, table=True):
    """A batch assignment of a round, run in the background; ``result`` holds its summary.

    ``owner`` is the process executing it and ``lease_until`` how long that claim holds
    without a heartbeat; an active run whose lease ran out belongs to a dead process.
    """

    # At most one queued or running run per round, whichever process asks.
    __table_args__ = (
        _partial_unique("uq_matchingrun_active_round", ["round_id"], ACTIVE_RUN_CONDITION),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE", index=True)
    mode: str = Field(max_length=20)
    status: RunStatus = Field(default=RunStatus.QUEUED, sa_type=_status_type(RunStatus))
    progress: float = 0.0
    stage: str = ""
    cancel_requested: bool = False
    error: str | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Budget, quotas and cost table of the run (``schemas.FundingIn``); NULL: none.
    parameters: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UtcDateTime)


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
    """One state change: who, when, what, why. Holds ids only, never names or texts.

    The ids are plain columns, not foreign keys, so entries outlive a deleted applicant. The
    public ids (``applicant_public_id`` "A-001", ``offer_public_id`` "H-013") are what the log
    shows; placement entries also keep the row ids (the GDPR access request finds them by those).
    Entries written before the public ids existed have NULL there and are read through the
    row ids.
    """

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    round_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    placement_id: int | None = None
    applicant_id: int | None = None
    offer_id: int | None = None
    #: Public ids (``A-001``, ``H-013``): they stay readable, and survive an erasure's row ids.
    applicant_public_id: str | None = Field(default=None, max_length=500)
    offer_public_id: str | None = Field(default=None, max_length=500)
    reason: str | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    #: What changed beyond the ids, e.g. "open → matching" or "Zugang 7 (mentor)".
    detail: str | None = Field(default=None, max_length=500)


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


# --- e-mail outbox ----------------------------------------------------------------------------


class OutboxStatus(StrEnum):
    """Where a message stands: waiting (again), claimed by a dispatcher, delivered, given up."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    """One e-mail, written in the transaction of the event it reports and sent later.

    ``key`` names the event (e.g. ``placement_confirmed:12``): unique, so the same event never
    enqueues twice. A dispatcher claims a due row with a conditional update that sets
    ``owner`` and ``lease_until``; a claim whose lease ran out belongs to a dead process and is
    taken over. ``recipient``, ``subject`` and ``body`` are personal data: never log them, and
    ``last_error`` holds no address. The rows go with their round.
    """

    # Serves the dispatcher's search for due rows (status first, then the time).
    __table_args__ = (
        Index("ix_outboxmessage_due", "status", "next_attempt_at"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40)
    recipient: str = Field(max_length=320)
    language: str = Field(max_length=2)
    subject: str = Field(max_length=300)
    body: str
    round_id: int | None = Field(
        default=None, foreign_key="round.id", ondelete="CASCADE", index=True
    )
    #: Public ids (``A-001``, ``H-013``) of the applicant and offer the message is about.
    applicant_public_id: str | None = Field(default=None, max_length=500)
    offer_public_id: str | None = Field(default=None, max_length=500)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=_status_type(OutboxStatus))
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
