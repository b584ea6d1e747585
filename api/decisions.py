"""Decisions on placements by coordinators and mentors, and the coordinator's to-do list.

A decision that depends on more than its own row (is there still a place? has the applicant
a place already?) takes the round's write lock in the database first
(``crud.lock_round_for_write``: ``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite), checks, and changes state through ``lifecycle.transition``, whose conditional update
refuses a decision made on a state that is gone. So the rules hold across processes; the app's
thread lock around the callers only saves a process from queueing on the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from sqlmodel import Session

import matcher
from api import audit, outbox, services
from api.auth import Principal
from api.errors import Conflict, NotFound
from matcher import TopicScorer
from models import crud, lifecycle
from models.lifecycle import PlacementEvent
from models.schemas import BulkDecision, FreedPlace, TodoList
from models.tables import (
    Applicant,
    MentorDecision,
    Offer,
    Placement,
    PlacementCreate,
    PlacementStatus,
    Round,
    RoundStatus,
    RunStatus,
)


@contextmanager
def writing(session: Session, lock: threading.Lock) -> Iterator[None]:
    """The process's write lock around one transaction, which ends inside it: committed when
    the block succeeds, rolled back when it raises.

    A transaction that holds the database's write lock must not outlive the block: the request's
    session is closed only later, by a worker thread that may itself wait for the requests
    queued behind this lock (a deadlock across every process on the database).
    """
    with lock:
        try:
            yield
        except BaseException:
            session.rollback()
            raise
        session.commit()


def confirm(
    session: Session, round_id: int, placement: Placement, principal: Principal, reason: str | None
) -> Placement:
    """Confirm a proposal if its place is still free and every constraint still holds."""
    _lock_writable(session, round_id, [placement.offer_id])
    _require_status(session, placement, PlacementStatus.PROPOSED)
    applicant, offer = _pair(session, placement)
    _check_placeable(session, applicant, offer)
    _transition(session, placement, PlacementEvent.CONFIRM, principal, reason)
    _supersede_conflicts(session, placement, principal)
    return placement


def reject(
    session: Session, placement: Placement, principal: Principal, reason: str | None
) -> Placement:
    """Reject a proposal; a later run never proposes the pair again."""
    return _transition(session, placement, PlacementEvent.REJECT, principal, reason)


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
    _lock_writable(session, round_id)
    return [
        decide(session, round_id, item.placement_id, item.decision, principal, item.reason)
        for item in decisions
    ]


def end_confirmed(
    session: Session,
    round_id: int,
    placement_id: int,
    event: Literal[PlacementEvent.WITHDRAW, PlacementEvent.RELEASE],
    principal: Principal,
    reason: str,
) -> Placement:
    """An applicant dropped out (withdraw) or a coordinator gives the place up (release).

    The place is free at once; a withdrawn applicant's open proposals are superseded.
    """
    placement = require_placement(session, round_id, placement_id)
    _transition(session, placement, event, principal, reason)
    if event is PlacementEvent.WITHDRAW:
        _supersede_conflicts(session, placement, principal)
    return placement


def place_manually(
    session: Session,
    scorer: TopicScorer,
    round_id: int,
    applicant_id: str,
    offer_id: str,
    principal: Principal,
    reason: str | None,
    *,
    override_rejection: bool = False,
) -> Placement:
    """A coordinator's own placement: confirmed at once, if feasible, with the pair's score.

    A pair whose proposal was rejected is placed only with ``override_rejection`` (else 409),
    and the override is audited. Open proposals it makes impossible (the applicant's others;
    the offer's, once it is full) become ``superseded``.
    """
    applicant = services.require_applicant(session, round_id, applicant_id)
    offer = services.require_offer(session, round_id, offer_id)
    pair = matcher.score_pairs(
        scorer, [services.applicant_record(applicant)], [services.offer_record(offer)]
    )
    _lock_writable(session, round_id, [services.row_id(offer.id)])
    rejection = _rejection(session, applicant, offer)
    if rejection is not None and not override_rejection:
        raise Conflict(
            f"{applicant_id} → {offer_id} wurde abgelehnt{_because(rejection)}. Mit "
            "„override_rejection“: true wird trotzdem platziert.",
            [{"field": "override_rejection", "message": "Der Vorschlag wurde abgelehnt."}],
        )
    _check_placeable(session, applicant, offer)
    placement = crud.add_placements(
        session=session,
        round_id=round_id,
        placements=[
            PlacementCreate(
                applicant_id=services.row_id(applicant.id),
                offer_id=services.row_id(offer.id),
                status=PlacementStatus.PROPOSED,
                score=float(pair.score[0, 0]),
                strength=services.pair_strength(scorer, pair, applicant_id, offer_id),
            )
        ],
    )[0]
    _transition(session, placement, PlacementEvent.CONFIRM, principal, reason, action="place")
    if rejection is not None:
        audit.record_placement(
            session,
            placement,
            actor=principal.actor,
            action="override_rejection",
            reason=reason,
            detail=f"Ablehnung von Platzierung {rejection.id}{_because(rejection)} übergangen",
        )
    _supersede_conflicts(session, placement, principal)
    return placement


def _rejection(session: Session, applicant: Applicant, offer: Offer) -> Placement | None:
    """The pair's latest rejected proposal, if any."""
    rejected = [
        p
        for p in crud.placements_of_applicant(
            session=session, applicant_id=services.row_id(applicant.id)
        )
        if p.offer_id == offer.id and p.status is PlacementStatus.REJECTED
    ]
    return rejected[-1] if rejected else None


def _because(placement: Placement) -> str:
    return f" („{placement.reason}“)" if placement.reason else ""


def mentor_decide(
    session: Session,
    placement_id: int,
    principal: Principal,
    decision: MentorDecision,
    reason: str | None,
) -> Placement:
    """A mentor accepts or declines a confirmed guest on one of their own offers, once.

    A decline ends the placement (``declined_by_host``): the place is free at once.
    """
    placement = session.get(Placement, placement_id)
    if placement is None or placement.offer_id not in principal.offer_ids:
        raise NotFound("Keine solche Platzierung für Ihre Angebote.")
    services.require_round(session, placement.round_id, writable=True)
    event = (
        PlacementEvent.HOST_ACCEPT
        if decision is MentorDecision.ACCEPTED
        else PlacementEvent.HOST_DECLINE
    )
    return _transition(session, placement, event, principal, reason)


def require_placement(session: Session, round_id: int, placement_id: int) -> Placement:
    placement = crud.get_placement(session=session, round_id=round_id, placement_id=placement_id)
    if placement is None:
        raise NotFound(f"Platzierung {placement_id} gibt es in dieser Runde nicht.")
    return placement


def reject_pending_proposals(
    session: Session, round_id: int, principal: Principal, reason: str
) -> int:
    """Reject every open proposal of the round (when it closes); the count."""
    proposals = crud.list_placements(
        session=session, round_id=round_id, status=PlacementStatus.PROPOSED
    )
    for placement in proposals:
        _transition(session, placement, PlacementEvent.REJECT, principal, reason)
    return len(proposals)


def _transition(
    session: Session,
    placement: Placement,
    event: PlacementEvent,
    principal: Principal,
    reason: str | None,
    *,
    action: str | None = None,
) -> Placement:
    _lock_writable(session, placement.round_id, [placement.offer_id])
    try:
        placement = lifecycle.transition(
            session, placement, event, actor=principal.actor, reason=reason, action=action
        )
    except lifecycle.StaleState as stale:
        raise Conflict(stale.message) from stale
    outbox.notify_placement_event(session, placement, event)
    return placement


def _lock_writable(session: Session, round_id: int, offer_ids: Sequence[int] = ()) -> None:
    """Take the round's write lock, then make sure the round is still open for changes.

    The route checked the status before; a round closed since then must not be written.
    """
    crud.lock_round_for_write(session=session, round_id=round_id, offer_ids=offer_ids)
    round_ = services.require_round(session, round_id)
    session.refresh(round_)
    if round_.status is RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen und nur noch lesbar.")


def _require_status(session: Session, placement: Placement, status: PlacementStatus) -> None:
    session.refresh(placement)
    if placement.status is not status:
        raise Conflict(
            f"{lifecycle.placement_label(session, placement)} ist „{placement.status.value}“, "
            f"nicht „{status.value}“."
        )


def _pair(session: Session, placement: Placement) -> tuple[Applicant, Offer]:
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    assert applicant is not None and offer is not None, "foreign keys guarantee both"
    return applicant, offer


def _check_placeable(session: Session, applicant: Applicant, offer: Offer) -> None:
    """409 unless the applicant has no confirmed place yet and the pair is feasible now.

    Called under the round's write lock: the counts it reads stay true until the commit.
    """
    applicant_row = services.row_id(applicant.id)
    if crud.count_confirmed_of_applicant(session=session, applicant_id=applicant_row):
        raise Conflict(f"{applicant.external_id} hat bereits einen bestätigten Platz.")
    taken = crud.count_confirmed(session=session, offer_id=services.row_id(offer.id))
    session.refresh(offer)  # capacity as stored now: an edit may have committed meanwhile
    feasibility = matcher.check_feasibility(
        [services.applicant_record(applicant)], [services.offer_record(offer)], [taken]
    )
    reasons = feasibility.reasons(0, 0)
    if reasons:
        raise Conflict(f"{applicant.external_id} → {offer.external_id}: " + " ".join(reasons))


def _supersede_conflicts(session: Session, placement: Placement, principal: Principal) -> None:
    """Open proposals this placement made impossible become ``superseded``."""
    offer = session.get(Offer, placement.offer_id)
    assert offer is not None
    full = crud.count_confirmed(session=session, offer_id=placement.offer_id) >= offer.capacity
    label = lifecycle.placement_label(session, placement)
    reason = f"überholt durch {label}"
    for other in crud.conflicting_proposals(
        session=session,
        applicant_id=placement.applicant_id,
        offer_id=placement.offer_id if full else None,
    ):
        _transition(session, other, PlacementEvent.SUPERSEDE, principal, reason)


# --- edits that break confirmed placements ------------------------------------------------------


def broken_by_edit(
    session: Session, record: matcher.Offer | matcher.Applicant, placements: Sequence[Placement]
) -> list[tuple[Placement, list[str]]]:
    """Confirmed placements the edited record would make infeasible, with the reasons.

    ``placements`` are the record's confirmed placements; each is checked against the new
    record with the other confirmed guests of its offer counted against capacity.
    """
    broken = []
    for placement in placements:
        applicant_row, offer_row = _pair(session, placement)
        applicant = services.applicant_record(applicant_row)
        offer = services.offer_record(offer_row)
        if isinstance(record, matcher.Offer):
            offer = record
        else:
            applicant = record
        others = crud.count_confirmed(session=session, offer_id=placement.offer_id) - 1
        reasons = matcher.check_feasibility([applicant], [offer], [others]).reasons(0, 0)
        if reasons:
            broken.append((placement, reasons))
    return broken


def guard_edit(
    session: Session,
    round_id: int,
    record: matcher.Offer | matcher.Applicant,
    *,
    force: bool,
    principal: Principal,
) -> None:
    """409 naming the confirmed placements an edit breaks; with ``force`` flag them for review.

    Runs under the round's write lock, so no confirmation can slip in between check and edit.
    """
    if isinstance(record, matcher.Offer):
        row_id = services.row_id(services.require_offer(session, round_id, record.id).id)
        _lock_writable(session, round_id, [row_id])
        placements = crud.confirmed_placements(session=session, offer_id=row_id)
    else:
        row_id = services.row_id(services.require_applicant(session, round_id, record.id).id)
        _lock_writable(session, round_id)
        placements = crud.confirmed_placements(session=session, applicant_id=row_id)
    broken = broken_by_edit(session, record, placements)
    if not broken:
        return
    described = [
        f"{lifecycle.placement_label(session, p)}: {' '.join(reasons)}" for p, reasons in broken
    ]
    if not force:
        raise Conflict(
            f"Die Änderung an {record.id} verletzt {len(broken)} bestätigte Platzierung(en): "
            + "; ".join(described)
            + " Mit force=true wird sie trotzdem gespeichert und die Platzierungen kommen "
            "zur Prüfung in die Aufgabenliste."
        )
    for (placement, reasons), text in zip(broken, described, strict=True):
        crud.mark_for_review(
            session=session,
            placement_ids=[services.row_id(placement.id)],
            reason=f"Geändert: {record.id}. " + " ".join(reasons),
        )
        lifecycle.audit(session, placement, actor=principal.actor, action="review", reason=text)


# --- the coordinator's to-do list ---------------------------------------------------------------


def todo(session: Session, round_id: int) -> TodoList:
    """Freed places still open (with the offer's alternates), placements to review, and the
    number of undecided proposals."""
    placements = crud.list_placements(session=session, round_id=round_id)
    offers = {o.id: o for o in crud.list_offers(session=session, round_id=round_id)}
    confirmed = [p for p in placements if p.status is PlacementStatus.CONFIRMED]
    taken = {offer_id: sum(p.offer_id == offer_id for p in confirmed) for offer_id in offers}
    placed = {lifecycle.public_ids(session, p)[0] for p in confirmed}
    alternates = _latest_alternates(session, round_id)
    freed = [
        FreedPlace(
            placement=services.placement_view(session, p),
            alternates=[
                a for a in alternates.get(offers[p.offer_id].external_id, []) if a not in placed
            ],
        )
        for p in placements
        if p.status in lifecycle.FREED and taken[p.offer_id] < offers[p.offer_id].capacity
    ]
    return TodoList(
        freed=freed,
        review=[services.placement_view(session, p) for p in confirmed if p.needs_review],
        pending=sum(p.status is PlacementStatus.PROPOSED for p in placements),
    )


def _latest_alternates(session: Session, round_id: int) -> dict[str, list[str]]:
    """Offer id → runner-up applicants of the round's latest finished run."""
    for run in crud.list_runs(session=session, round_id=round_id):
        if run.status is RunStatus.DONE and run.result:
            alternates: dict[str, list[str]] = run.result.get("alternates", {})
            return alternates
    return {}


# --- rounds -------------------------------------------------------------------------------------


def change_round_status(
    session: Session,
    round_id: int,
    target: RoundStatus,
    principal: Principal,
    *,
    reject_pending: bool = False,
) -> Round:
    """Move a round along ``lifecycle.ROUND_TRANSITIONS``; closing needs every proposal decided.

    Closing with undecided proposals is refused with their count, unless ``reject_pending``
    rejects them first; closing while a run is active is refused.
    """
    crud.lock_round_for_write(session=session, round_id=round_id)
    round_ = services.require_round(session, round_id)
    session.refresh(round_)
    if round_.status is target:
        return round_
    if (round_.status, target) not in lifecycle.ROUND_TRANSITIONS:
        raise Conflict(f"Statuswechsel {round_.status.value} → {target.value} ist nicht erlaubt.")
    if target is RoundStatus.CLOSED:
        _prepare_close(session, round_id, principal, reject_pending=reject_pending)
    try:
        return lifecycle.change_round(session, round_, target, actor=principal.actor)
    except lifecycle.StaleState as stale:
        raise Conflict(stale.message) from stale


def _prepare_close(
    session: Session, round_id: int, principal: Principal, *, reject_pending: bool
) -> None:
    if crud.active_run(session=session, round_id=round_id):
        raise Conflict("Die Runde kann nicht abgeschlossen werden, solange eine Zuordnung läuft.")
    pending = len(
        crud.list_placements(session=session, round_id=round_id, status=PlacementStatus.PROPOSED)
    )
    if pending and not reject_pending:
        raise Conflict(
            f"Die Runde hat noch {pending} unentschiedene(n) Vorschlag/Vorschläge. Entscheiden "
            "Sie diese, oder schließen Sie mit „reject_pending“: true (alle werden abgelehnt).",
            [{"field": "reject_pending", "message": f"{pending} pending proposals"}],
        )
    reject_pending_proposals(session, round_id, principal, "Runde abgeschlossen")
    outbox.notify_round_closed(session, round_id)
