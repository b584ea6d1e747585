"""Data access and request/response shapes of the call for applications (issue 18).

Keyword-only functions like ``models.crud``: writers flush, never commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, delete, func, select

from models.tables import Applicant, CallForApplications, PendingApplication

#: The public part of a call's link: URL-safe, as ``secrets.token_urlsafe`` writes it.
SLUG_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


# --- data access ------------------------------------------------------------------------------


def call_of_round(*, session: Session, round_id: int) -> CallForApplications | None:
    statement = select(CallForApplications).where(CallForApplications.round_id == round_id)
    return session.exec(statement).first()


def call_by_slug(*, session: Session, slug: str) -> CallForApplications | None:
    statement = select(CallForApplications).where(CallForApplications.slug == slug)
    return session.exec(statement).first()


def add_pending(*, session: Session, pending: PendingApplication) -> PendingApplication:
    session.add(pending)
    session.flush()
    return pending


def pending_by_token(*, session: Session, token_hash: str) -> PendingApplication | None:
    statement = select(PendingApplication).where(PendingApplication.token_hash == token_hash)
    return session.exec(statement).first()


def delete_expired_pending(*, session: Session, now: datetime) -> int:
    """Forget applications whose confirmation link has expired (nothing of them stays)."""
    statement = delete(PendingApplication).where(col(PendingApplication.expires_at) <= now)
    return int(session.exec(statement).rowcount)


def count_pending(*, session: Session, call_id: int, now: datetime) -> int:
    """Applications still waiting for their address (expired ones no longer count)."""
    statement = select(func.count()).where(
        PendingApplication.call_id == call_id, col(PendingApplication.expires_at) > now
    )
    return session.exec(statement).one()


def _pending_of_address(round_id: int, email: str) -> ColumnElement[bool]:
    """The round's pending applications from one address (compared case-insensitively)."""
    of_round = select(CallForApplications.id).where(CallForApplications.round_id == round_id)
    return and_(
        col(PendingApplication.call_id).in_(of_round),
        func.lower(col(PendingApplication.email)) == email.lower(),
    )


def pending_with_email(*, session: Session, round_id: int, email: str) -> list[PendingApplication]:
    statement = (
        select(PendingApplication)
        .where(_pending_of_address(round_id, email))
        .order_by(col(PendingApplication.id))
    )
    return list(session.exec(statement).all())


def delete_pending_with_email(*, session: Session, round_id: int, email: str) -> int:
    """Erase the round's unconfirmed applications from this address; how many there were."""
    statement = delete(PendingApplication).where(_pending_of_address(round_id, email))
    return int(session.exec(statement).rowcount)


def applicant_ids(*, session: Session, round_id: int) -> list[str]:
    statement = select(Applicant.external_id).where(Applicant.round_id == round_id)
    return list(session.exec(statement).all())


def applicant_with_email(*, session: Session, round_id: int, email: str) -> Applicant | None:
    """The round's applicant with this e-mail address (compared case-insensitively)."""
    statement = select(Applicant).where(
        Applicant.round_id == round_id, func.lower(col(Applicant.email)) == email.lower()
    )
    return session.exec(statement).first()


# --- request and response shapes --------------------------------------------------------------


class CallOpen(BaseModel):
    """Open a round's call (or change its deadlines); times with their offset, e.g. ``Z``."""

    applications_until: AwareDatetime = Field(description="end of the application period")
    offers_until: AwareDatetime | None = Field(
        default=None, description="end of the period in which mentors edit their offers"
    )


class CallPublic(BaseModel):
    """A call as coordinators see it."""

    round_id: int
    link: str = Field(description="the public page of the call")
    slug: str
    applications_until: datetime
    offers_until: datetime | None
    opened_at: datetime
    closed_at: datetime | None
    accepting: bool = Field(description="applications are taken now")
    pending: int = Field(description="applications whose e-mail address is not confirmed yet")


class CallOffer(BaseModel):
    """An offer as the public sees it: no mentor, no contact, nobody who applied."""

    offer_id: str
    city: str
    country: str | None
    organisation: str
    title: str
    description: str
    working_languages: list[str]
    min_language_level: str
    available_from: date
    available_until: date
    min_weeks: int
    max_weeks: int


class CallView(BaseModel):
    """The public page of a call."""

    round_name: str
    applications_until: datetime
    accepting: bool
    offers: list[CallOffer]


class Accepted(BaseModel):
    detail: str


class AddressRequest(BaseModel):
    """An e-mail address whose unconfirmed applications are asked for or erased (in the body,
    never in the URL: addresses stay out of access logs)."""

    email: str = Field(min_length=3, max_length=320, description="the applicant's address")


class PendingErased(BaseModel):
    erased: int = Field(description="unconfirmed applications deleted")


class Confirmation(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="the token from the e-mail link")


class Confirmed(BaseModel):
    applicant_id: str
    round_name: str
    detail: str


class CallSuggestion(BaseModel):
    """A suggested offer while applying: a label and words, no numbers."""

    offer_id: str
    title: str
    organisation: str
    city: str
    strength: str
    explanation: str


class MyApplication(BaseModel):
    """„Meine Bewerbung“: the application as stored, and whether it may still be changed."""

    applicant_id: str
    round_name: str
    call: str | None = Field(description="the public link's slug (its offers are the wishes')")
    applications_until: datetime | None
    editable: bool
    name: str | None
    email: str | None
    home_organisation: str
    position: str
    languages: dict[str, str]
    preferred_cities: list[str]
    available_from: date
    available_until: date
    weeks_wanted: int
    motivation: str
    wishes: list[str]
