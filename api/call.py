"""The call for applications: a round's public link, online applications, double opt-in.

An application sent through the public form is validated like an imported one (the
interchange format's rules and German field messages) and kept as a *pending application*:
it is no applicant of the round, so no run, shortlist or coordinator sees it. The e-mail with
the confirmation link carries a fresh token; opening the link turns the pending application
into an applicant with the next free public id (``A-…``) and an applicant account whose token
is that same token. So the link is also the applicant's personal access: „Meine Bewerbung“
(view, edit until the deadline, withdraw) and „Meine Vorschläge“.

The call takes applications while it is open and its deadline lies ahead; afterwards the form
and every edit are refused (409) with the deadline in German.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import matcher
from api import audit, cache, decisions, privacy, services, shortlists
from api.auth import Principal, hash_token, new_token
from api.errors import ApiError, Conflict, NotFound, Unprocessable
from api.outbox import enqueue_mail, is_address
from api.settings import Settings
from matcher.scoring import score_prepared
from matcher.strength import load_thresholds
from models import calls, crud, tables
from models.calls import CallOffer, CallOpen, CallPublic, CallSuggestion, CallView, MyApplication

#: Times in e-mails and messages are Berlin times.
BERLIN = ZoneInfo("Europe/Berlin")
#: The form's hidden field: people leave it empty, form-filling robots do not.
HONEYPOT_FIELD = "homepage"
#: Where the confirmation link leads; the token travels in the fragment, never to a server log.
PAGE = "/static/bewerbung.html"
#: Where mentors enter their offers (the token follows in the fragment).
OFFER_PAGE = "/static/angebot.html"
#: Suggestions shown while applying.
SUGGESTIONS = 5
#: Actor of the audit entries written by confirmations (no person's name).
ONLINE_ACTOR = "bewerbung:online"
#: Fields a draft needs for suggestions; the others get stand-ins.
_DRAFT_STAND_INS = {"id": "Entwurf", "home_organisation": "–", "position": "–"}
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
_PUBLIC_ID = re.compile(r"A-(\d{1,9})")


class CallSettings(BaseSettings):
    """Settings of the public call (prefix ``MATCHER_``)."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore")

    public_url: str = Field(
        default="http://localhost:8000",
        description="Address of this service as applicants reach it (links in e-mails).",
    )
    confirm_hours: int = Field(
        default=72, ge=1, le=720, description="Hours a confirmation link stays valid."
    )
    applications_per_ip: int = Field(
        default=10, ge=1, description="Applications one IP address may send per hour."
    )
    applications_per_email: int = Field(
        default=3, ge=1, description="Applications per e-mail address and hour."
    )
    suggestions_per_ip: int = Field(
        default=60, ge=1, description="Suggestion requests one IP address may send per hour."
    )


@lru_cache
def get_call_settings() -> CallSettings:
    """Read once per process; tests override it."""
    return CallSettings()


class TooManyRequests(ApiError):
    status_code = 429


class RateLimiter:
    """At most ``limit`` hits per key within ``window`` seconds (sliding window, in memory).

    Per process: with several server processes each counts on its own, so the effective limit
    is the limit times the processes. Keys are hashed: no address is kept in memory.
    """

    def __init__(self, limit: int, window: float = 3600.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one hit; False when the key is over its limit (the hit is not counted then)."""
        now = time.monotonic() if now is None else now
        digest = hash_token(key)
        with self._lock:
            hits = self._hits.setdefault(digest, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class CallLimits:
    """The rate limiters of the public endpoints, one set per app."""

    def __init__(self, settings: CallSettings) -> None:
        self.applications_ip = RateLimiter(settings.applications_per_ip)
        self.applications_email = RateLimiter(settings.applications_per_email)
        self.suggestions_ip = RateLimiter(settings.suggestions_per_ip)


def _too_many(what: str) -> TooManyRequests:
    return TooManyRequests(f"Zu viele {what} in kurzer Zeit; bitte später erneut versuchen.")


def berlin_time(moment: datetime) -> str:
    """``31.03.2027, 23:59 Uhr`` in Berlin time."""
    return f"{moment.astimezone(BERLIN):%d.%m.%Y, %H:%M} Uhr"


# --- coordinators -----------------------------------------------------------------------------


def open_call(
    session: Session, round_id: int, body: CallOpen, *, actor: str, settings: CallSettings
) -> CallPublic:
    """Open the round's call, or change its deadlines and reopen it (the link stays)."""
    round_ = services.require_round(session, round_id)
    if round_.status is tables.RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen.")
    call = calls.call_of_round(session=session, round_id=round_id)
    if call is None:
        call = tables.CallForApplications(
            round_id=round_id,
            slug=secrets.token_urlsafe(16),
            applications_until=body.applications_until,
            opened_by=actor,
        )
    call.applications_until = body.applications_until
    call.offers_until = body.offers_until
    call.closed_at = None
    session.add(call)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="call_opened",
        round_id=round_id,
        detail=f"Bewerbungsfrist bis {berlin_time(body.applications_until)}",
    )
    return call_public(session, call, settings)


def close_call(
    session: Session, round_id: int, *, actor: str, settings: CallSettings
) -> CallPublic:
    """Stop taking applications now (pending ones may still be confirmed until they expire)."""
    call = require_call_of_round(session, round_id)
    if services.require_round(session, round_id).status is tables.RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen.")
    if call.closed_at is None:
        call.closed_at = tables.utc_now()
        session.add(call)
        audit.record(session, actor=actor, action="call_closed", round_id=round_id)
    return call_public(session, call, settings)


def require_call_of_round(session: Session, round_id: int) -> tables.CallForApplications:
    round_ = services.require_round(session, round_id)
    call = calls.call_of_round(session=session, round_id=round_id)
    if call is None and round_.status is tables.RoundStatus.CLOSED:
        raise Conflict(f"Runde {round_id} ist abgeschlossen.")
    if call is None:
        raise NotFound(f"Runde {round_id} hat keine Ausschreibung.")
    return call


def call_public(
    session: Session, call: tables.CallForApplications, settings: CallSettings
) -> CallPublic:
    return CallPublic(
        round_id=call.round_id,
        link=f"{settings.public_url.rstrip('/')}{PAGE}?aufruf={call.slug}",
        slug=call.slug,
        applications_until=call.applications_until,
        offers_until=call.offers_until,
        opened_at=call.opened_at,
        closed_at=call.closed_at,
        accepting=accepting(call),
        pending=calls.count_pending(
            session=session, call_id=services.row_id(call.id), now=tables.utc_now()
        ),
    )


# --- the public page --------------------------------------------------------------------------


def accepting(call: tables.CallForApplications, now: datetime | None = None) -> bool:
    """Whether the call takes applications (and edits) now."""
    return call.closed_at is None and (now or tables.utc_now()) < call.applications_until


def require_accepting(call: tables.CallForApplications) -> None:
    """409 with the reason once the call is closed or its deadline has passed."""
    if call.closed_at is not None:
        raise Conflict("Die Ausschreibung ist geschlossen; Bewerbungen sind nicht mehr möglich.")
    if not accepting(call):
        raise Conflict(
            f"Die Bewerbungsfrist ist am {berlin_time(call.applications_until)} abgelaufen; "
            "Bewerbungen und Änderungen sind nicht mehr möglich."
        )


def require_call(session: Session, slug: str) -> tables.CallForApplications:
    call = calls.call_by_slug(session=session, slug=slug)
    if call is None:
        raise NotFound("Diese Ausschreibung gibt es nicht.")
    return call


def call_view(session: Session, slug: str) -> CallView:
    """The public page: the round's name, the deadline and its offers without any contact."""
    call = require_call(session, slug)
    round_ = services.require_round(session, call.round_id)
    return CallView(
        round_name=round_.name,
        applications_until=call.applications_until,
        accepting=accepting(call),
        offers=[
            CallOffer(offer_id=row.external_id, **row.model_dump(include=_PUBLIC_OFFER_FIELDS))
            for row in crud.list_offers(session=session, round_id=call.round_id)
        ],
    )


_PUBLIC_OFFER_FIELDS = set(CallOffer.model_fields) - {"offer_id"}


def _problem(field: str, message: str) -> matcher.RecordProblem:
    return matcher.RecordProblem("application", 0, None, field, message)


def validate_application(
    session: Session, round_id: int, raw: dict[str, Any], *, record_id: str, email: str | None
) -> matcher.Applicant:
    """The application as an engine record, or 422 naming every field in German.

    The interchange format's rules, plus: the e-mail address is required and plausible, and
    wishes are at most three distinct offers of this round.
    """
    fields = {key: value for key, value in raw.items() if key not in {"id", HONEYPOT_FIELD}}
    fields |= {"id": record_id, "email": email}
    problems: list[matcher.RecordProblem] = []
    if not email or not _EMAIL.fullmatch(email):
        problems.append(_problem("email", "„E-Mail“ ist keine gültige E-Mail-Adresse."))
    offers = {row.external_id for row in crud.list_offers(session=session, round_id=round_id)}
    wishes = fields.get("wishes")
    # Non-strings are the record check's to name; only known offer ids may be wished.
    if isinstance(wishes, list) and any(isinstance(w, str) and w not in offers for w in wishes):
        problems.append(_problem("wishes", "„Wunschangebote“ nennt ein unbekanntes Angebot."))
    try:
        record = matcher.parse_records(matcher.Applicant, [fields], source="application")[0]
    except matcher.InvalidRecordsError as error:
        raise matcher.InvalidRecordsError([*error.problems, *problems]) from None
    if problems:
        raise matcher.InvalidRecordsError(problems)
    return record


def submit(
    session: Session,
    slug: str,
    raw: dict[str, Any],
    *,
    client: str,
    limits: CallLimits,
    settings: CallSettings,
) -> None:
    """Take an application: validated, kept pending, the confirmation e-mail queued.

    A filled honeypot is answered like success and stores nothing. The answer never says
    whether the address applied before (it goes to the address's owner by e-mail).
    """
    call = require_call(session, slug)
    require_accepting(call)
    round_ = services.require_round(session, call.round_id, writable=True)
    if raw.get(HONEYPOT_FIELD):
        return
    calls.delete_expired_pending(session=session, now=tables.utc_now())
    if not limits.applications_ip.hit(f"ip:{client}"):
        raise _too_many("Bewerbungen von diesem Anschluss")
    email = raw.get("email")
    email = email.strip() if isinstance(email, str) else None
    record = validate_application(session, call.round_id, raw, record_id="neu", email=email)
    assert record.email is not None
    if not limits.applications_email.hit(f"email:{record.email.lower()}"):
        raise _too_many("Bewerbungen mit dieser E-Mail-Adresse")
    token = new_token()
    now = tables.utc_now()
    calls.add_pending(
        session=session,
        pending=tables.PendingApplication(
            call_id=services.row_id(call.id),
            email=record.email,
            record=record.model_dump(mode="json", exclude={"id", "email"}),
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(hours=settings.confirm_hours),
        ),
    )
    enqueue_mail(
        session,
        kind="address_confirmation",
        to=record.email,
        language="de",
        context={
            "name": record.name or "",
            "link": personal_link(settings, token),
            "round_name": round_.name,
            "deadline": call.applications_until,
        },
        key=f"address_confirmation:{hash_token(token)}",
        round_id=call.round_id,
    )


def personal_link(settings: CallSettings, token: str) -> str:
    """The confirmation link, which is also the applicant's access (token in the fragment)."""
    return f"{settings.public_url.rstrip('/')}{PAGE}#zugang={token}"


def confirm(
    session: Session, token: str, *, settings: CallSettings, app_settings: Settings
) -> tuple[tables.Applicant, tables.Round]:
    """Turn the pending application of ``token`` into an applicant (once; again: no change).

    The applicant gets the next free public id and an account with the link's token, and an
    „application received“ e-mail is queued.
    """
    token_hash = hash_token(token)
    account = crud.find_account(session=session, token_hash=token_hash)
    if account is not None and account.applicant_id is not None:
        applicant = session.get(tables.Applicant, account.applicant_id)
        assert applicant is not None
        return applicant, services.require_round(session, applicant.round_id)
    pending = calls.pending_by_token(session=session, token_hash=token_hash)
    if pending is None or pending.expires_at <= tables.utc_now():
        raise NotFound(
            "Dieser Bestätigungslink ist unbekannt oder abgelaufen; bitte bewerben Sie sich erneut."
        )
    call = session.get(tables.CallForApplications, pending.call_id)
    assert call is not None
    round_ = services.require_round(session, call.round_id, writable=True)
    if calls.applicant_with_email(session=session, round_id=call.round_id, email=pending.email):
        raise Conflict("Mit dieser E-Mail-Adresse gibt es in dieser Runde schon eine Bewerbung.")
    applicant = _add_applicant(session, round_, pending)
    account = crud.create_account(
        session=session,
        role=tables.Role.APPLICANT,
        label=f"Online-Bewerbung {applicant.external_id}",
        token_hash=token_hash,
        applicant_id=services.row_id(applicant.id),
    )
    account.expires_at = services.token_expiry(round_, app_settings, account.created_at)
    session.add(account)
    session.delete(pending)
    services.record_change(session, applicant, "added", actor=ONLINE_ACTOR)
    enqueue_mail(
        session,
        kind="application_received",
        to=pending.email,
        language="de",
        context={
            "name": applicant.name or "",
            "link": personal_link(settings, token),
            "round_name": round_.name,
        },
        key=f"application_received:{token_hash}",
        round_id=call.round_id,
        applicant_public_id=applicant.external_id,
    )
    return applicant, round_


def next_public_id(taken: list[str]) -> str:
    """``A-001`` … : one above the highest ``A-<number>`` of the round."""
    numbers = [int(m.group(1)) for t in taken if (m := _PUBLIC_ID.fullmatch(t))]
    return f"A-{max(numbers, default=0) + 1:03d}"


def _add_applicant(
    session: Session, round_: tables.Round, pending: tables.PendingApplication
) -> tables.Applicant:
    """Add the applicant under the next free public id; a concurrent confirmation that took
    the same id first (the database's unique key says so) makes it try the next one."""
    round_id = services.row_id(round_.id)
    for _ in range(5):
        public_id = next_public_id(calls.applicant_ids(session=session, round_id=round_id))
        record = matcher.Applicant.model_validate(
            {**pending.record, "id": public_id, "email": pending.email}
        )
        try:
            with session.begin_nested():
                rows = crud.add_applicants(
                    session=session, round_id=round_id, applicants=[services.applicant_row(record)]
                )
        except IntegrityError:
            continue
        return rows[0]
    raise Conflict("Die Bewerbung konnte gerade nicht gespeichert werden; bitte erneut versuchen.")


# --- suggestions while applying ---------------------------------------------------------------


def suggestions(
    session: Session,
    scorer: matcher.TopicScorer,
    slug: str,
    raw: dict[str, Any],
    *,
    client: str,
    limits: CallLimits,
) -> list[CallSuggestion]:
    """The best feasible offers for a draft (motivation, languages, dates, weeks), in words.

    The same computation as a shortlist: the round's prepared offers and ``score_prepared``
    for the one unsaved applicant, labelled and explained like „Meine Vorschläge“.
    """
    call = require_call(session, slug)
    require_accepting(call)
    if not limits.suggestions_ip.hit(f"ip:{client}"):
        raise _too_many("Anfragen von diesem Anschluss")
    draft = {**_DRAFT_STAND_INS, **{k: v for k, v in raw.items() if k not in {"id", "wishes"}}}
    record = matcher.parse_records(matcher.Applicant, [draft], source="application")[0]
    round_ = services.require_round(session, call.round_id)
    offers = cache.round_offers(session, scorer, round_)
    confirmed = cache.confirmed_on(session, call.round_id, offers)
    scores = score_prepared(scorer, [record], offers.prepared, confirmed=confirmed)
    thresholds = load_thresholds(scorer.embedder.model_id)
    result = []
    for suggestion in matcher.rank_applicant(scores, 0, top_k=SUGGESTIONS).suggestions:
        j = scores.offer_index[suggestion.offer_id]
        offer = scores.offers[j]
        strength, explanation = shortlists.worded(thresholds, scores, 0, j)
        result.append(
            CallSuggestion(
                offer_id=offer.id,
                title=offer.title,
                organisation=offer.organisation,
                city=offer.city,
                strength=strength,
                explanation=explanation,
            )
        )
    return result


# --- „Meine Bewerbung“ ------------------------------------------------------------------------


def _own(session: Session, principal: Principal) -> tables.Applicant:
    applicant = session.get(tables.Applicant, principal.applicant_id or 0)
    if applicant is None:
        raise NotFound("Keine Bewerbung zu diesem Token.")
    return applicant


def my_application(session: Session, principal: Principal) -> MyApplication:
    """The caller's application and whether it may still be changed."""
    applicant = _own(session, principal)
    round_ = services.require_round(session, applicant.round_id)
    call = calls.call_of_round(session=session, round_id=applicant.round_id)
    return MyApplication(
        applicant_id=applicant.external_id,
        round_name=round_.name,
        call=call.slug if call else None,
        applications_until=call.applications_until if call else None,
        editable=call is not None and accepting(call),
        **applicant.model_dump(include=_MY_FIELDS),
    )


_MY_FIELDS = set(MyApplication.model_fields) - {
    "applicant_id",
    "round_name",
    "call",
    "applications_until",
    "editable",
}


def update_application(session: Session, principal: Principal, raw: dict[str, Any]) -> None:
    """Replace the caller's application (e-mail and public id stay) until the deadline."""
    applicant = _own(session, principal)
    call = calls.call_of_round(session=session, round_id=applicant.round_id)
    if call is None:
        raise Conflict(
            "Diese Bewerbung kam nicht über eine Ausschreibung; Änderungen über die Koordination."
        )
    require_accepting(call)
    services.require_round(session, applicant.round_id, writable=True)
    record = validate_application(
        session, applicant.round_id, raw, record_id=applicant.external_id, email=applicant.email
    )
    decisions.guard_edit(session, applicant.round_id, record, force=False, principal=principal)
    services.replace_record(
        session, applicant.round_id, applicant.external_id, record, actor=principal.actor
    )


def withdraw(session: Session, scorer: matcher.TopicScorer, principal: Principal) -> None:
    """Withdraw the application: the applicant and their data are deleted (GDPR erasure),
    unless a place is already confirmed (then the coordinators handle it)."""
    applicant = _own(session, principal)
    confirmed = crud.count_confirmed_of_applicant(
        session=session, applicant_id=services.row_id(applicant.id)
    )
    if confirmed:
        raise Conflict(
            "Ihr Platz ist bereits bestätigt; bitte wenden Sie sich an die Koordination."
        )
    privacy.forget_applicant(session, scorer, applicant.round_id, applicant.external_id, principal)


# --- offers online (mentors) ------------------------------------------------------------------

#: Fields of an offer that stay the coordinators': who the mentor is and what a place costs.
_COORDINATOR_OFFER_FIELDS = ("mentor_name", "mentor_email", "travel_cost", "weekly_cost")


def mentor_offers(session: Session, principal: Principal) -> list[matcher.Offer]:
    """The offers the mentor's token is bound to, with every field of the interchange format."""
    rows = [session.get(tables.Offer, offer_id) for offer_id in sorted(principal.offer_ids)]
    return [services.offer_record(row) for row in rows if row is not None]


def require_offers_open(session: Session, round_id: int) -> None:
    """409 unless the round's call lets mentors edit their offers now."""
    call = calls.call_of_round(session=session, round_id=round_id)
    if call is None or call.offers_until is None:
        raise Conflict("Für diese Runde werden Angebote nicht online erfasst.")
    if tables.utc_now() >= call.offers_until:
        raise Conflict(
            f"Die Frist für Angebote ist am {berlin_time(call.offers_until)} abgelaufen; "
            "Änderungen bitte über die Koordination."
        )


def invite_mentor(
    session: Session,
    account: tables.Account,
    token: str,
    email: str,
    *,
    round_id: int | None,
    offer_ids: list[str],
    settings: CallSettings,
) -> None:
    """E-mail a new mentor token as the link to the offer page, in English (mentors abroad);
    only while the round's call takes offers, else the issuing is refused (409)."""
    if account.role is not tables.Role.MENTOR or round_id is None:
        raise Unprocessable(
            "Eine Einladung per E-Mail gibt es nur für Mentoring-Zugänge.",
            [{"field": "email", "message": "„E-Mail“ nur für die Rolle mentor."}],
        )
    if not is_address(email):
        raise Unprocessable(
            "Die E-Mail-Adresse ist ungültig.",
            [{"field": "email", "message": "„E-Mail“ ist keine gültige E-Mail-Adresse."}],
        )
    require_offers_open(session, round_id)
    call = require_call_of_round(session, round_id)
    round_ = services.require_round(session, round_id)
    enqueue_mail(
        session,
        kind="mentor_invitation",
        to=email,
        language="en",
        context={
            "name": account.label,
            "round_name": round_.name,
            "offers": ", ".join(offer_ids),
            "deadline": call.offers_until,
            "link": f"{settings.public_url.rstrip('/')}{OFFER_PAGE}#zugang={token}",
        },
        round_id=round_id,
        offer_public_id=", ".join(offer_ids)[:500],
    )


def update_mentor_offer(
    session: Session, principal: Principal, offer_id: str, raw: dict[str, Any]
) -> matcher.Offer:
    """Replace the mentor's offer (capacity, dates, languages, texts) until the offers deadline.

    Validated like an import; mentor, contact and costs stay as the coordinators set them, and
    an edit that would break a confirmed placement is refused (409), as for coordinators.
    """
    rows = [session.get(tables.Offer, row_id) for row_id in principal.offer_ids]
    row = next((r for r in rows if r is not None and r.external_id == offer_id), None)
    if row is None:
        raise NotFound(f"Angebot {offer_id} gehört nicht zu diesem Zugang.")
    services.require_round(session, row.round_id, writable=True)
    require_offers_open(session, row.round_id)
    kept = {field: getattr(row, field) for field in _COORDINATOR_OFFER_FIELDS}
    fields = {**raw, **kept, "id": row.external_id}
    record = matcher.parse_records(matcher.Offer, [fields], source="offer")[0]
    decisions.guard_edit(session, row.round_id, record, force=False, principal=principal)
    services.replace_record(session, row.round_id, offer_id, record, actor=principal.actor)
    return record
