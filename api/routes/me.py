"""What applicants and mentors see of their own matters, and nothing else."""

from __future__ import annotations

from fastapi import APIRouter

from api import decisions, shortlists
from api.deps import (
    ApplicantDep,
    IdPath,
    MentorDep,
    ScorerDep,
    SessionDep,
    SettingsDep,
    WriteLockDep,
)
from models.schemas import (
    Decision,
    ExplanationLanguageChoice,
    MentorGuest,
    MySuggestion,
)
from models.tables import MentorDecision

router = APIRouter(prefix="/api", tags=["Bewerbende und Mentoring"])


@router.get("/me/suggestions")
def my_suggestions(
    session: SessionDep, scorer: ScorerDep, settings: SettingsDep, principal: ApplicantDep
) -> list[MySuggestion]:
    """ "Meine Vorschläge": my placements and further suitable hosts, with reasons."""
    return shortlists.my_suggestions(session, scorer, principal, top_k=settings.top_k)


@router.put("/me/explanation-language")
def choose_explanation_language(
    body: ExplanationLanguageChoice,
    session: SessionDep,
    lock: WriteLockDep,
    principal: ApplicantDep,
) -> ExplanationLanguageChoice:
    """Read my suggestions' explanations in German or English (quotes stay as written)."""
    with lock:
        shortlists.choose_explanation_language(session, principal, body.language)
        session.commit()
    return body


@router.get("/mentor/guests")
def my_guests(session: SessionDep, principal: MentorDep) -> list[MentorGuest]:
    """Guests proposed or confirmed for my offers."""
    return shortlists.mentor_guests(session, principal)


def _mentor_decision(
    placement_id: IdPath,
    decision: MentorDecision,
    body: Decision | None,
    session: SessionDep,
    lock: WriteLockDep,
    principal: MentorDep,
) -> MentorGuest:
    with decisions.writing(session, lock):
        placement = decisions.mentor_decide(
            session, placement_id, principal, decision, body.reason if body else None
        )
    return shortlists.mentor_guest(session, placement)


@router.post("/mentor/guests/{placement_id}/accept")
def accept_guest(
    placement_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    principal: MentorDep,
    body: Decision | None = None,
) -> MentorGuest:
    """Accept a confirmed guest on one of my offers."""
    return _mentor_decision(placement_id, MentorDecision.ACCEPTED, body, session, lock, principal)


@router.post("/mentor/guests/{placement_id}/decline")
def decline_guest(
    placement_id: IdPath,
    session: SessionDep,
    lock: WriteLockDep,
    principal: MentorDep,
    body: Decision | None = None,
) -> MentorGuest:
    """Decline a confirmed guest on one of my offers, with a reason for the coordinators."""
    return _mentor_decision(placement_id, MentorDecision.DECLINED, body, session, lock, principal)
