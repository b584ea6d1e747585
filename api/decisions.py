"""Coordinators' and mentors' decisions on placements, each written to the audit log.

Every function runs inside the caller's transaction and under the app's decision lock, so the
capacity check and the write cannot interleave with another decision or a run's write.
"""

from __future__ import annotations

from typing import Literal

from sqlmodel import Session

import matcher
from api import services
from api.auth import Principal
from api.errors import Conflict, NotFound
from matcher import TopicScorer
from models import crud
from models.schemas import BulkDecision
from models.tables import (
    Applicant,
    AuditEntry,
    MentorDecision,
    Offer,
    Placement,
    PlacementCreate,
    PlacementStatus,
    utc_now,
)


def confirm(
    session: Session, round_id: int, placement: Placement, principal: Principal, reason: str | None
) -> Placement:
    """Confirm a proposal if its place is still free and every constraint still holds."""
    _require_status(placement, PlacementStatus.PROPOSED)
    applicant, offer = _pair(session, placement)
    _check_placeable(session, round_id, applicant, offer)
    return _decide(session, placement, PlacementStatus.CONFIRMED, principal, reason, "confirm")


def reject(
    session: Session, placement: Placement, principal: Principal, reason: str | None
) -> Placement:
    """Reject a proposal; a later run never proposes the pair again."""
    _require_status(placement, PlacementStatus.PROPOSED)
    return _decide(session, placement, PlacementStatus.REJECTED, principal, reason, "reject")


def decide(
    session: Session,
    round_id: int,
    placement_id: int,
    decision: Literal["confirm", "reject"],
    principal: Principal,
    reason: str | None,
) -> Placement:
    """Confirm or reject one proposal of the round."""
    placement = require_placement(session, round_id, placement_id)
    if decision == "confirm":
        return confirm(session, round_id, placement, principal, reason)
    return reject(session, placement, principal, reason)


def decide_many(
    session: Session, round_id: int, decisions: list[BulkDecision], principal: Principal
) -> list[Placement]:
    """Apply decisions in order, all or none (the caller commits only if all succeed)."""
    decided = []
    for item in decisions:
        decided.append(
            decide(session, round_id, item.placement_id, item.decision, principal, item.reason)
        )
        session.flush()
    return decided


def place_manually(
    session: Session,
    scorer: TopicScorer,
    round_id: int,
    applicant_id: str,
    offer_id: str,
    principal: Principal,
    reason: str | None,
) -> Placement:
    """A coordinator's own placement: confirmed at once, if feasible, with the pair's score."""
    applicant = services.require_applicant(session, round_id, applicant_id)
    offer = services.require_offer(session, round_id, offer_id)
    _check_placeable(session, round_id, applicant, offer)
    pair = matcher.score_pairs(
        scorer, [services.applicant_record(applicant)], [services.offer_record(offer)]
    )
    placement = crud.add_placements(
        session=session,
        round_id=round_id,
        placements=[
            PlacementCreate(
                applicant_id=services.row_id(applicant.id),
                offer_id=services.row_id(offer.id),
                status=PlacementStatus.PROPOSED,
                score=float(pair.score[0, 0]),
            )
        ],
    )[0]
    return _decide(session, placement, PlacementStatus.CONFIRMED, principal, reason, "place")


def mentor_decide(
    session: Session,
    placement_id: int,
    principal: Principal,
    decision: MentorDecision,
    reason: str | None,
) -> Placement:
    """A mentor accepts or declines a confirmed guest on one of their own offers."""
    placement = session.get(Placement, placement_id)
    if placement is None or placement.offer_id not in principal.offer_ids:
        raise NotFound("Keine solche Platzierung für Ihre Angebote.")
    services.require_round(session, placement.round_id, writable=True)
    _require_status(placement, PlacementStatus.CONFIRMED)
    placement.mentor_decision = decision
    placement.mentor_reason = reason
    placement.mentor_decided_at = utc_now()
    session.add(placement)
    _audit(session, placement, principal, f"mentor_{decision.value}", reason)
    return placement


def require_placement(session: Session, round_id: int, placement_id: int) -> Placement:
    placement = crud.get_placement(session=session, round_id=round_id, placement_id=placement_id)
    if placement is None:
        raise NotFound(f"Platzierung {placement_id} gibt es in dieser Runde nicht.")
    return placement


def _require_status(placement: Placement, status: PlacementStatus) -> None:
    if placement.status is not status:
        raise Conflict(
            f"Platzierung {placement.id} ist „{placement.status.value}“, nicht „{status.value}“."
        )


def _pair(session: Session, placement: Placement) -> tuple[Applicant, Offer]:
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    assert applicant is not None and offer is not None, "foreign keys guarantee both"
    return applicant, offer


def _check_placeable(session: Session, round_id: int, applicant: Applicant, offer: Offer) -> None:
    """409 unless the applicant has no confirmed place yet and the pair is feasible now."""
    confirmed_elsewhere = [
        p
        for p in crud.placements_of_applicant(
            session=session, applicant_id=services.row_id(applicant.id)
        )
        if p.status is PlacementStatus.CONFIRMED
    ]
    if confirmed_elsewhere:
        raise Conflict(f"{applicant.external_id} hat bereits einen bestätigten Platz.")
    taken = crud.count_confirmed(session=session, offer_id=services.row_id(offer.id))
    feasibility = matcher.check_feasibility(
        [services.applicant_record(applicant)], [services.offer_record(offer)], [taken]
    )
    reasons = feasibility.reasons(0, 0)
    if reasons:
        raise Conflict(f"{applicant.external_id} → {offer.external_id}: " + " ".join(reasons))


def _decide(
    session: Session,
    placement: Placement,
    status: PlacementStatus,
    principal: Principal,
    reason: str | None,
    action: str,
) -> Placement:
    placement.status = status
    placement.decided_by = principal.actor
    placement.decided_at = utc_now()
    if reason is not None:
        placement.reason = reason
    session.add(placement)
    session.flush()
    _audit(session, placement, principal, action, reason)
    return placement


def _audit(
    session: Session, placement: Placement, principal: Principal, action: str, reason: str | None
) -> None:
    crud.add_audit(
        session=session,
        entry=AuditEntry(
            round_id=placement.round_id,
            actor=principal.actor,
            action=action,
            placement_id=placement.id,
            applicant_id=placement.applicant_id,
            offer_id=placement.offer_id,
            reason=reason,
        ),
    )
