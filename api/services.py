"""Use cases that need both the engine and the database: the only place rows become records.

Each function takes an open session and leaves committing to its caller unless it says
otherwise, so a use case is one transaction: all of it is stored or none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

import matcher
from api import audit
from api.auth import Principal, hash_token, new_token
from api.errors import Conflict, NotFound, Unprocessable
from api.settings import Settings, get_settings
from matcher import Applicant, Assignment, Mode, Offer, PairScores, TopicScorer
from matcher.funding import Funding
from matcher.language import applicant_language
from matcher.strength import Strength, load_thresholds, near_miss
from models import crud, lifecycle, tables
from models.schemas import AccountPublic, PlacementView, RoundSettings, RoundSummary, TokenPublic
from models.store import SqlEmbeddingStore

_OFFER_FIELDS = set(matcher.Offer.model_fields) - {"id"}
_APPLICANT_FIELDS = set(matcher.Applicant.model_fields) - {"id"}


def make_scorer(engine: Engine, model_names: Sequence[str]) -> TopicScorer:
    """Load the models once and cache their embeddings in the database."""
    return TopicScorer(matcher.load_embedder(model_names, SqlEmbeddingStore(engine)))


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session that rolls back whatever its block did not commit."""
    with Session(engine) as session:
        yield session


def offer_row(offer: Offer) -> tables.OfferBase:
    return tables.OfferBase(external_id=offer.id, **offer.model_dump(exclude={"id"}))


def applicant_row(applicant: Applicant) -> tables.ApplicantBase:
    """The row of an application; its language is stored as given, else as detected."""
    fields = applicant.model_dump(exclude={"id"})
    fields["language"] = applicant_language(applicant)
    return tables.ApplicantBase(external_id=applicant.id, **fields)


def offer_record(row: tables.Offer) -> Offer:
    return Offer.model_validate({"id": row.external_id, **row.model_dump(include=_OFFER_FIELDS)})


def applicant_record(row: tables.Applicant) -> Applicant:
    return Applicant.model_validate(
        {"id": row.external_id, **row.model_dump(include=_APPLICANT_FIELDS)}
    )


def import_round(
    session: Session,
    *,
    name: str,
    offers: Sequence[Offer],
    applicants: Sequence[Applicant],
    direction: tables.RoundDirection = tables.RoundDirection.OUTGOING,
) -> tables.Round:
    """Create a round holding validated records (the caller commits)."""
    round_ = crud.create_round(session=session, name=name, direction=direction)
    assert round_.id is not None
    crud.add_offers(session=session, round_id=round_.id, offers=[offer_row(o) for o in offers])
    crud.add_applicants(
        session=session, round_id=round_.id, applicants=[applicant_row(a) for a in applicants]
    )
    return round_


@dataclass(frozen=True)
class RoundState:
    """A round as the engine sees it, with the row ids to write results back."""

    applicants: list[Applicant]
    offers: list[Offer]
    applicant_row_ids: dict[str, int]
    offer_row_ids: dict[str, int]
    confirmed: dict[str, str]
    rejected: list[tuple[str, str]]


def load_round(session: Session, round_id: int) -> RoundState:
    """Records and decisions of a round, keyed by interchange ids."""
    applicant_rows = crud.list_applicants(session=session, round_id=round_id)
    offer_rows = crud.list_offers(session=session, round_id=round_id)
    applicant_ids = {row.id: row.external_id for row in applicant_rows}
    offer_ids = {row.id: row.external_id for row in offer_rows}
    placements = crud.list_placements(session=session, round_id=round_id)
    confirmed = {
        applicant_ids[p.applicant_id]: offer_ids[p.offer_id]
        for p in placements
        if p.status is tables.PlacementStatus.CONFIRMED
    }
    # An applicant who withdrew has left the round, unless placed again by hand since.
    dropped_out = {
        applicant_ids[p.applicant_id]
        for p in placements
        if p.status is tables.PlacementStatus.WITHDRAWN
    } - set(confirmed)
    rejected = [
        (applicant_ids[p.applicant_id], offer_ids[p.offer_id])
        for p in placements
        if p.status in lifecycle.EXCLUDED_PAIRS and applicant_ids[p.applicant_id] not in dropped_out
    ]
    return RoundState(
        applicants=[
            applicant_record(row) for row in applicant_rows if row.external_id not in dropped_out
        ],
        offers=[offer_record(row) for row in offer_rows],
        applicant_row_ids={row.external_id: row_id(row.id) for row in applicant_rows},
        offer_row_ids={row.external_id: row_id(row.id) for row in offer_rows},
        confirmed=confirmed,
        rejected=rejected,
    )


def row_id(value: int | None) -> int:
    """The id of a row that has been flushed or loaded (never None then)."""
    assert value is not None, "rows loaded from the database have ids"
    return value


def score_round(
    scorer: TopicScorer, state: RoundState, *, show_progress: bool = False
) -> PairScores:
    """Score every pair of a round, counting confirmed placements against capacity."""
    return matcher.score_pairs(
        scorer,
        state.applicants,
        state.offers,
        confirmed=state.confirmed,
        show_progress=show_progress,
    )


def pair_strength(scorer: TopicScorer, scores: PairScores, applicant_id: str, offer_id: str) -> str:
    """The calibrated strength label („sehr gut“, „gut“, „schwach“) of one scored pair."""
    fit = scores.topic.fit[scores.applicant_index[applicant_id], scores.offer_index[offer_id]]
    return load_thresholds(scorer.embedder.model_id).label(float(fit)).value


def store_proposals(
    session: Session,
    round_id: int,
    state: RoundState,
    assignment: Assignment,
    scorer: TopicScorer,
    scores: PairScores,
    *,
    run_id: int | None = None,
) -> dict[str, int]:
    """Replace the round's open proposals by those of ``assignment`` (the caller commits).

    Each proposal stores its strength label from ``scores``, the scores it was assigned on.
    Returns the new placement id of each proposed applicant.
    """
    crud.delete_proposals(session=session, round_id=round_id)
    proposals = [
        tables.PlacementCreate(
            applicant_id=state.applicant_row_ids[p.applicant_id],
            offer_id=state.offer_row_ids[p.offer_id],
            status=tables.PlacementStatus.PROPOSED,
            score=p.score,
            reason=f"Batch-Zuordnung ({assignment.mode.value})",
            strength=pair_strength(scorer, scores, p.applicant_id, p.offer_id),
            run_id=run_id,
        )
        for p in assignment.placements
        if not p.pinned
    ]
    rows = crud.add_placements(session=session, round_id=round_id, placements=proposals)
    by_row = {key: external for external, key in state.applicant_row_ids.items()}
    return {by_row[row.applicant_id]: row_id(row.id) for row in rows}


def propose(
    session: Session,
    scorer: TopicScorer,
    round_id: int,
    *,
    mode: Mode,
    show_progress: bool = False,
    funding: Funding | None = None,
) -> tuple[RoundState, PairScores, Assignment]:
    """Batch-assign a round and store its proposals; confirmed stay, rejected are excluded."""
    state = load_round(session, round_id)
    scores = score_round(scorer, state, show_progress=show_progress)
    assignment = assign_round(
        scorer, require_round(session, round_id), state, scores, mode=mode, funding=funding
    )
    store_proposals(session, round_id, state, assignment, scorer, scores)
    session.commit()
    return state, scores, assignment


def assign_round(
    scorer: TopicScorer,
    round_: tables.Round,
    state: RoundState,
    scores: PairScores,
    *,
    mode: Mode,
    funding: Funding | None = None,
) -> Assignment:
    """``matcher.assign`` for a round: never below its ``min_strength``, near misses told.

    Pairs weaker than the round's minimum go to the engine as excluded pairs (like rejected
    ones), so they are neither proposed nor alternates. An applicant left without any allowed
    offer is told the best offer that fails one condition only, the strength included.
    """
    minimum = Strength(round_.min_strength) if round_.min_strength else None
    strong = load_thresholds(scorer.embedder.model_id).at_least(scores.topic.fit, minimum)
    weak = np.argwhere(scores.feasibility.feasible & ~strong)
    excluded = [*state.rejected, *((scores.applicants[i].id, scores.offers[j].id) for i, j in weak)]
    assignment = matcher.assign(scores, mode=mode, rejected=excluded, funding=funding)
    rejected_by_row: dict[int, list[int]] = {}
    for applicant_id, offer_id in state.rejected:
        if applicant_id in scores.applicant_index and offer_id in scores.offer_index:
            rejected_by_row.setdefault(scores.applicant_index[applicant_id], []).append(
                scores.offer_index[offer_id]
            )
    unplaced = []
    for item in assignment.unplaced:
        i = scores.applicant_index[item.applicant_id]
        allowed = scores.feasibility.feasible[i] & strong[i]
        allowed[rejected_by_row.get(i, [])] = False
        told = (
            None
            if allowed.any()
            else near_miss(scores, i, strong, minimum, rejected_by_row.get(i, []))
        )
        unplaced.append(replace(item, reason=told or item.reason))
    return replace(assignment, unplaced=tuple(unplaced))


def require_round(session: Session, round_id: int, *, writable: bool = False) -> tables.Round:
    """The round, or 404; with ``writable``, 409 if it is closed (closed rounds are read-only)."""
    round_ = crud.get_round(session=session, round_id=round_id)
    if round_ is None:
        raise NotFound(f"Runde {round_id} gibt es nicht.")
    if writable and round_.status is tables.RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen und nur noch lesbar.")
    return round_


def require_applicant(session: Session, round_id: int, applicant_id: str) -> tables.Applicant:
    applicant = crud.get_applicant(session=session, round_id=round_id, external_id=applicant_id)
    if applicant is None:
        raise _no_applicant(round_id, applicant_id)
    return applicant


def require_round_applicant(
    session: Session, round_id: int, applicant_id: str
) -> tuple[tables.Round, tables.Applicant, int | None]:
    """``require_round`` and ``require_applicant`` in one query (a shortlist's hot path), with
    the id of the newest re-ranker learned up to the round (None: none yet)."""
    found = crud.get_round_applicant(session=session, round_id=round_id, external_id=applicant_id)
    if found is None:
        require_round(session, round_id)  # the round's 404 first, as the two calls would
        raise _no_applicant(round_id, applicant_id)
    return found


def _no_applicant(round_id: int, applicant_id: str) -> NotFound:
    return NotFound(f"Bewerbung {applicant_id} gibt es in Runde {round_id} nicht.")


def require_offer(session: Session, round_id: int, offer_id: str) -> tables.Offer:
    offer = crud.get_offer(session=session, round_id=round_id, external_id=offer_id)
    if offer is None:
        raise NotFound(f"Angebot {offer_id} gibt es in Runde {round_id} nicht.")
    return offer


def offer_external_id(session: Session, offer_row_id: int) -> str:
    offer = session.get(tables.Offer, offer_row_id)
    assert offer is not None
    return offer.external_id


def round_summary(session: Session, round_: tables.Round) -> RoundSummary:
    """The round with its counts."""
    round_id = row_id(round_.id)
    offers = crud.list_offers(session=session, round_id=round_id)
    placements = crud.list_placements(session=session, round_id=round_id)
    return RoundSummary(
        id=round_id,
        name=round_.name,
        status=round_.status,
        direction=round_.direction,
        created_at=round_.created_at,
        min_strength=round_.min_strength,
        closes_on=round_.closes_on,
        applicants=len(crud.list_applicants(session=session, round_id=round_id)),
        offers=len(offers),
        places=sum(offer.capacity for offer in offers),
        placed=sum(p.status is tables.PlacementStatus.CONFIRMED for p in placements),
        proposed=sum(p.status is tables.PlacementStatus.PROPOSED for p in placements),
    )


ID_TAKEN = "Die Kennung gibt es in dieser Runde schon."


def change_round_settings(
    session: Session, round_: tables.Round, changes: RoundSettings, *, actor: str
) -> tables.Round:
    """Set the fields of ``changes`` that the request named; audited with old and new values."""
    named = changes.model_dump(exclude_unset=True)
    shown = []
    for field, value in named.items():
        old = getattr(round_, field)
        setattr(round_, field, value.value if isinstance(value, Strength) else value)
        shown.append(f"{field}: {old or 'keiner'} → {getattr(round_, field) or 'keiner'}")
    session.add(round_)
    if shown:
        audit.record(
            session,
            actor=actor,
            action="round_settings",
            round_id=row_id(round_.id),
            detail="; ".join(shown),
        )
    return round_


def import_records(
    session: Session,
    round_id: int,
    *,
    offers: Sequence[Offer],
    applicants: Sequence[Applicant],
    actor: str | None = None,
) -> None:
    """Add validated records to a round; ids already in the round are input errors (422).

    With an ``actor`` each added record is audited (single additions through the API); bulk
    imports are not, record by record. The round's write lock in the database comes before
    the id check: a second process importing the same ids waits and gets the 422, not the
    unique index's error.
    """
    crud.lock_round_for_write(session=session, round_id=round_id)
    taken_offers = {o.external_id for o in crud.list_offers(session=session, round_id=round_id)}
    taken_applicants = {
        a.external_id for a in crud.list_applicants(session=session, round_id=round_id)
    }
    problems = [
        matcher.RecordProblem("offers", i, o.id, "id", ID_TAKEN)
        for i, o in enumerate(offers)
        if o.id in taken_offers
    ] + [
        matcher.RecordProblem("applicants", i, a.id, "id", ID_TAKEN)
        for i, a in enumerate(applicants)
        if a.id in taken_applicants
    ]
    if problems:
        raise matcher.InvalidRecordsError(problems)
    offer_rows = crud.add_offers(
        session=session, round_id=round_id, offers=[offer_row(o) for o in offers]
    )
    applicant_rows = crud.add_applicants(
        session=session, round_id=round_id, applicants=[applicant_row(a) for a in applicants]
    )
    added: list[tables.Offer | tables.Applicant] = [*offer_rows, *applicant_rows]
    if actor is not None:
        for row in added:
            record_change(session, row, "added", actor=actor)


def record_change(
    session: Session, row: tables.Offer | tables.Applicant, verb: str, *, actor: str
) -> None:
    """Audit an offer or applicant ``added``, ``changed`` or ``deleted`` (action ``offer_…``)."""
    is_offer = isinstance(row, tables.Offer)
    audit.record(
        session,
        actor=actor,
        action=f"{'offer' if is_offer else 'applicant'}_{verb}",
        round_id=row.round_id,
        offer=row if isinstance(row, tables.Offer) else None,
        applicant=row if isinstance(row, tables.Applicant) else None,
    )


def issue_account(
    session: Session,
    *,
    role: tables.Role,
    label: str,
    round_id: int | None = None,
    applicant_id: str | None = None,
    offer_ids: Sequence[str] = (),
    actor: str = "system",
    settings: Settings | None = None,
) -> tuple[tables.Account, str]:
    """Create an account and return it with its token (the only time the token is visible).

    The token expires as :func:`token_expiry` says; issuing is audited, the token never.
    """
    round_ = None
    applicant_row_id = None
    offer_row_ids: list[int] = []
    if role is tables.Role.APPLICANT or role is tables.Role.MENTOR:
        if round_id is None:
            raise Unprocessable(
                "Die Runde fehlt (round_id).", [{"field": "round_id", "message": "„Runde“ fehlt."}]
            )
        round_ = require_round(session, round_id)
    if role is tables.Role.APPLICANT:
        if not applicant_id:
            raise Unprocessable(
                "Ein Bewerbungs-Token braucht applicant_id.",
                [{"field": "applicant_id", "message": "„Bewerbung“ fehlt (Rolle applicant)."}],
            )
        assert round_id is not None
        applicant_row_id = row_id(require_applicant(session, round_id, applicant_id).id)
    if role is tables.Role.MENTOR:
        if not offer_ids:
            raise Unprocessable(
                "Ein Mentoring-Token braucht mindestens ein Angebot.",
                [{"field": "offer_ids", "message": "„Angebote“ fehlt (Rolle mentor)."}],
            )
        assert round_id is not None
        # A repeated offer id binds once (it used to break the binding table's key: a 500).
        offer_row_ids = [
            row_id(require_offer(session, round_id, o).id) for o in dict.fromkeys(offer_ids)
        ]
    token = new_token()
    account = crud.create_account(
        session=session,
        role=role,
        label=label,
        token_hash=hash_token(token),
        applicant_id=applicant_row_id,
        offer_ids=offer_row_ids,
    )
    account.expires_at = token_expiry(round_, settings or get_settings(), account.created_at)
    session.add(account)
    _audit_token(session, account, "token_issued", actor=actor)
    return account, token


def token_expiry(round_: tables.Round | None, settings: Settings, issued: datetime) -> datetime:
    """End of the round's closing day plus ``token_days_after_closing``; without a closing day
    (coordinators, rounds without ``closes_on``) ``token_lifetime_days`` after issuance."""
    if round_ is not None and round_.closes_on is not None:
        last_day = round_.closes_on + timedelta(days=settings.token_days_after_closing)
        return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)
    return issued + timedelta(days=settings.token_lifetime_days)


def account_round(session: Session, account: tables.Account) -> tables.Round | None:
    """The round an applicant's or mentor's account is bound to (None for coordinators)."""
    if account.applicant_id is not None:
        applicant = session.get(tables.Applicant, account.applicant_id)
        return session.get(tables.Round, applicant.round_id) if applicant else None
    offers = crud.mentor_offer_ids(session=session, account_id=row_id(account.id))
    offer = session.get(tables.Offer, offers[0]) if offers else None
    return session.get(tables.Round, offer.round_id) if offer else None


def token_public(session: Session, account: tables.Account, now: datetime) -> TokenPublic:
    """What a coordinator sees of a token: binding and dates, never the secret or its hash."""
    applicant = (
        session.get(tables.Applicant, account.applicant_id) if account.applicant_id else None
    )
    offer_rows = crud.mentor_offer_ids(session=session, account_id=row_id(account.id))
    offers = crud.external_ids(session=session, table=tables.Offer, row_ids=offer_rows)
    round_ = account_round(session, account)
    state = "aktiv"
    if account.revoked_at is not None:
        state = "widerrufen"
    elif account.expires_at is not None and account.expires_at <= now:
        state = "abgelaufen"
    return TokenPublic(
        id=row_id(account.id),
        label=account.label,
        role=account.role,
        round_id=round_.id if round_ else None,
        applicant_id=applicant.external_id if applicant else None,
        offer_ids=sorted(offers.values()),
        created_at=account.created_at,
        last_used_at=account.last_used_at,
        expires_at=account.expires_at,
        revoked_at=account.revoked_at,
        state=state,
    )


def list_tokens(session: Session, *, round_id: int | None = None) -> list[TokenPublic]:
    """Every token, or those bound to one round, oldest first."""
    now = tables.utc_now()
    shown = [token_public(session, a, now) for a in crud.list_accounts(session=session)]
    return [t for t in shown if round_id is None or t.round_id == round_id]


def require_account(session: Session, account_id: int) -> tables.Account:
    account = session.get(tables.Account, account_id)
    if account is None:
        raise NotFound(f"Zugang {account_id} gibt es nicht.")
    return account


def revoke_token(session: Session, account_id: int, *, actor: str) -> tables.Account:
    """Stop a token at once (a second revoke is a 409); the account stays for the audit log."""
    account = require_account(session, account_id)
    if account.revoked_at is not None:
        raise Conflict(f"Zugang {account_id} ist bereits widerrufen.")
    account.revoked_at = tables.utc_now()
    session.add(account)
    _audit_token(session, account, "token_revoked", actor=actor)
    return account


def reissue_token(
    session: Session, account_id: int, *, actor: str, settings: Settings | None = None
) -> tuple[tables.Account, str]:
    """A new secret for the same account (role, label, binding); the old one stops working."""
    account = require_account(session, account_id)
    token = new_token()
    account.token_hash = hash_token(token)
    account.revoked_at = None
    account.expires_at = token_expiry(
        account_round(session, account), settings or get_settings(), tables.utc_now()
    )
    session.add(account)
    _audit_token(session, account, "token_reissued", actor=actor)
    return account, token


def _audit_token(session: Session, account: tables.Account, action: str, *, actor: str) -> None:
    """Audit a token event with its account id and role; the label may name a person."""
    round_ = account_round(session, account)
    applicant = (
        session.get(tables.Applicant, account.applicant_id) if account.applicant_id else None
    )
    offer_rows = crud.mentor_offer_ids(session=session, account_id=row_id(account.id))
    offers = crud.external_ids(session=session, table=tables.Offer, row_ids=offer_rows)
    bound = f": {', '.join(sorted(offers.values()))}" if offers else ""
    expiry = f", gültig bis {account.expires_at:%d.%m.%Y}" if account.expires_at else ""
    audit.record(
        session,
        actor=actor,
        action=action,
        round_id=round_.id if round_ else None,
        applicant=applicant,
        offer=session.get(tables.Offer, offer_rows[0]) if len(offer_rows) == 1 else None,
        detail=f"Zugang {account.id} ({account.role.value}{bound}){expiry}",
    )


def require_same_id(body_id: str, path_id: str) -> None:
    if body_id != path_id:
        raise Unprocessable(
            "Die id im Inhalt muss der id im Pfad entsprechen.",
            [{"field": "id", "message": f"„Kennung“ muss {path_id!r} sein (wie im Pfad)."}],
        )


def replace_record(
    session: Session,
    round_id: int,
    record_id: str,
    record: Offer | Applicant,
    *,
    actor: str = "system",
) -> None:
    """Overwrite every interchange field of an existing offer or applicant (ids stay; audited)."""
    require_same_id(record.id, record_id)
    row: tables.Offer | tables.Applicant
    values: tables.OfferBase | tables.ApplicantBase
    if isinstance(record, Offer):
        row, values = require_offer(session, round_id, record_id), offer_row(record)
    else:
        row, values = require_applicant(session, round_id, record_id), applicant_row(record)
    for field, value in values.model_dump().items():
        setattr(row, field, value)
    session.add(row)
    record_change(session, row, "changed", actor=actor)


def delete_offer(session: Session, round_id: int, offer_id: str, *, actor: str) -> None:
    """Delete an offer without confirmed placements, its proposals with it (audited)."""
    row = require_offer(session, round_id, offer_id)
    confirmed = crud.count_confirmed(session=session, offer_id=row_id(row.id))
    if confirmed:
        raise Conflict(f"Angebot {offer_id} hat {confirmed} bestätigte Platzierung(en).")
    record_change(session, row, "deleted", actor=actor)
    session.delete(row)


def placement_view(session: Session, placement: tables.Placement) -> PlacementView:
    applicant = session.get(tables.Applicant, placement.applicant_id)
    offer = session.get(tables.Offer, placement.offer_id)
    assert applicant is not None and offer is not None
    return PlacementView(
        id=row_id(placement.id),
        applicant_id=applicant.external_id,
        offer_id=offer.external_id,
        city=offer.city,
        status=placement.status,
        score=placement.score,
        strength=placement.strength,
        reason=placement.reason,
        decided_by=placement.decided_by,
        decided_at=placement.decided_at,
        mentor_decision=placement.mentor_decision,
        mentor_reason=placement.mentor_reason,
        needs_review=placement.needs_review,
        review_reason=placement.review_reason,
    )


def account_public(session: Session, principal: Principal) -> AccountPublic:
    account = session.get(tables.Account, principal.account_id)
    assert account is not None
    applicant = (
        session.get(tables.Applicant, principal.applicant_id) if principal.applicant_id else None
    )
    offers = [session.get(tables.Offer, offer_id) for offer_id in sorted(principal.offer_ids)]
    round_ids = {o.round_id for o in offers if o} | ({applicant.round_id} if applicant else set())
    return AccountPublic(
        id=principal.account_id,
        role=principal.role,
        label=account.label,
        round_id=min(round_ids) if round_ids else None,
        applicant_id=applicant.external_id if applicant else None,
        offer_ids=[o.external_id for o in offers if o],
    )
