"""The call for applications: coordinators open it, the public applies, applicants edit.

The public endpoints need no token. They show offers without mentor or contact and nobody who
applied; they are rate-limited per IP address (and applications per e-mail address).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, status

import matcher
from api import call, decisions, privacy
from api.call import CallLimits, CallSettings, get_call_settings
from api.deps import (
    ApplicantDep,
    CoordinatorDep,
    IdPath,
    MentorDep,
    ScorerDep,
    SessionDep,
    SettingsDep,
    WriteLockDep,
)
from models.calls import (
    SLUG_PATTERN,
    Accepted,
    AddressRequest,
    CallOpen,
    CallPublic,
    CallSuggestion,
    CallView,
    Confirmation,
    Confirmed,
    MyApplication,
    PendingErased,
)

router = APIRouter(tags=["Ausschreibung"])

CallSettingsDep = Annotated[CallSettings, Depends(get_call_settings)]
SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="the call's public link")]
#: The application's fields as JSON; validated like an imported record (German field messages).
RawBody = Annotated[dict[str, Any], Body()]


def get_limits(request: Request, settings: CallSettingsDep) -> CallLimits:
    """The app's rate limiters, made on first use."""
    limits: CallLimits | None = getattr(request.app.state, "call_limits", None)
    if limits is None:
        limits = request.app.state.call_limits = CallLimits(settings)
    return limits


LimitsDep = Annotated[CallLimits, Depends(get_limits)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unbekannt"


@router.put("/api/rounds/{round_id}/call")
def open_call(
    round_id: IdPath,
    body: CallOpen,
    session: SessionDep,
    lock: WriteLockDep,
    settings: CallSettingsDep,
    principal: CoordinatorDep,
) -> CallPublic:
    """Open the round's call with its deadlines, or change them (the public link stays)."""
    with lock:
        result = call.open_call(session, round_id, body, actor=principal.actor, settings=settings)
        session.commit()
    return result


@router.get("/api/rounds/{round_id}/call")
def get_call(
    round_id: IdPath, session: SessionDep, settings: CallSettingsDep, _: CoordinatorDep
) -> CallPublic:
    """The round's call: link, deadlines, state, unconfirmed applications (a count only)."""
    return call.call_public(session, call.require_call_of_round(session, round_id), settings)


@router.post("/api/rounds/{round_id}/call/close")
def close_call(
    round_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    settings: CallSettingsDep,
    principal: CoordinatorDep,
) -> CallPublic:
    """Stop taking applications now."""
    with lock:
        result = call.close_call(session, round_id, actor=principal.actor, settings=settings)
        session.commit()
    return result


@router.post("/api/rounds/{round_id}/call/pending/personal-data")
def pending_personal_data(
    round_id: IdPath, body: AddressRequest, session: SessionDep, _: CoordinatorDep
) -> dict[str, Any]:
    """Unconfirmed applications from one address (GDPR access request for a person who is no
    applicant yet; an applicant's own request lists them too)."""
    return privacy.pending_personal_data(session, round_id, body.email)


@router.post("/api/rounds/{round_id}/call/pending/erase")
def erase_pending(
    round_id: IdPath,
    body: AddressRequest,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> PendingErased:
    """Delete the unconfirmed applications from one address (GDPR erasure); their link stops."""
    with lock:
        erased = privacy.forget_pending(session, round_id, body.email, principal)
        session.commit()
    privacy.wipe_erased(session)
    return PendingErased(erased=erased)


@router.get("/api/public/calls/{slug}")
def public_call(slug: SlugPath, session: SessionDep) -> CallView:
    """The call's page: round, deadline and offers (no mentor, no contact, no applicants)."""
    return call.call_view(session, slug)


@router.post("/api/public/calls/{slug}/applications", status_code=status.HTTP_202_ACCEPTED)
def apply(
    slug: SlugPath,
    body: RawBody,
    request: Request,
    session: SessionDep,
    lock: WriteLockDep,
    limits: LimitsDep,
    settings: CallSettingsDep,
) -> Accepted:
    """Apply: the fields of an interchange application plus ``email``; a link to confirm the
    address goes out by e-mail (the application counts once it is confirmed)."""
    with lock:
        call.submit(session, slug, body, client=_client(request), limits=limits, settings=settings)
        session.commit()
    return Accepted(
        detail="Danke! Bitte bestätigen Sie Ihre E-Mail-Adresse über den Link, den wir Ihnen "
        "soeben geschickt haben; erst dann ist Ihre Bewerbung eingegangen."
    )


@router.post("/api/public/calls/{slug}/suggestions")
def suggest(
    slug: SlugPath,
    body: RawBody,
    request: Request,
    session: SessionDep,
    scorer: ScorerDep,
    limits: LimitsDep,
) -> list[CallSuggestion]:
    """The five best feasible offers for a draft (motivation, languages, dates, weeks)."""
    return call.suggestions(session, scorer, slug, body, client=_client(request), limits=limits)


@router.post("/api/public/confirmations")
def confirm(
    body: Confirmation,
    session: SessionDep,
    lock: WriteLockDep,
    settings: CallSettingsDep,
    app_settings: SettingsDep,
) -> Confirmed:
    """Confirm the e-mail address with the link's token; the token is then the applicant's."""
    with lock:
        applicant, round_ = call.confirm(
            session, body.token, settings=settings, app_settings=app_settings
        )
        session.commit()
    return Confirmed(
        applicant_id=applicant.external_id,
        round_name=round_.name,
        detail="Ihre E-Mail-Adresse ist bestätigt; Ihre Bewerbung ist eingegangen.",
    )


@router.get("/api/me/application")
def my_application(session: SessionDep, principal: ApplicantDep) -> MyApplication:
    """„Meine Bewerbung“: my application and whether I may still change it."""
    return call.my_application(session, principal)


@router.put("/api/me/application")
def change_application(
    body: RawBody, session: SessionDep, lock: WriteLockDep, principal: ApplicantDep
) -> MyApplication:
    """Change my application (wishes included) until the deadline."""
    with decisions.writing(session, lock):
        call.update_application(session, principal, body)
    return call.my_application(session, principal)


@router.delete("/api/me/application", status_code=status.HTTP_204_NO_CONTENT)
def withdraw_application(
    session: SessionDep, scorer: ScorerDep, lock: WriteLockDep, principal: ApplicantDep
) -> None:
    """Withdraw my application: it and my data are deleted, my link stops working."""
    with lock:
        call.withdraw(session, scorer, principal)
        session.commit()
    privacy.wipe_erased(session)


@router.get("/api/mentor/offers")
def my_offers(session: SessionDep, principal: MentorDep) -> list[matcher.Offer]:
    """The offers I host, every field (to edit them until the offers deadline)."""
    return call.mentor_offers(session, principal)


@router.put("/api/mentor/offers/{offer_id:record_id}")
def change_my_offer(
    offer_id: str, body: RawBody, session: SessionDep, lock: WriteLockDep, principal: MentorDep
) -> matcher.Offer:
    """Update my offer (capacity, dates, languages, description in my language) until the
    offers deadline; mentor, contact and costs stay the coordinators'."""
    with decisions.writing(session, lock):
        return call.update_mentor_offer(session, principal, offer_id, body)
