"""The re-ranker's vectorised features equal the per-pair ones, on the real sample round."""

from __future__ import annotations

import numpy as np

from matcher import PairScores
from matcher.rerank import (
    BASE_FEATURES,
    CITY_PREFIX,
    DecisionReranker,
    feature_matrix,
    offer_side,
    pair_features,
    rerank_matrix,
)
from tests.matcher.conftest import build_scores, make_applicant, make_offer


def _names(scores: PairScores) -> list[str]:
    cities = sorted({f"{CITY_PREFIX}{o.city.casefold()}" for o in scores.offers})
    return [*BASE_FEATURES, *cities, f"{CITY_PREFIX}nirgendwo"]


def _per_pair(scores: PairScores, names: list[str]) -> np.ndarray:
    """The reference: one dict per pair from ``pair_features``, in ``names`` order."""
    return np.array(
        [
            [pair_features(scores, i, j).get(name, 0.0) for name in names]
            for i in range(len(scores.applicants))
            for j in range(len(scores.offers))
        ]
    )


def test_feature_matrix_equals_pair_features_bit_for_bit(sample_scores: PairScores) -> None:
    names = _names(sample_scores)
    vectorised = feature_matrix(sample_scores, names)
    assert vectorised.shape == (
        len(sample_scores.applicants) * len(sample_scores.offers),
        len(names),
    )
    np.testing.assert_array_equal(vectorised, _per_pair(sample_scores, names))
    # Every feature varies somewhere, so the comparison covers each computation.
    assert all(np.ptp(vectorised[:, k]) > 0 for k in range(len(BASE_FEATURES)))


def test_edge_cases_equal_pair_features() -> None:
    """No shared language, no date overlap, empty stems, preferences beyond the third city."""
    applicants = [
        make_applicant(id="A-1", languages={"sv": "C1"}, preferred_cities=["X", "Y", "Z", "Lyon"]),
        make_applicant(
            id="A-2",
            motivation="ab cd",
            position="x",
            home_organisation="y",
            available_until="2027-03-03",
        ),
        make_applicant(id="A-3", preferred_cities=["lyon"]),
    ]
    offers = [
        make_offer(id="H-1", city="Lyon", language="fr", working_languages=["fr", "de"]),
        make_offer(
            id="H-2",
            city="Wien",
            available_from="2027-09-01",
            available_until="2027-12-01",
            min_language_level="C2",
        ),
        make_offer(id="H-3", city="Lyon", description="xx yy", title="zz", tags=[]),
    ]
    scores = build_scores(applicants, offers, fit=np.zeros((3, 3)))
    names = _names(scores)
    np.testing.assert_array_equal(feature_matrix(scores, names), _per_pair(scores, names))


def test_rerank_matrix_equals_the_per_pair_model(sample_scores: PairScores) -> None:
    """Probabilities from the matrix path equal ``predict_proba`` on per-pair dicts."""
    rng = np.random.default_rng(3)
    rows = [
        pair_features(sample_scores, i, j)
        for i in range(len(sample_scores.applicants))
        for j in range(len(sample_scores.offers))
    ]
    model = DecisionReranker().fit(rows, rng.integers(0, 2, len(rows)))
    expected = model.predict_proba(rows)[:, 1].reshape(sample_scores.score.shape)
    side = offer_side(sample_scores.offers)
    np.testing.assert_array_equal(rerank_matrix(sample_scores, model, side), expected)
