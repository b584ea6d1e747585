"""The decision re-ranker: estimator conventions, storage, a planted signal, the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from matcher import PairScores
from matcher.rerank import (
    MIN_DECISIONS_PER_CLASS,
    DecisionReranker,
    enough_decisions,
    explain_rerank,
    pair_features,
    rerank_matrix,
)
from tests.matcher.conftest import build_scores, make_applicant, make_offer

CITIES = ["Wien", "Paris", "Prag", "Lissabon"]


@pytest.fixture(scope="module")
def round_scores() -> PairScores:
    """40 applicants x 8 offers in 4 cities, random topic fit, every pair feasible."""
    rng = np.random.default_rng(7)
    applicants = [make_applicant(id=f"A-{i}") for i in range(40)]
    offers = [make_offer(id=f"H-{j}", city=CITIES[j % 4], capacity=3) for j in range(8)]
    return build_scores(applicants, offers, fit=rng.normal(0.0, 0.1, (40, 8)))


def decisions_rejecting(scores: PairScores, city: str) -> tuple[list[dict[str, float]], list[int]]:
    """Coordinators confirm every pair with good topic fit, except in ``city``: always rejected."""
    rows, labels = [], []
    for i in range(len(scores.applicants)):
        for j, offer in enumerate(scores.offers):
            features = pair_features(scores, i, j)
            good = scores.topic.fit[i, j] > 0.0
            rows.append(features)
            labels.append(int(good and offer.city != city))
    return rows, labels


def test_fit_follows_estimator_conventions(round_scores: PairScores) -> None:
    rows, labels = decisions_rejecting(round_scores, "Prag")
    model = DecisionReranker(C=0.5)
    assert model.get_params() == {"C": 0.5, "max_iter": 1000}
    assert not hasattr(model, "coef_")
    with pytest.raises(NotFittedError):
        model.predict_proba(rows)
    assert model.fit(rows, labels) is model
    assert model.coef_.shape == (len(model.feature_names_),)
    probabilities = model.predict_proba(rows)
    assert probabilities.shape == (len(rows), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_planted_city_signal_is_learned_and_explained(round_scores: PairScores) -> None:
    rows, labels = decisions_rejecting(round_scores, "Prag")
    model = DecisionReranker().fit(rows, labels)
    coefficients = dict(zip(model.feature_names_, model.coef_, strict=True))
    assert coefficients["city=prag"] < 0
    assert coefficients["city=prag"] == min(
        value for name, value in coefficients.items() if name.startswith("city=")
    )
    probability = rerank_matrix(round_scores, model)
    in_prague = [j for j, o in enumerate(round_scores.offers) if o.city == "Prag"]
    elsewhere = [j for j, o in enumerate(round_scores.offers) if o.city != "Prag"]
    assert probability[:, in_prague].mean() < 0.5 * probability[:, elsewhere].mean()
    i = int(np.argmax(round_scores.topic.fit[:, in_prague[0]]))
    explanation = explain_rerank(round_scores, model, i, in_prague[0])
    assert "Stadt Prag −" in explanation
    assert "Koeffizient × Wert" in explanation


def test_model_round_trips_through_json_with_identical_scores(round_scores: PairScores) -> None:
    rows, labels = decisions_rejecting(round_scores, "Wien")
    model = DecisionReranker().fit(rows, labels)
    restored = DecisionReranker.from_json(model.to_json())
    np.testing.assert_array_equal(
        rerank_matrix(round_scores, model), rerank_matrix(round_scores, restored)
    )
    assert restored.version == model.version
    assert restored.n_decisions_ == model.n_decisions_


def test_version_changes_when_decisions_change(round_scores: PairScores) -> None:
    rows, labels = decisions_rejecting(round_scores, "Wien")
    other_rows, other_labels = decisions_rejecting(round_scores, "Paris")
    assert DecisionReranker().fit(rows, labels).version != (
        DecisionReranker().fit(other_rows, other_labels).version
    )


@pytest.mark.parametrize(
    ("confirmed", "rejected", "enough"),
    [
        (MIN_DECISIONS_PER_CLASS, MIN_DECISIONS_PER_CLASS, True),
        (MIN_DECISIONS_PER_CLASS - 1, 100, False),
        (100, MIN_DECISIONS_PER_CLASS - 1, False),
        (0, 0, False),
    ],
)
def test_threshold_needs_enough_decisions_of_each_kind(
    confirmed: int, rejected: int, enough: bool
) -> None:
    assert enough_decisions([1] * confirmed + [0] * rejected) is enough


def test_reranked_scores_drive_rank_and_assign_alike(round_scores: PairScores) -> None:
    from matcher import assign, rank
    from matcher.rerank import with_reranker

    rows, labels = decisions_rejecting(round_scores, "Prag")
    reranked = with_reranker(round_scores, DecisionReranker().fit(rows, labels))
    np.testing.assert_array_equal(reranked.topic.fit, round_scores.topic.fit)
    best = {r.applicant_id: r.suggestions[0] for r in rank(reranked, top_k=1)}
    assert all(
        round_scores.offers[round_scores.offer_index[s.offer_id]].city != "Prag"
        for s in best.values()
    )
    for placement in assign(reranked).placements:
        i = reranked.applicant_index[placement.applicant_id]
        j = reranked.offer_index[placement.offer_id]
        assert placement.score == pytest.approx(float(reranked.score[i, j]))
