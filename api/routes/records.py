"""Offers and applicants of a round, in the interchange format (``id`` = interchange id)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

import matcher
from api import decisions, privacy, services
from api.deps import CoordinatorDep, IdPath, ScorerDep, SessionDep, WriteLockDep
from models import crud

router = APIRouter(prefix="/api/rounds/{round_id}", tags=["Angebote und Bewerbungen"])

#: ``?force=true``: store an edit that breaks confirmed placements and flag them for review.
ForceQuery = Annotated[
    bool,
    Query(description="store even if confirmed placements break; they are flagged for review"),
]


@router.get("/offers")
def list_offers(round_id: IdPath, session: SessionDep, _: CoordinatorDep) -> list[matcher.Offer]:
    services.require_round(session, round_id)
    return [
        services.offer_record(row) for row in crud.list_offers(session=session, round_id=round_id)
    ]


@router.post("/offers", status_code=status.HTTP_201_CREATED)
def add_offer(
    round_id: IdPath,
    offer: matcher.Offer,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> matcher.Offer:
    services.require_round(session, round_id, writable=True)
    with lock:
        services.import_records(
            session, round_id, offers=[offer], applicants=[], actor=principal.actor
        )
        session.commit()
    return offer


@router.get("/offers/{offer_id:record_id}")
def show_offer(
    round_id: IdPath, offer_id: str, session: SessionDep, _: CoordinatorDep
) -> matcher.Offer:
    return services.offer_record(services.require_offer(session, round_id, offer_id))


@router.put("/offers/{offer_id:record_id}")
def replace_offer(
    round_id: IdPath,
    offer_id: str,
    offer: matcher.Offer,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
    force: ForceQuery = False,
) -> matcher.Offer:
    """Replace every field; the ``id`` in the body must be the one in the path.

    409 naming the confirmed placements the edit breaks (capacity, dates, weeks, language),
    unless ``force``.
    """
    services.require_round(session, round_id, writable=True)
    services.require_same_id(offer.id, offer_id)
    with decisions.writing(session, lock):
        decisions.guard_edit(session, round_id, offer, force=force, principal=principal)
        services.replace_record(session, round_id, offer_id, offer, actor=principal.actor)
    return offer


@router.delete("/offers/{offer_id:record_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_offer(
    round_id: IdPath,
    offer_id: str,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> None:
    """Delete an offer without confirmed placements (its proposals go with it)."""
    services.require_round(session, round_id, writable=True)
    with lock:
        services.delete_offer(session, round_id, offer_id, actor=principal.actor)
        session.commit()


@router.get("/applicants")
def list_applicants(
    round_id: IdPath, session: SessionDep, _: CoordinatorDep
) -> list[matcher.Applicant]:
    services.require_round(session, round_id)
    return [
        services.applicant_record(row)
        for row in crud.list_applicants(session=session, round_id=round_id)
    ]


@router.post("/applicants", status_code=status.HTTP_201_CREATED)
def add_applicant(
    round_id: IdPath,
    applicant: matcher.Applicant,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> matcher.Applicant:
    services.require_round(session, round_id, writable=True)
    with lock:
        services.import_records(
            session, round_id, offers=[], applicants=[applicant], actor=principal.actor
        )
        session.commit()
    # As stored: with the detected language where the body had none.
    return services.applicant_record(services.require_applicant(session, round_id, applicant.id))


@router.get("/applicants/{applicant_id:record_id}")
def show_applicant(
    round_id: IdPath, applicant_id: str, session: SessionDep, _: CoordinatorDep
) -> matcher.Applicant:
    return services.applicant_record(services.require_applicant(session, round_id, applicant_id))


@router.put("/applicants/{applicant_id:record_id}")
def replace_applicant(
    round_id: IdPath,
    applicant_id: str,
    applicant: matcher.Applicant,
    session: SessionDep,
    scorer: ScorerDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
    force: ForceQuery = False,
) -> matcher.Applicant:
    """Replace every field; the ``id`` in the body must be the one in the path.

    409 naming the confirmed placement the edit breaks (dates, weeks, language), unless
    ``force``. The cached vectors of the replaced texts are forgotten: they are personal data.
    """
    services.require_round(session, round_id, writable=True)
    services.require_same_id(applicant.id, applicant_id)
    with decisions.writing(session, lock):
        row = services.require_applicant(session, round_id, applicant_id)
        decisions.guard_edit(session, round_id, applicant, force=force, principal=principal)
        privacy.forget_embeddings(session, scorer, row)
        services.replace_record(session, round_id, applicant_id, applicant, actor=principal.actor)
    return services.applicant_record(services.require_applicant(session, round_id, applicant_id))


@router.delete("/applicants/{applicant_id:record_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_applicant(
    round_id: IdPath,
    applicant_id: str,
    session: SessionDep,
    scorer: ScorerDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> None:
    """Delete an application with its embeddings, placements and tokens (GDPR erasure)."""
    services.require_round(session, round_id)
    with lock:
        privacy.forget_applicant(session, scorer, round_id, applicant_id, principal)
        session.commit()
    privacy.wipe_erased(session)


@router.get("/applicants/{applicant_id:record_id}/personal-data")
def personal_data(
    round_id: IdPath, applicant_id: str, session: SessionDep, _: CoordinatorDep
) -> dict[str, Any]:
    """Everything stored about one applicant (GDPR access request)."""
    return privacy.personal_data(session, round_id, applicant_id)
