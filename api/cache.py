"""Per-process cache of each round's prepared offers and of every applicant's shortlist heads.

Two levels, both exact (BENCHMARKS.md, section 4, compares every answer with the full path):

* :class:`RoundOffers`: everything about the offers that does not depend on the applicants
  (records, sentence vectors, calibration baselines, constraint arrays, the re-ranker's offer
  features), built with ``matcher.scoring.prepare_offers`` once per round version.
* per applicant, :class:`matcher.toplist.ApplicantHeads`: the first :data:`DEPTH` offers of each
  of the applicant's orderings (topic only, base score, the round's re-ranker) from the full
  computation (``score_prepared`` against every offer). A background thread computes them for
  every applicant of a round once its offers are prepared (applicants whose embedded texts are
  the same share one topic fit: the same inputs, the same computation); a request that finds
  none computes them itself. A shortlist then reads the head, drops the offers without a free
  place (read per request) and explains its k pairs: no work per offer of the round.
* per applicant, the finished answers (:attr:`ApplicantEntry.answers`), keyed by everything
  they are computed from besides the entry and the record: ranker, view, length and the confirmed
  placements on the head's offers. A repeated request reads the counts and its answer.

Validity: an entry is used only while the round's ``offers_version`` (a column of ``round``,
bumped in the same transaction as every ORM change to one of its offers, read with the round on
every request) is the one it was built for, so every server process sees an offer change at its
next request, whichever process made it. Heads are keyed by a digest of the applicant's record,
so an edited application is recomputed. Writers that bypass the ORM call
:func:`invalidate_round`. Entries belong to one scorer and one engine (a test suite runs many
apps with many databases in one process); each keeps at most :data:`MAX_ROUNDS` rounds, least
recently used out first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Any, TypeGuard
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import Engine, Table, event, inspect, update
from sqlalchemy import select as select_columns
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from api import heap, learning, services
from matcher import Applicant as ApplicantRecord
from matcher import TopicScorer
from matcher.language import applicant_language
from matcher.rerank import OfferSide, offer_side
from matcher.scoring import PreparedOffers, assemble, prepare_offers, replace_offers
from matcher.text import applicant_text
from matcher.topic import EmbeddedTexts, TopicFit, embed_applicants
from matcher.toplist import ApplicantHeads, applicant_heads
from models import crud
from models.tables import Applicant, Offer, Placement, PlacementStatus, Round

logger = logging.getLogger(__name__)

#: Rounds kept per scorer and database; a 10 000-offer round holds about 140 MB of vectors.
MAX_ROUNDS = 4
#: Offers kept per ordering and applicant: answers every ``top_k`` up to it while enough of
#: them have a free place (about 2 KB per applicant and ordering).
DEPTH = 50
#: Compute every applicant's heads in a background thread when a round's offers are prepared.
WARM_IN_BACKGROUND = True
#: Finished answers kept per applicant (views and lengths asked for; oldest out first).
ANSWERS_PER_APPLICANT = 4
#: Applicants from which a finished warm-up settles the heap (``api.heap``): their entries are
#: some 15 objects each; a full collection to take them out of later ones pays off from here.
SETTLE_AFTER = 1_000

_OFFERS: Table = Offer.__table__  # type: ignore[attr-defined]  # set by SQLAlchemy
_PENDING = "api.cache.changed_rounds"  # session.info key: rounds whose offers this flush changed
_ALL_ROUNDS = -1  # a changed offer whose round is unknown


@dataclass
class RoundOffers:
    """A round's offers prepared for scoring, as of ``version``, and its applicants' heads."""

    prepared: PreparedOffers
    offer_ids: Mapping[int, str]  # offer row id → interchange id
    row_ids: np.ndarray  # (m,) offer row id of each column
    version: int
    #: offer row id → digest of its stored values, in column order (what an edit changed)
    fingerprints: dict[int, bytes]
    #: applicant row id → the applicant's heads; filled by requests and the warm-up
    heads: dict[int, ApplicantEntry] = field(default_factory=dict)
    warm: WarmProgress = field(default_factory=lambda: WarmProgress())

    def offer_id(self, session: Session, row: int) -> str:
        """The interchange id of offer row ``row`` (read from the database for an offer this
        entry does not know: added after it was built)."""
        return self.offer_ids.get(row) or services.offer_external_id(session, row)

    @cached_property
    def side(self) -> OfferSide:
        """The offers' re-ranker features (built on first use)."""
        return offer_side(self.prepared.offers, self.prepared.constraints)


@dataclass
class ApplicantEntry:
    """One applicant's heads, for the record with ``digest``, and answers computed from them."""

    digest: bytes
    heads: ApplicantHeads
    #: answer key (ranker, view, length, free places of the head's offers) → finished answer
    answers: dict[Hashable, Any] = field(default_factory=dict)

    def remember(self, key: Hashable, answer: Any) -> None:
        """Keep ``answer`` for ``key``; at most :data:`ANSWERS_PER_APPLICANT`, oldest out."""
        self.answers[key] = answer
        while len(self.answers) > ANSWERS_PER_APPLICANT:
            self.answers.pop(next(iter(self.answers)), None)


@dataclass
class WarmProgress:
    """How far the background computation of a round's heads got."""

    total: int = 0
    done: int = 0
    finished: bool = False


@dataclass
class _Shelf:
    """The entries of one scorer on one database."""

    entries: OrderedDict[int, RoundOffers] = field(default_factory=OrderedDict)
    build_lock: threading.Lock = field(default_factory=threading.Lock)


_lock = threading.Lock()  # guards the dictionaries below (held briefly, never while building)
_shelves: WeakKeyDictionary[TopicScorer, WeakKeyDictionary[Engine, _Shelf]] = WeakKeyDictionary()


def round_offers(session: Session, scorer: TopicScorer, round_: Round) -> RoundOffers:
    """The round's offers prepared for ``scorer``: cached, or built now if missing or stale."""
    engine = session.get_bind().engine
    round_id, version = services.row_id(round_.id), round_.offers_version
    shelf = _shelf(scorer, engine)
    entry = _current(shelf, round_id, version)
    if entry is not None:
        return entry
    with shelf.build_lock:  # one build per shelf at a time; waiters then find it built
        entry = _current(shelf, round_id, version)
        if entry is not None:
            return entry
        with _lock:  # a stale entry leaves the shelf first; this build only reads it
            stale = shelf.entries.pop(round_id, None)
        entry = _build(session, scorer, round_id, version, stale)
        del stale
        with _lock:
            shelf.entries[round_id] = entry
            while len(shelf.entries) > MAX_ROUNDS:
                shelf.entries.popitem(last=False)
    if WARM_IN_BACKGROUND:
        threading.Thread(
            target=_warm, args=(engine, scorer, round_id, entry), daemon=True, name="heads"
        ).start()
    return entry


def _build(
    session: Session, scorer: TopicScorer, round_id: int, version: int, stale: RoundOffers | None
) -> RoundOffers:
    """The round's offers prepared as of ``version``.

    When the round has the same offers as ``stale`` (same rows, in the same order) and only some
    of their stored values changed, only those are prepared again
    (``matcher.scoring.replace_offers``: the same result as preparing every offer); else all.
    """
    fingerprints = _fingerprints(session, round_id)
    if stale is not None and list(fingerprints) == list(stale.fingerprints):
        changed = {
            j: row_id
            for j, (row_id, digest) in enumerate(fingerprints.items())
            if stale.fingerprints[row_id] != digest
        }
        found = {j: session.get(Offer, row_id) for j, row_id in changed.items()}
        rows = {j: row for j, row in found.items() if row is not None}
        if len(rows) == len(found):  # else deleted meanwhile: prepare all
            return RoundOffers(
                prepared=replace_offers(
                    scorer, stale.prepared, {j: services.offer_record(r) for j, r in rows.items()}
                ),
                offer_ids={
                    **stale.offer_ids,
                    **{changed[j]: r.external_id for j, r in rows.items()},
                },
                row_ids=stale.row_ids,
                version=version,
                fingerprints=fingerprints,
            )
    rows_all = crud.list_offers(session=session, round_id=round_id)
    return RoundOffers(
        prepared=prepare_offers(scorer, [services.offer_record(row) for row in rows_all]),
        offer_ids={services.row_id(row.id): row.external_id for row in rows_all},
        row_ids=np.array([services.row_id(row.id) for row in rows_all], dtype=np.int64),
        version=version,
        fingerprints=fingerprints,
    )


def _fingerprints(session: Session, round_id: int) -> dict[int, bytes]:
    """Offer row id → digest of its stored values, in row order (that of ``list_offers``)."""
    statement = select_columns(_OFFERS).where(_OFFERS.c.round_id == round_id).order_by(_OFFERS.c.id)
    return {
        int(row.id): hashlib.blake2b(repr(tuple(row)).encode(), digest_size=16).digest()
        for row in session.connection().execute(statement)
    }


def heads_for(
    scorer: TopicScorer,
    entry: RoundOffers,
    applicant: Applicant,
    record: ApplicantRecord,
    rankers: Sequence[learning.Ranker],
    fits: dict[bytes, TopicFit] | None = None,
) -> ApplicantEntry:
    """The applicant's heads with an ordering for each of ``rankers``: cached, or computed now
    against every offer (``record`` is the applicant's engine record).

    ``fits`` (the warm-up's) maps the digest of embedded applicant texts to their topic fit
    against every offer: an applicant with the same texts reuses it (``score_prepared`` splits
    into the same two steps).
    """
    key, digest = services.row_id(applicant.id), _digest(record)
    found = entry.heads.get(key)
    if _answers_for(found, digest, rankers):
        return found
    texts = embed_applicants(scorer.embedder, [record])
    topic = fits.get(_texts_digest(texts)) if fits is not None else None
    if topic is None:
        topic = scorer.fit(texts, entry.prepared.texts, entry.prepared.baselines)
        if fits is not None:
            fits.clear()  # the warm-up goes through applicants sorted by text: one is enough
            fits[_texts_digest(texts)] = topic
    scores = assemble([record], texts, entry.prepared, topic, None)  # free places play no part
    ranked = {r.name: r.apply(scores, entry.side if r.model else None) for r in rankers}
    cached = ApplicantEntry(digest, applicant_heads(scores, ranked, DEPTH))
    with _lock:  # the warm-up and a request may compute the same heads: the first one stays,
        found = entry.heads.get(key)  # with the answers kept in it meanwhile
        if _answers_for(found, digest, rankers):
            return found
        entry.heads[key] = cached
    return cached


def _answers_for(
    found: ApplicantEntry | None, digest: bytes, rankers: Sequence[learning.Ranker]
) -> TypeGuard[ApplicantEntry]:
    """True when ``found`` holds the heads of the record with ``digest`` for every ranker."""
    return (
        found is not None
        and found.digest == digest
        and all(r.name in found.heads.heads for r in rankers)
    )


def confirmed_on(session: Session, round_id: int, entry: RoundOffers) -> dict[str, str]:
    """Applicant id → offer id of the round's confirmed placements."""
    statement = (
        select(Applicant.external_id, Placement.offer_id)
        .join(Applicant, col(Applicant.id) == col(Placement.applicant_id))
        .where(Placement.round_id == round_id, Placement.status == PlacementStatus.CONFIRMED)
        .order_by(col(Placement.id))
    )
    return {
        applicant_id: entry.offer_id(session, offer_row)
        for applicant_id, offer_row in session.exec(statement)
    }


def shortlist_placements(
    session: Session, round_id: int, entry: RoundOffers, applicant_row: int, offer_rows: np.ndarray
) -> tuple[dict[str, str], dict[str, PlacementStatus]]:
    """What a shortlist from heads reads of the placements, in one query: the others' confirmed
    placements on ``offer_rows`` (applicant id → offer id, as :func:`confirmed_on`) and the
    applicant's latest status per offer id."""
    rows = crud.shortlist_placements(
        session=session,
        round_id=round_id,
        applicant_id=applicant_row,
        offer_ids=[int(r) for r in offer_rows],
    )
    confirmed: dict[str, str] = {}
    own: dict[str, PlacementStatus] = {}
    for applicant_id, applicant_of, offer_row, status in rows:
        offer_id = entry.offer_id(session, offer_row)
        if applicant_of == applicant_row:
            own[offer_id] = status
        elif status is PlacementStatus.CONFIRMED:
            confirmed[applicant_id] = offer_id
    return confirmed, own


def progress(engine: Engine, scorer: TopicScorer, round_id: int) -> WarmProgress | None:
    """How far the background computation of the round's current entry got (None: no entry)."""
    entry = _shelf(scorer, engine).entries.get(round_id)
    return entry.warm if entry is not None else None


def invalidate_round(session: Session, round_id: int | None = None) -> None:
    """Mark a round's offers (every round's with ``None``) changed, for every process.

    For writers that change offers without the ORM; the caller commits.
    """
    _bump(session.connection(), None if round_id is None else {round_id})


def _warm(engine: Engine, scorer: TopicScorer, round_id: int, entry: RoundOffers) -> None:
    """Compute the heads of every applicant of the round, until the entry is replaced."""
    try:
        with Session(engine) as session:  # closed before computing: no long read transaction
            round_ = services.require_round(session, round_id)
            rankers = learning.rankers_of(session, round_)
            rows = crud.list_applicants(session=session, round_id=round_id)
        entry.warm.total = len(rows)
        records = sorted(
            ((row, services.applicant_record(row)) for row in rows),
            key=lambda pair: (applicant_text(pair[1]), applicant_language(pair[1])),
        )
        fits: dict[bytes, TopicFit] = {}
        for row, record in records:
            if _shelf(scorer, engine).entries.get(round_id) is not entry:
                return
            heads_for(scorer, entry, row, record, rankers, fits)
            entry.warm.done += 1
        entry.warm.finished = True
        if entry.warm.total >= SETTLE_AFTER:  # the round's entry lives until its offers change
            heap.settle()
    except Exception as error:  # a failed warm-up only costs speed
        # The type only: messages may quote records (no personal data in logs).
        logger.warning("Vorberechnung der Runde %s abgebrochen: %s", round_id, type(error).__name__)


def _digest(record: ApplicantRecord) -> bytes:
    return hashlib.blake2b(record.model_dump_json().encode(), digest_size=16).digest()


def _texts_digest(texts: EmbeddedTexts) -> bytes:
    """Digest of everything ``TopicScorer.fit`` reads of the applicant side."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (texts.whole, texts.sentences, texts.starts):
        digest.update(repr((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((texts.languages, texts.layout)).encode())
    return digest.digest()


def _shelf(scorer: TopicScorer, engine: Engine) -> _Shelf:
    with _lock:
        return _shelves.setdefault(scorer, WeakKeyDictionary()).setdefault(engine, _Shelf())


def _current(shelf: _Shelf, round_id: int, version: int) -> RoundOffers | None:
    """The shelf's entry for the round if it has this version."""
    with _lock:
        entry = shelf.entries.get(round_id)
        if entry is None or entry.version != version:
            return None
        shelf.entries.move_to_end(round_id)
        return entry


def _bump(connection: Any, rounds: set[int] | None) -> None:
    """Increment ``offers_version`` of ``rounds`` (all rounds with None) in this transaction."""
    statement = update(Round).values(offers_version=col(Round.offers_version) + 1)
    if rounds is not None:
        statement = statement.where(col(Round.id).in_(sorted(rounds)))
    connection.execute(statement)


@event.listens_for(OrmSession, "after_flush")
def _note_offer_changes(session: OrmSession, _flush_context: Any) -> None:
    """Bump the version of every round whose offers this flush added, changed or deleted."""
    touched = {
        inspect(row).dict.get("round_id", _ALL_ROUNDS)  # never loads an expired attribute
        for row in chain(session.new, session.dirty, session.deleted)
        if isinstance(row, Offer)
    }
    if touched:
        _bump(session.connection(), None if _ALL_ROUNDS in touched or None in touched else touched)
