"""A re-ranker learned from coordinators' decisions (confirmed = 1, rejected = 0).

Features per (applicant, offer) pair are cheap and already known to the engine: both topic
views (calibrated), lexical overlap of content-word stems, language level margin, date slack,
city preference, whether the offer is written in German, and the offer's city (one-hot, so
habits like "placements in city X keep being rejected" can be learned). The model is a
standardised L2 logistic regression: its output is a probability fitted by log-loss
(calibrated by construction), and ``coefficient x standardised value`` says which features
moved a pair. It is stored as JSON (no pickle), versioned by a hash of its parameters.

:func:`pair_features` states the features of one pair (learning and explanations use it);
:func:`feature_matrix` computes the same numbers for every pair at once with numpy and a sparse
stem matrix (no Python loop per pair; a test pins them equal), from an :class:`OfferSide` that
a caller scoring many applicants against the same offers builds once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, Self

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from matcher.constraints import (
    OfferConstraints,
    best_working_language,
    date_overlap,
    level_rank,
    offer_constraints,
    required_days,
)
from matcher.records import Applicant, Offer
from matcher.scoring import CityIndex, PairScores, city_index, per_city, preference_rank
from matcher.text import applicant_text, offer_text

#: Decisions of each kind needed before the re-ranker is used; below it the base ranking stands.
MIN_DECISIONS_PER_CLASS = 30

BASE_FEATURES: tuple[str, ...] = (
    "topic_whole",
    "topic_sentences",
    "lexical_overlap",
    "language_margin",
    "date_slack_weeks",
    "preference",
    "offer_in_german",
)
FEATURE_LABELS = {
    "topic_whole": "Themenpassung (Gesamttext)",
    "topic_sentences": "Themenpassung (Sätze)",
    "lexical_overlap": "gemeinsame Fachbegriffe",
    "language_margin": "Sprachniveau über Anforderung",
    "date_slack_weeks": "zeitlicher Spielraum",
    "preference": "Wunschstadt",
    "offer_in_german": "Angebot auf Deutsch",
}
CITY_PREFIX = "city="

_WORD = re.compile(r"[a-zäöüßàâçéèêëîïôûùüÿñæœąćęłńóśźżčďěňřšťůž]{4,}")
_STOP = frozenset(
    """aber alle also andere auch bereits beim bitte dabei damit dann darin dass dazu denen
    derzeit diese diesem diesen dieser dieses doch dort durch eine einem einen einer eines
    etwa euch gegen gerne habe haben hatte hier ihre ihrem ihren ihrer immer jetzt kann
    kaum kein keine können könnte mehr meine meinem meinen meiner mich mir mit möchte möchten
    muss müssen nach neben nicht noch nur oder ohne schon sehr sein seine seit selbst sich
    sind sollen sondern sowie über unser unsere unter viel viele vielen wenn werden wie wieder
    will wird wurde würde zwar zwischen with from that this will they their have been also
    dans pour avec sont leur plus comme voor zijn worden wordt""".split()
)


def content_stems(text: str) -> frozenset[str]:
    """Crude language-neutral stems: lower-case words of ≥ 4 letters, cut to 6 characters."""
    return frozenset(word[:6] for word in _WORD.findall(text.lower()) if word not in _STOP)


def lexical_overlap(applicant: Applicant, offer: Offer) -> float:
    """Jaccard overlap of content stems: helps where the same Fachbegriff appears on both sides."""
    a, b = content_stems(applicant_text(applicant)), content_stems(offer_text(offer))
    return len(a & b) / len(a | b) if a | b else 0.0


def pair_features(scores: PairScores, i: int, j: int) -> dict[str, float]:
    """The named features of pair (applicant i, offer j)."""
    applicant, offer = scores.applicants[i], scores.offers[j]
    spoken = best_working_language(applicant, offer)
    margin = level_rank(spoken[1]) - level_rank(offer.min_language_level) if spoken else -6
    slack = date_overlap(applicant, offer).days - required_days(applicant.weeks_wanted)
    rank = preference_rank(applicant, offer.city)
    topic = scores.topic
    return {
        "topic_whole": float(topic.whole[i, j]),
        "topic_sentences": float(topic.sentences[i, j]),
        "lexical_overlap": lexical_overlap(applicant, offer),
        "language_margin": float(margin),
        "date_slack_weeks": float(np.clip(slack / 7.0, -10.0, 20.0)),
        "preference": (3.0 - rank) / 3.0 if rank is not None and rank < 3 else 0.0,
        "offer_in_german": 1.0 if offer.language == "de" else 0.0,
        f"{CITY_PREFIX}{offer.city.casefold()}": 1.0,
    }


@dataclass(frozen=True)
class Contribution:
    """How much one feature moved a pair's log-odds (coefficient x standardised value)."""

    feature: str
    value: float

    @property
    def label(self) -> str:
        if self.feature.startswith(CITY_PREFIX):
            return f"Stadt {self.feature.removeprefix(CITY_PREFIX).title()}"
        return FEATURE_LABELS.get(self.feature, self.feature)


class DecisionReranker(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Logistic regression on standardised pair features (scikit-learn estimator conventions).

    ``fit(X, y)`` takes a list of feature dicts (see :func:`pair_features`) and labels
    (1 = confirmed, 0 = rejected); learned state ends in ``_``.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 1000) -> None:  # noqa: N803 - sklearn name
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: Sequence[dict[str, float]], y: Sequence[int]) -> Self:  # noqa: N803
        labels = np.asarray(y, dtype=np.int64)
        cities = sorted({k for row in X for k in row if k.startswith(CITY_PREFIX)})
        self.feature_names_ = [*BASE_FEATURES, *cities]
        matrix = self._matrix(X)
        self.mean_ = matrix.mean(axis=0)
        self.scale_ = matrix.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        model.fit((matrix - self.mean_) / self.scale_, labels)
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.classes_ = np.array([0, 1])
        self.n_decisions_ = {"confirmed": int(labels.sum()), "rejected": int((1 - labels).sum())}
        return self

    def _matrix(self, X: Sequence[dict[str, float]]) -> np.ndarray:  # noqa: N803
        names = self.feature_names_
        return np.array([[row.get(name, 0.0) for name in names] for row in X], dtype=np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("DecisionReranker is not fitted yet; call fit first.")

    def decision_function(self, X: Sequence[dict[str, float]]) -> np.ndarray:  # noqa: N803
        """Log-odds of confirmation per row."""
        self._check_fitted()
        return self.log_odds(self._matrix(X))

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds per row of a (rows, features) matrix in ``feature_names_`` order."""
        self._check_fitted()
        standardised = (matrix - self.mean_) / self.scale_
        return np.asarray(standardised @ self.coef_ + self.intercept_, dtype=np.float64)

    def predict_proba(self, X: Sequence[dict[str, float]]) -> np.ndarray:  # noqa: N803
        positive = _sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Sequence[dict[str, float]]) -> np.ndarray:  # noqa: N803
        return (self.decision_function(X) > 0).astype(np.int64)

    def contributions(self, features: dict[str, float], top: int = 3) -> list[Contribution]:
        """The features that moved this pair most, largest absolute effect first."""
        self._check_fitted()
        standardised = (self._matrix([features])[0] - self.mean_) / self.scale_
        effects = standardised * self.coef_
        order = np.argsort(-np.abs(effects), kind="stable")[:top]
        return [Contribution(self.feature_names_[k], float(effects[k])) for k in order]

    @property
    def version(self) -> str:
        """A short hash of the learned parameters: equal versions score identically."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def to_json(self) -> str:
        self._check_fitted()
        return json.dumps(
            {
                "params": self.get_params(),
                "feature_names": self.feature_names_,
                "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(),
                "intercept": self.intercept_,
                "n_decisions": self.n_decisions_,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> DecisionReranker:
        data: dict[str, Any] = json.loads(text)
        model = cls(**data["params"])
        model.feature_names_ = list(data["feature_names"])
        model.mean_ = np.array(data["mean"], dtype=np.float64)
        model.scale_ = np.array(data["scale"], dtype=np.float64)
        model.coef_ = np.array(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.classes_ = np.array([0, 1])
        model.n_decisions_ = dict(data["n_decisions"])
        return model


def enough_decisions(labels: Sequence[int], minimum: int = MIN_DECISIONS_PER_CLASS) -> bool:
    """True when there are at least ``minimum`` confirmations and as many rejections."""
    positives = int(np.sum(labels))
    return positives >= minimum and len(labels) - positives >= minimum


def _sigmoid(log_odds: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-log_odds)), dtype=np.float64)


@dataclass(frozen=True)
class OfferSide:
    """The offers' half of every feature, entry j for offer j; depends on the offers alone."""

    stems: sparse.csr_matrix  # (m, vocabulary) 1 where offer j's text has the stem
    stem_counts: np.ndarray  # (m,) distinct content stems per offer
    vocabulary: dict[str, int]  # stem → column of ``stems``
    in_german: np.ndarray  # (m,) 1.0 for offers written in German
    cities: tuple[str, ...]  # casefolded city of each offer
    constraints: OfferConstraints

    @cached_property
    def city_index(self) -> CityIndex:
        return city_index(self.cities)

    @cached_property
    def stems_by_stem(self) -> sparse.csr_matrix:
        """(vocabulary, m) ``stems`` transposed, in the row layout a product wants (built once)."""
        return sparse.csr_matrix(self.stems.T)

    def in_city(self, city: str) -> np.ndarray:
        """(m,) 1.0 for the offers in ``city`` (casefolded), else 0.0."""
        index = self.city_index
        found = index.cities.index(city) if city in index.cities else -1
        return np.asarray(index.column == found, dtype=np.float64)


def offer_side(offers: Sequence[Offer], constraints: OfferConstraints | None = None) -> OfferSide:
    """Stems, language and city of every offer (one pass over their texts)."""
    vocabulary: dict[str, int] = {}
    per_offer = [
        [vocabulary.setdefault(stem, len(vocabulary)) for stem in content_stems(offer_text(o))]
        for o in offers
    ]
    counts = np.array([len(columns) for columns in per_offer], dtype=np.int64)
    stems = sparse.csr_matrix(
        (
            np.ones(int(counts.sum()), dtype=np.int64),
            np.array([c for columns in per_offer for c in columns], dtype=np.int64),
            np.concatenate([[0], np.cumsum(counts)]),
        ),
        shape=(len(offers), len(vocabulary)),
    )
    return OfferSide(
        stems=stems,
        stem_counts=counts,
        vocabulary=vocabulary,
        in_german=np.array([1.0 if o.language == "de" else 0.0 for o in offers]),
        cities=tuple(o.city.casefold() for o in offers),
        constraints=constraints if constraints is not None else offer_constraints(offers),
    )


def feature_matrix(
    scores: PairScores, names: Sequence[str], side: OfferSide | None = None
) -> np.ndarray:
    """(n * m, len(names)) features of every pair, row i * m + j for (applicant i, offer j).

    The numbers of :func:`pair_features` (a name it does not give is 0), computed per column
    with numpy: ``side`` is ``offer_side(scores.offers)``, built here when not given.
    """
    side = side if side is not None else offer_side(scores.offers)
    n, m = len(scores.applicants), len(scores.offers)
    topic = scores.topic
    columns: dict[str, Callable[[], np.ndarray]] = {
        "topic_whole": lambda: topic.whole,
        "topic_sentences": lambda: topic.sentences,
        "lexical_overlap": lambda: _lexical_overlap(scores.applicants, side),
        "language_margin": lambda: _language_margin(scores.applicants, side.constraints),
        "date_slack_weeks": lambda: _date_slack_weeks(scores.applicants, side.constraints),
        "preference": lambda: per_city(scores.applicants, side.city_index, _preference),
        "offer_in_german": lambda: np.broadcast_to(side.in_german, (n, m)),
    }
    matrix = np.zeros((n, m, len(names)), dtype=np.float64)
    for k, name in enumerate(names):
        if name in columns:
            matrix[:, :, k] = columns[name]()
        elif name.startswith(CITY_PREFIX):
            matrix[:, :, k] = side.in_city(name.removeprefix(CITY_PREFIX))
    return matrix.reshape(n * m, len(names))


def _lexical_overlap(applicants: Sequence[Applicant], side: OfferSide) -> np.ndarray:
    """(n, m) Jaccard overlap of content stems, as :func:`lexical_overlap` per pair."""
    stem_sets = [content_stems(applicant_text(a)) for a in applicants]
    known = [[side.vocabulary[s] for s in stems if s in side.vocabulary] for stems in stem_sets]
    rows = sparse.csr_matrix(
        (
            np.ones(sum(map(len, known)), dtype=np.int64),
            np.array([c for columns in known for c in columns], dtype=np.int64),
            np.concatenate([[0], np.cumsum([len(columns) for columns in known])]),
        ),
        shape=(len(applicants), len(side.vocabulary)),
    )
    shared = np.asarray((rows @ side.stems_by_stem).toarray(), dtype=np.int64)
    sizes = np.array([len(stems) for stems in stem_sets], dtype=np.int64)
    union = sizes[:, None] + side.stem_counts[None, :] - shared
    overlap = np.zeros(shared.shape, dtype=np.float64)
    np.divide(shared, union, out=overlap, where=union > 0)
    return overlap


def _language_margin(applicants: Sequence[Applicant], side: OfferConstraints) -> np.ndarray:
    """(n, m) best spoken working-language level minus the required one; -6 if none is spoken."""
    best = np.zeros((len(applicants), len(side.needed)), dtype=np.int64)
    for k, code in enumerate(side.codes):
        spoken = np.array(
            [level_rank(a.languages[code]) if code in a.languages else 0 for a in applicants],
            dtype=np.int64,
        )
        best = np.maximum(best, spoken[:, None] * side.offered[None, :, k])
    return np.where(best > 0, best - side.needed[None, :].astype(np.int64), -6).astype(np.float64)


def _date_slack_weeks(applicants: Sequence[Applicant], side: OfferConstraints) -> np.ndarray:
    """(n, m) shared days minus the days needed, in weeks, clipped to [-10, 20]."""
    a_from = np.array([a.available_from.toordinal() for a in applicants], dtype=np.int64)
    a_until = np.array([a.available_until.toordinal() for a in applicants], dtype=np.int64)
    needed = np.array([required_days(a.weeks_wanted) for a in applicants], dtype=np.int64)
    days = (
        np.minimum(a_until[:, None], side.available_until[None, :])
        - np.maximum(a_from[:, None], side.available_from[None, :])
        + 1
    )
    return np.asarray(np.clip((days - needed[:, None]) / 7.0, -10.0, 20.0), dtype=np.float64)


def _preference(applicant: Applicant, city: str) -> float:
    rank = preference_rank(applicant, city)
    return (3.0 - rank) / 3.0 if rank is not None and rank < 3 else 0.0


#: Feature-matrix cells per block when re-ranking a whole round (bounds memory, ~64 MB).
_BLOCK_CELLS = 8_000_000


def rerank_matrix(
    scores: PairScores, model: DecisionReranker, side: OfferSide | None = None
) -> np.ndarray:
    """(n, m) probability of confirmation for every pair, from the fitted model.

    Applicants are scored in blocks so the feature matrix stays small for whole rounds.
    """
    n, m = len(scores.applicants), len(scores.offers)
    side = side if side is not None else offer_side(scores.offers)
    result = np.zeros((n, m), dtype=np.float64)
    block = max(1, _BLOCK_CELLS // max(1, m * len(model.feature_names_)))
    for first in range(0, n, block):
        rows = range(first, min(n, first + block))
        matrix = feature_matrix(_applicants(scores, rows), model.feature_names_, side)
        result[rows.start : rows.stop] = _sigmoid(model.log_odds(matrix)).reshape(-1, m)
    return result


def _applicants(scores: PairScores, rows: range) -> PairScores:
    """``scores`` cut to the applicants ``rows`` (topic views and applicants; all: itself)."""
    if rows.start == 0 and rows.stop == len(scores.applicants):
        return scores
    cut = slice(rows.start, rows.stop)
    topic = scores.topic
    views = {
        f.name: value[cut]
        for f in fields(topic)
        if isinstance(value := getattr(topic, f.name), np.ndarray) and value.ndim == 2
    }
    return replace(scores, applicants=scores.applicants[cut], topic=replace(topic, **views))


@dataclass(frozen=True)
class RerankedScores(PairScores):
    """Pair scores whose ``score`` is the re-ranker's probability of confirmation.

    ``rank``, ``explain`` and ``assign`` read it like any :class:`PairScores`, so a re-ranked
    round still reports one score per pair everywhere; ``topic_only`` rankings stay on topic fit.
    """

    model: DecisionReranker
    offer_side: OfferSide | None = None  # ``offer_side(offers)`` when the caller has it

    @cached_property
    def score(self) -> np.ndarray:
        return rerank_matrix(self, self.model, self.offer_side)


def with_reranker(
    scores: PairScores, model: DecisionReranker, side: OfferSide | None = None
) -> RerankedScores:
    """The same pairs, scored by ``model`` (``side``: the offers' features, if built already)."""
    return RerankedScores(
        **{f.name: getattr(scores, f.name) for f in fields(scores)}, model=model, offer_side=side
    )


def explain_rerank(scores: PairScores, model: DecisionReranker, i: int, j: int) -> str:
    """German sentence naming the features that moved a re-ranked pair (coefficient x value)."""
    parts = [
        f"{c.label} {'+' if c.value >= 0 else '−'}{abs(c.value):.2f}"
        for c in model.contributions(pair_features(scores, i, j))
    ]
    return (
        f"Neu gewichtet aus {model.n_decisions_['confirmed']} Bestätigungen und "
        f"{model.n_decisions_['rejected']} Ablehnungen (Modell {model.version}); größte "
        f"Einflüsse (Koeffizient × Wert, Log-Odds): {', '.join(parts)}."
    )
