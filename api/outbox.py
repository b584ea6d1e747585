"""E-mail notifications: render a template, queue it in the outbox, in the caller's transaction.

Every message is a row of ``outboxmessage`` first (``models.outbox``); the dispatcher
(``api.mailer``) sends it later. Because :func:`enqueue_mail` only adds a row to the caller's
session, a decision that is rolled back sends nothing, and a committed one is sent even if
the mail server is down right now.

Templates live in ``api/templates/mail/<kind>.<language>.txt`` (Jinja2, plain text): the first
line is the subject, a blank line follows, the rest is the body. Undefined variables are errors,
so a template and its caller cannot drift apart silently. The filter ``datum`` writes a date as
TT.MM.JJJJ (a datetime also with the time, in Berlin's time zone).

The ``notify_*`` functions are the events, called where the transitions happen (``api.decisions``:
:func:`notify_placement_event` in its one transition function, :func:`notify_round_closed` when
a round closes); they pick the applicant's language and skip applicants without an address.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

import jinja2
from sqlmodel import Session

from api import services
from matcher.explain import explanation_language
from models import crud, lifecycle
from models import outbox as rows
from models.lifecycle import PlacementEvent
from models.tables import Applicant, Offer, OutboxMessage, Placement, PlacementStatus, Round

logger = logging.getLogger(__name__)

Language = Literal["de", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)
TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
BERLIN = ZoneInfo("Europe/Berlin")
#: The ends of a confirmed placement the applicant hears about (``placement_ended`` says why).
ENDING_EVENTS = frozenset(
    {PlacementEvent.RELEASE, PlacementEvent.HOST_DECLINE, PlacementEvent.WITHDRAW}
)


class RenderedMail(NamedTuple):
    """A template rendered for one recipient: subject line and plain-text body."""

    subject: str
    body: str


def datum(value: date | datetime) -> str:
    """TT.MM.JJJJ; a datetime in Berlin's time zone with the time (TT.MM.JJJJ HH:MM)."""
    if isinstance(value, datetime):
        return value.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
    return value.strftime("%d.%m.%Y")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # plain text: nothing is interpreted as markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["datum"] = datum
    return environment


def render(kind: str, language: Language, context: Mapping[str, object]) -> RenderedMail:
    """Render ``<kind>.<language>.txt``; raises ``jinja2.TemplateNotFound`` for an unknown kind."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    text = _environment().get_template(f"{kind}.{language}.txt").render(context)
    subject, _, body = text.partition("\n")
    # One line, whatever a name in the context held: a line break would end the header.
    return RenderedMail(" ".join(subject.split()), body.lstrip("\n"))


def is_address(value: str | None) -> bool:
    """A plain ``local@domain`` address without spaces or line breaks."""
    if not value or any(c.isspace() for c in value):
        return False
    _, parsed = parseaddr(value)
    local, at, domain = parsed.partition("@")
    return parsed == value and bool(local and at and "." in domain)


def enqueue_mail(
    session: Session,
    *,
    kind: str,
    to: str,
    language: Language,
    context: Mapping[str, object],
    key: str | None = None,
    round_id: int | None = None,
    applicant_public_id: str | None = None,
    offer_public_id: str | None = None,
) -> bool:
    """Queue one e-mail in the caller's transaction (the caller commits); whether it was queued.

    ``key`` names the event (e.g. ``placement_confirmed:12``): a second call with the same key
    queues nothing, so an event reported twice still sends one message; None: always queued.
    ``round_id`` and the public ids say what the message is about (the list shows them; the
    round's deletion deletes the message). An address that is no address is skipped with a
    warning that names the kind only (addresses are personal data and never logged).
    """
    if not is_address(to):
        logger.warning("e-mail %s not queued: the recipient's address is not valid", kind)
        return False
    mail = render(kind, language, context)
    message = OutboxMessage(
        key=key or f"{kind}:{uuid.uuid4().hex}",
        kind=kind,
        recipient=to,
        language=language,
        subject=mail.subject,
        body=mail.body,
        round_id=round_id,
        applicant_public_id=applicant_public_id,
        offer_public_id=offer_public_id,
    )
    return rows.add_message(session=session, message=message)


# --- the events -------------------------------------------------------------------------------


def applicant_language(applicant: Applicant) -> Language:
    """The language of the applicant's own page: their choice, else German for readers at B2
    or above, else English (``matcher.explain.explanation_language``)."""
    chosen = explanation_language(
        services.applicant_record(applicant), applicant.explanation_language
    )
    return "en" if chosen == "en" else "de"


def _placement_context(session: Session, placement: Placement) -> dict[str, object]:
    """Who goes where and when: the stay lies in the overlap of both availabilities."""
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    round_ = session.get(Round, placement.round_id)
    assert applicant is not None and offer is not None and round_ is not None
    return {
        "name": applicant.name or "",
        "round_name": round_.name,
        "organisation": offer.organisation,
        "title": offer.title,
        "city": offer.city,
        "country": offer.country or "",
        "start": max(offer.available_from, applicant.available_from),
        "end": min(offer.available_until, applicant.available_until),
        "weeks": applicant.weeks_wanted,
        "mentor_name": offer.mentor_name or "",
    }


def _to_applicant(
    session: Session, placement: Placement, kind: str, context: Mapping[str, object]
) -> None:
    """Queue ``kind`` about one placement to its applicant, keyed by kind and placement."""
    applicant = session.get(Applicant, placement.applicant_id)
    offer = session.get(Offer, placement.offer_id)
    assert applicant is not None and offer is not None
    if not applicant.email:
        return
    enqueue_mail(
        session,
        kind=kind,
        to=applicant.email,
        language=applicant_language(applicant),
        context=context,
        key=f"{kind}:{placement.id}",
        round_id=placement.round_id,
        applicant_public_id=applicant.external_id,
        offer_public_id=offer.external_id,
    )


def notify_placement_event(session: Session, placement: Placement, event: PlacementEvent) -> None:
    """The one hook of the placement lifecycle: a confirmation or an end is reported to the
    applicant; other events (proposals rejected or superseded, a host's acceptance) are not."""
    if event is PlacementEvent.CONFIRM:
        notify_placement_confirmed(session, placement)
    elif event in ENDING_EVENTS:
        notify_placement_ended(session, placement)


def notify_placement_confirmed(session: Session, placement: Placement) -> None:
    """The applicant learns host, city, dates and mentor of their confirmed place."""
    _to_applicant(session, placement, "placement_confirmed", _placement_context(session, placement))


def notify_placement_ended(session: Session, placement: Placement) -> None:
    """The applicant learns that their confirmed place ended, and why (released, declined by
    the host, withdrawn); ``placement`` is in its final state already."""
    if placement.status not in lifecycle.FREED:
        raise ValueError(f"not an end of a confirmed placement: {placement.status.value}")
    context = {**_placement_context(session, placement), "ending": placement.status.value}
    _to_applicant(session, placement, "placement_ended", context)


def notify_round_closed(session: Session, round_id: int) -> None:
    """Every applicant of the round with an address learns their final state: placed (where
    and when) or not placed. Keyed by that state, so closing again after a reopening writes
    again only to those whose state changed."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    placed: dict[int | None, Placement] = {
        p.applicant_id: p
        for p in crud.list_placements(
            session=session, round_id=round_id, status=PlacementStatus.CONFIRMED
        )
    }
    for applicant in crud.list_applicants(session=session, round_id=round_id):
        if not applicant.email:
            continue
        placement = placed.get(applicant.id)
        context: dict[str, object] = {"name": applicant.name or "", "round_name": round_.name}
        state, offer_id = "unplaced", None
        if placement is not None:
            context |= _placement_context(session, placement)
            offer_id = _offer_public_id(session, placement)
            state = f"placed:{placement.id}"
        enqueue_mail(
            session,
            kind="round_closed",
            to=applicant.email,
            language=applicant_language(applicant),
            context={**context, "placed": placement is not None},
            key=f"round_closed:{round_id}:{applicant.external_id}:{state}",
            round_id=round_id,
            applicant_public_id=applicant.external_id,
            offer_public_id=offer_id,
        )


def _offer_public_id(session: Session, placement: Placement) -> str:
    offer = session.get(Offer, placement.offer_id)
    assert offer is not None
    return offer.external_id
