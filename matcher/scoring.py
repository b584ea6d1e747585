"""The score of every (applicant, offer) pair: topic fit, city preference, feasibility.

``rank``, ``explain`` and ``assign`` all read one :class:`PairScores`, so the score a
placement gets in an assignment is, by construction, the score the ranking shows for that pair.

Score = sigmoid((fit + preference bonus) / SCORE_TEMPERATURE), in (0, 1): 0.5 is the fit of a
typical application, ideal pairs of the development set have a median of about 0.88.

City preferences are a soft bonus on the fit (cosine units): +0.03 for the first preferred
city, +0.02 for the second, +0.01 for the third. Wishes (offers the applicant ranked while
applying online) add the same amounts to their own offer: +0.03 for wish 1, +0.02 for wish 2,
+0.01 for wish 3. Both weigh like a city preference on purpose: a wish is the applicant's own
choice among offers the topic fit already found good, so it decides between near-equals and
never lifts a poor fit. Both bonuses reorder near-ties only: an offer whose topic fit is more
than ``MAX_PREFERENCE_BONUS + MAX_WISH_BONUS`` (0.06) better always ranks above. Without wishes
the scores are those from before wishes existed, bit for bit.

A caller that scores many applicants, one at a time, against the same offers (a shortlist per
request) calls :func:`prepare_offers` once and :func:`score_prepared` per applicant: the same
numbers as :func:`score_pairs` without re-embedding and re-calibrating every offer each time.
:func:`take_offers` cuts a few offers' columns out of prepared offers and pair scores: every
per-pair quantity (topic fit, bonus, feasibility, explanation) is elementwise, so a column keeps
its bits when cut out (``matcher.toplist`` builds exact shortlists on it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TypeVar

import numpy as np

from matcher.constraints import (
    Feasibility,
    OfferConstraints,
    check_feasibility,
    offer_constraints,
)
from matcher.records import Applicant, Offer, ids_of
from matcher.topic import (
    Baselines,
    EmbeddedTexts,
    TopicFit,
    TopicScorer,
    embed_applicants,
    embed_offers,
)

T = TypeVar("T")

PREFERENCE_BONUS: tuple[float, ...] = (0.03, 0.02, 0.01)
#: Largest city bonus: a topic-fit gap above this is never overturned by city preferences.
MAX_PREFERENCE_BONUS = max(PREFERENCE_BONUS)
#: Bonus of wish 1, 2, 3 on the wished offer (cosine units, like the city bonus).
WISH_BONUS: tuple[float, ...] = (0.03, 0.02, 0.01)
MAX_WISH_BONUS = max(WISH_BONUS)
SCORE_TEMPERATURE = 0.1


def preference_rank(applicant: Applicant, city: str) -> int | None:
    """0 for the first preferred city, 1 for the second, …; None if not preferred."""
    wanted = [preferred.casefold() for preferred in applicant.preferred_cities]
    folded = city.casefold()
    return wanted.index(folded) if folded in wanted else None


def preference_bonus(applicant: Applicant, city: str) -> float:
    """Soft bonus for an offer in one of the applicant's preferred cities."""
    rank = preference_rank(applicant, city)
    return PREFERENCE_BONUS[rank] if rank is not None and rank < len(PREFERENCE_BONUS) else 0.0


def wish_rank(applicant: Applicant, offer_id: str) -> int | None:
    """0 if the offer is the applicant's first wish, 1 for the second, …; None if not wished."""
    return applicant.wishes.index(offer_id) if offer_id in applicant.wishes else None


def wish_bonus(applicants: Sequence[Applicant], offer_index: Mapping[str, int]) -> np.ndarray:
    """(n, m) bonus of each applicant's wished offers; wishes of offers not listed count nothing."""
    bonus = np.zeros((len(applicants), len(offer_index)), dtype=np.float64)
    for i, applicant in enumerate(applicants):
        for rank, offer_id in enumerate(applicant.wishes[: len(WISH_BONUS)]):
            if offer_id in offer_index:
                bonus[i, offer_index[offer_id]] = WISH_BONUS[rank]
    return bonus


@dataclass(frozen=True)
class CityIndex:
    """Which distinct city each offer is in: ``cities[column[j]]`` is offer j's city."""

    cities: tuple[str, ...]
    column: np.ndarray  # (m,) intp


def city_index(cities: Sequence[str]) -> CityIndex:
    """The distinct cities of the offers, in first-seen order, and each offer's one."""
    seen: dict[str, int] = {}
    column = np.array([seen.setdefault(c, len(seen)) for c in cities], dtype=np.intp)
    return CityIndex(tuple(seen), column)


def per_city(
    applicants: Sequence[Applicant], index: CityIndex, value: Callable[[Applicant, str], float]
) -> np.ndarray:
    """(n, m) ``value(applicant i, city of offer j)``, computed once per distinct city.

    Offers share few cities: one value per (applicant, city), spread to the offers' columns.
    """
    values = np.array(
        [[value(a, city) for city in index.cities] for a in applicants], dtype=np.float64
    ).reshape(len(applicants), len(index.cities))
    return values[:, index.column]


def to_score(fit_with_bonus: np.ndarray) -> np.ndarray:
    """Map calibrated fit (cosine units) to the (0, 1) score coordinators see."""
    return 1.0 / (1.0 + np.exp(-fit_with_bonus / SCORE_TEMPERATURE))


@dataclass(frozen=True)
class PairScores:
    """All that is known of n applicants x m offers: row i is applicants[i], column j offers[j]."""

    applicants: Sequence[Applicant]
    offers: Sequence[Offer]
    applicant_texts: EmbeddedTexts
    offer_texts: EmbeddedTexts
    topic: TopicFit
    feasibility: Feasibility
    confirmed: Mapping[str, str]
    #: ``city_index`` of the offers' cities when the caller has it (prepared offers do).
    cities: CityIndex | None = field(default=None, kw_only=True)

    @cached_property
    def bonus(self) -> np.ndarray:
        """(n, m) preference bonus: preferred cities plus wished offers."""
        cities = self.cities or city_index([o.city for o in self.offers])
        city_bonus = per_city(self.applicants, cities, preference_bonus)
        if not any(applicant.wishes for applicant in self.applicants):
            return city_bonus  # no wishes: the same array (and bits) as before wishes existed
        combined: np.ndarray = city_bonus + wish_bonus(self.applicants, self.offer_index)
        return combined

    @cached_property
    def score(self) -> np.ndarray:
        """(n, m) final score in (0, 1): topic fit plus preference bonus."""
        return to_score(self.topic.fit + self.bonus)

    @cached_property
    def topic_score(self) -> np.ndarray:
        """(n, m) score of the topic fit alone, on the same (0, 1) scale."""
        return to_score(self.topic.fit)

    @cached_property
    def applicant_index(self) -> dict[str, int]:
        return {applicant_id: i for i, applicant_id in enumerate(ids_of(self.applicants))}

    @cached_property
    def offer_index(self) -> dict[str, int]:
        return {offer_id: j for j, offer_id in enumerate(ids_of(self.offers))}


@dataclass(frozen=True)
class PreparedOffers:
    """Everything about a list of offers that does not depend on the applicants.

    Scoring one applicant against m offers costs little once this exists; building it costs the
    offers' embeddings, their calibration baselines (reference corpus x offers) and their
    constraint arrays. :func:`prepare_offers` builds it, :func:`score_prepared` reuses it.
    """

    offers: Sequence[Offer]
    texts: EmbeddedTexts
    baselines: Baselines
    constraints: OfferConstraints

    @cached_property
    def offer_index(self) -> dict[str, int]:
        """Offer id → column."""
        return {offer_id: j for j, offer_id in enumerate(ids_of(self.offers))}

    @cached_property
    def cities(self) -> CityIndex:
        """The offers' cities (``PairScores.bonus`` spreads one bonus per city with it)."""
        return city_index([o.city for o in self.offers])

    def take(self, columns: np.ndarray) -> PreparedOffers:
        """The offers ``columns`` (in that order), as ``prepare_offers`` would prepare them."""
        return PreparedOffers(
            offers=[self.offers[int(j)] for j in columns],
            texts=_take_texts(self.texts, columns),
            # Baselines are (models, m): offers along the second axis, like pair arrays.
            baselines=take_columns(self.baselines, columns, pairs=True),
            constraints=take_columns(self.constraints, columns),
        )


def prepare_offers(
    scorer: TopicScorer, offers: Sequence[Offer], *, show_progress: bool = False
) -> PreparedOffers:
    """Embed (cached) the offers and compute their baselines and constraint arrays."""
    texts = embed_offers(scorer.embedder, offers, show_progress=show_progress)
    # Sentence vectors column-major: ``x @ sentences.T`` then hands BLAS a plain (dim, s)
    # matrix instead of a transposed one, about 1.6x faster for one applicant against 10 000
    # offers, same products bit for bit (BENCHMARKS.md, section 4, checks it on real vectors).
    # ``whole`` is copied out of the one array the model call returned: as a view it would keep
    # that array, row-major sentences included, alive beside the column-major copy (200 MB at
    # 10 000 offers).
    texts = replace(texts, whole=texts.whole.copy(), sentences=_column_major(texts.sentences))
    return PreparedOffers(
        offers=offers,
        texts=texts,
        baselines=scorer.baselines(texts),
        constraints=offer_constraints(offers),
    )


def replace_offers(
    scorer: TopicScorer, prepared: PreparedOffers, changed: Mapping[int, Offer]
) -> PreparedOffers:
    """``prepare_offers`` of the offers with ``changed[j]`` in column j, the others kept.

    Only the changed offers are embedded; the others' vectors are copied from ``prepared`` into
    the same layout ``prepare_offers`` builds. Baselines and constraint arrays are computed for
    all offers as ``prepare_offers`` does (a baseline computed for one column alone may differ
    in the last bit from the same column of the whole product), so the result is the same, bit
    for bit, as preparing the new offers from scratch.
    """
    if not changed:
        return prepared
    columns = sorted(changed)
    offers = list(prepared.offers)
    for j in columns:
        offers[j] = changed[j]
    fresh = embed_offers(scorer.embedder, [changed[j] for j in columns])
    texts = _replace_documents(prepared.texts, columns, fresh)
    return PreparedOffers(
        offers=offers,
        texts=texts,
        baselines=scorer.baselines(texts),
        constraints=offer_constraints(offers),
    )


def _replace_documents(
    texts: EmbeddedTexts, columns: Sequence[int], fresh: EmbeddedTexts
) -> EmbeddedTexts:
    """``texts`` with document ``columns[r]`` replaced by document r of ``fresh``; sentences
    column-major, like ``prepare_offers`` stores them."""
    counts = np.diff(texts.starts)
    for r, j in enumerate(columns):
        counts[j] = fresh.starts[r + 1] - fresh.starts[r]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sentences = np.empty((texts.sentences.shape[1], int(starts[-1])), texts.sentences.dtype).T
    kept = 0  # first column not yet copied
    for r, j in enumerate([*columns, len(texts)]):
        sentences[starts[kept] : starts[j]] = texts.sentences[texts.starts[kept] : texts.starts[j]]
        if j < len(texts):
            sentences[starts[j] : starts[j + 1]] = fresh.sentences_of(r)
        kept = j + 1
    whole = texts.whole.copy()
    sentence_texts = list(texts.sentence_texts)
    languages = list(texts.languages)
    for r, j in enumerate(columns):
        whole[j] = fresh.whole[r]
        sentence_texts[j] = fresh.sentence_texts[r]
        if languages:
            languages[j] = fresh.languages[r]
    return replace(
        texts,
        whole=whole,
        sentences=sentences,
        starts=starts,
        sentence_texts=tuple(sentence_texts),
        languages=tuple(languages),
    )


def _column_major(rows: np.ndarray, block: int = 256) -> np.ndarray:
    """The same matrix stored column-major, transposed in blocks of rows.

    Two to three times faster than ``np.asfortranarray`` on large matrices, whose single pass
    writes across the whole output for every row.
    """
    columns = np.empty(rows.shape[::-1], dtype=rows.dtype)
    for start in range(0, rows.shape[0], block):
        columns[:, start : start + block] = rows[start : start + block].T
    return columns.T


def take_columns(value: T, columns: np.ndarray, *, pairs: bool = False) -> T:
    """A dataclass of per-offer arrays cut to the offers ``columns`` (in that order).

    Arrays are cut along their first axis (``(m,)``, ``(m, …)``); with ``pairs`` 2-d arrays are
    ``(n, m)`` pair arrays, cut along the second. Other fields stay as they are. Generic over the
    fields, so a view added to ``TopicFit`` or ``Baselines`` is cut as well.
    """
    cut = {}
    for f in fields(value):  # type: ignore[arg-type]
        array = getattr(value, f.name)
        if isinstance(array, np.ndarray) and array.ndim >= 1:
            cut[f.name] = array[:, columns] if pairs and array.ndim == 2 else array[columns]
    return replace(value, **cut)  # type: ignore[type-var]


def _column_major_layout(array: np.ndarray) -> bool:
    return bool(array.ndim == 2 and array.flags.f_contiguous and not array.flags.c_contiguous)


def _take_texts(texts: EmbeddedTexts, columns: np.ndarray) -> EmbeddedTexts:
    """Documents ``columns`` of ``texts``: per-document entries and their sentences' rows."""
    counts = np.diff(texts.starts)[columns]
    rows = np.concatenate(
        [np.arange(texts.starts[j], texts.starts[j + 1]) for j in columns] or [np.zeros(0)]
    ).astype(np.intp)
    cut: dict[str, object] = {"starts": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}
    for f in fields(texts):
        value = getattr(texts, f.name)
        if f.name == "starts":
            continue
        if isinstance(value, np.ndarray) and value.shape[0] == len(texts):
            cut[f.name] = value[columns]
        elif isinstance(value, np.ndarray) and value.shape[0] == texts.starts[-1]:
            # Keep the layout (prepare_offers stores sentences column-major): same BLAS path.
            cut[f.name] = (
                np.asfortranarray(value[rows]) if _column_major_layout(value) else value[rows]
            )
        elif isinstance(value, tuple) and len(value) == len(texts):
            cut[f.name] = tuple(value[int(j)] for j in columns)
    return replace(texts, **cut)  # type: ignore[arg-type]


def score_pairs(
    scorer: TopicScorer,
    applicants: Sequence[Applicant],
    offers: Sequence[Offer],
    *,
    confirmed: Mapping[str, str] | None = None,
    show_progress: bool = False,
) -> PairScores:
    """Embed (cached), score and check every pair.

    ``confirmed`` maps applicant id → offer id of placements already confirmed; they use up
    places of their offers.
    """
    applicant_texts = embed_applicants(scorer.embedder, applicants, show_progress=show_progress)
    prepared = prepare_offers(scorer, offers, show_progress=show_progress)
    return _score(scorer, applicants, applicant_texts, prepared, confirmed)


def score_prepared(
    scorer: TopicScorer,
    applicants: Sequence[Applicant],
    prepared: PreparedOffers,
    *,
    confirmed: Mapping[str, str] | None = None,
    show_progress: bool = False,
) -> PairScores:
    """:func:`score_pairs` against offers prepared earlier: the same numbers, bit for bit.

    ``prepared`` must come from ``prepare_offers(scorer, offers)`` for the offers as they are
    now; keeping it current is the caller's job.
    """
    applicant_texts = embed_applicants(scorer.embedder, applicants, show_progress=show_progress)
    return _score(scorer, applicants, applicant_texts, prepared, confirmed)


def _score(
    scorer: TopicScorer,
    applicants: Sequence[Applicant],
    applicant_texts: EmbeddedTexts,
    prepared: PreparedOffers,
    confirmed: Mapping[str, str] | None,
) -> PairScores:
    topic = scorer.fit(applicant_texts, prepared.texts, prepared.baselines)
    return assemble(applicants, applicant_texts, prepared, topic, confirmed)


def assemble(
    applicants: Sequence[Applicant],
    applicant_texts: EmbeddedTexts,
    prepared: PreparedOffers,
    topic: TopicFit,
    confirmed: Mapping[str, str] | None,
) -> PairScores:
    """Pair scores from a topic fit computed earlier for these applicants and offers.

    With ``prepared.take(columns)`` and ``take_columns(topic, columns, pairs=True)`` it gives the
    columns of the full pair scores bit for bit: everything after the topic fit is elementwise.
    """
    confirmed = dict(confirmed or {})
    per_offer = [0] * len(prepared.offers)
    for offer_id in confirmed.values():
        if offer_id in prepared.offer_index:
            per_offer[prepared.offer_index[offer_id]] += 1
    return PairScores(
        applicants=applicants,
        offers=prepared.offers,
        applicant_texts=applicant_texts,
        offer_texts=prepared.texts,
        topic=topic,
        feasibility=check_feasibility(
            applicants, prepared.offers, per_offer, prepared=prepared.constraints
        ),
        confirmed=confirmed,
        cities=prepared.cities,
    )
