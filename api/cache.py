"""In-process cache of each round's prepared offers: records, embeddings, baselines, constraints.

A shortlist scores one applicant against every offer of the round. Everything about the offers
(their records, sentence vectors, calibration baselines against the reference corpus and
constraint arrays) depends on the offers alone, so it is built once per round with
``matcher.scoring.prepare_offers`` and reused until the offers change; without it every request
rebuilt all of it (seconds per shortlist at 10 000 offers; BENCHMARKS.md, section 4).

An entry is used only while its version equals the database's, read on every use:

* the round's offer count and largest offer row id (one indexed query): catches offers added or
  deleted by any process, e.g. ``matcher import`` beside a running server;
* a generation per round, bumped after every commit whose flush added, changed or deleted an
  ``Offer`` row of that round (SQLAlchemy session events, registered when this module is
  imported): catches in-place edits (``PUT …/offers/{id}``) made through the ORM here.

Writers that bypass the ORM (bulk SQL on the offer table, another process editing an offer in
place) call :func:`invalidate_round`. Entries belong to one scorer and one engine (a test suite
runs many apps with many databases in one process); each keeps at most :data:`MAX_ROUNDS` rounds,
least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, func, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from api import services
from matcher import TopicScorer
from matcher.scoring import PreparedOffers, prepare_offers
from models import crud
from models.tables import Offer

#: Rounds kept per scorer and database; a 10 000-offer round holds about 140 MB of vectors.
MAX_ROUNDS = 4

#: (engine generation, round generation, offer count, largest offer row id)
Version = tuple[int, int, int, int]

_ALL_ROUNDS = -1  # generation key bumped when a change's round is unknown
_PENDING = "api.cache.changed_rounds"  # session.info key: rounds flushed, not yet committed


@dataclass(frozen=True)
class RoundOffers:
    """A round's offers prepared for scoring, as of ``version``."""

    prepared: PreparedOffers
    offer_ids: Mapping[int, str]  # offer row id → interchange id
    version: Version


@dataclass
class _Shelf:
    """The entries of one scorer on one database."""

    entries: OrderedDict[int, RoundOffers] = field(default_factory=OrderedDict)
    build_lock: threading.Lock = field(default_factory=threading.Lock)


_lock = threading.Lock()  # guards the dictionaries below (held briefly, never while building)
_shelves: WeakKeyDictionary[TopicScorer, WeakKeyDictionary[Engine, _Shelf]] = WeakKeyDictionary()
_generations: WeakKeyDictionary[Engine, dict[int, int]] = WeakKeyDictionary()


def round_offers(session: Session, scorer: TopicScorer, round_id: int) -> RoundOffers:
    """The round's offers prepared for ``scorer``: cached, or built now if missing or stale."""
    engine = session.get_bind().engine
    version = _version(session, engine, round_id)
    with _lock:
        shelf = _shelves.setdefault(scorer, WeakKeyDictionary()).setdefault(engine, _Shelf())
        entry = _current(shelf, round_id, version)
    if entry is not None:
        return entry
    with shelf.build_lock:  # one build per shelf at a time; waiters then find it built
        with _lock:
            entry = _current(shelf, round_id, version)
        if entry is not None:
            return entry
        rows = crud.list_offers(session=session, round_id=round_id)
        offers = [services.offer_record(row) for row in rows]
        entry = RoundOffers(
            prepared=prepare_offers(scorer, offers),
            offer_ids={services.row_id(row.id): row.external_id for row in rows},
            version=version,
        )
        with _lock:
            shelf.entries[round_id] = entry
            while len(shelf.entries) > MAX_ROUNDS:
                shelf.entries.popitem(last=False)
    return entry


def invalidate_round(engine: Engine, round_id: int | None = None) -> None:
    """Forget a round's cached offers (every round's with ``None``) on this database."""
    with _lock:
        generations = _generations.setdefault(engine, {})
        key = _ALL_ROUNDS if round_id is None else round_id
        generations[key] = generations.get(key, 0) + 1
        for by_engine in _shelves.values():
            shelf = by_engine.get(engine)
            if shelf is None:
                continue
            if round_id is None:
                shelf.entries.clear()
            else:
                shelf.entries.pop(round_id, None)


def _current(shelf: _Shelf, round_id: int, version: Version) -> RoundOffers | None:
    """The shelf's entry for the round if it has this version (caller holds ``_lock``)."""
    entry = shelf.entries.get(round_id)
    if entry is None or entry.version != version:
        return None
    shelf.entries.move_to_end(round_id)
    return entry


def _version(session: Session, engine: Engine, round_id: int) -> Version:
    # Generations are read before the rows: a commit racing this request bumps them after,
    # so an entry built from rows older than that commit is never used again.
    with _lock:
        generations = _generations.get(engine, {})
        engine_generation = generations.get(_ALL_ROUNDS, 0)
        round_generation = generations.get(round_id, 0)
    statement = select(func.count(col(Offer.id)), func.max(Offer.id)).where(
        Offer.round_id == round_id
    )
    count, largest = session.exec(statement).one()
    return engine_generation, round_generation, int(count), int(largest or 0)


@event.listens_for(OrmSession, "after_flush")
def _note_offer_changes(session: OrmSession, _flush_context: Any) -> None:
    """Remember which rounds' offers this flush touched, until the transaction commits."""
    touched = [
        inspect(row).dict.get("round_id", _ALL_ROUNDS)  # never loads an expired attribute
        for row in chain(session.new, session.dirty, session.deleted)
        if isinstance(row, Offer)
    ]
    if touched:
        session.info.setdefault(_PENDING, set()).update(touched)


@event.listens_for(OrmSession, "after_commit")
def _invalidate_committed(session: OrmSession) -> None:
    """Invalidate the rounds whose offers the committed transaction changed."""
    rounds: set[int] | None = session.info.pop(_PENDING, None)
    if not rounds:
        return
    engine = session.get_bind().engine
    for round_id in rounds:
        invalidate_round(engine, None if round_id in (_ALL_ROUNDS, None) else round_id)
