"""Shortlists with the real model, explanations, and the city-preference guarantee."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matcher import (
    Embedder,
    PairScores,
    TopicScorer,
    rank,
    rank_applicant,
    rank_candidates,
    score_pairs,
)
from matcher.constraints import LANGUAGE_NAMES, best_working_language, date_overlap
from matcher.scoring import MAX_PREFERENCE_BONUS, PREFERENCE_BONUS, preference_bonus, to_score
from matcher.text import applicant_sentences, offer_sentences
from tests.matcher.conftest import (
    build_scores,
    make_applicant,
    make_offer,
    sample_applicants,
    sample_offers,
)

# --- the sample round, real model --------------------------------------------------------------


def test_rank_returns_only_feasible_offers_best_first(sample_scores: PairScores) -> None:
    rankings = rank(sample_scores)
    assert [r.applicant_id for r in rankings] == [a.id for a in sample_scores.applicants]
    for i, ranking in enumerate(rankings):
        feasible = np.flatnonzero(sample_scores.feasibility.feasible[i]).tolist()
        expected = sorted(feasible, key=lambda j: -sample_scores.score[i, j])[:5]
        assert [s.offer_id for s in ranking.suggestions] == [
            sample_scores.offers[j].id for j in expected
        ]
        for suggestion in ranking.suggestions:
            j = sample_scores.offer_index[suggestion.offer_id]
            assert suggestion.feasible and suggestion.reasons == ()
            assert suggestion.score == float(sample_scores.score[i, j])
            assert suggestion.topic_fit == float(sample_scores.topic.fit[i, j])
            assert suggestion.preference_bonus == float(sample_scores.bonus[i, j])


def test_sample_has_both_feasible_and_infeasible_pairs(sample_scores: PairScores) -> None:
    feasible = sample_scores.feasibility.feasible
    assert feasible.any() and not feasible.all()
    # A-CIVIL has 10 days for 2 weeks: no offer at all.
    assert rank(sample_scores)[5].suggestions == ()


@pytest.mark.parametrize("top_k", [0, 1, 3])
def test_rank_honours_top_k(sample_scores: PairScores, top_k: int) -> None:
    ranking = rank_applicant(sample_scores, 0, top_k=top_k)
    assert len(ranking.suggestions) == top_k
    assert [s.offer_id for s in ranking.suggestions] == [
        s.offer_id for s in rank_applicant(sample_scores, 0, top_k=10).suggestions
    ][:top_k]


def test_topic_only_ranks_every_offer_by_topic_fit(sample_scores: PairScores) -> None:
    m = len(sample_scores.offers)
    for i, ranking in enumerate(rank(sample_scores, top_k=m, topic_only=True)):
        assert sorted(s.offer_id for s in ranking.suggestions) == sorted(
            o.id for o in sample_scores.offers
        )
        fits = [s.topic_fit for s in ranking.suggestions]
        assert fits == sorted(fits, reverse=True)
        for suggestion in ranking.suggestions:
            j = sample_scores.offer_index[suggestion.offer_id]
            assert suggestion.feasible is bool(sample_scores.feasibility.feasible[i, j])
            assert suggestion.reasons == tuple(sample_scores.feasibility.reasons(i, j))
            assert bool(suggestion.reasons) is not suggestion.feasible
            assert suggestion.preference_bonus == 0.0
            assert suggestion.score == float(sample_scores.topic_score[i, j])


def test_infeasible_suggestions_carry_german_reasons(sample_scores: PairScores) -> None:
    civil = rank(sample_scores, top_k=6, topic_only=True)[5]
    assert all(not s.feasible for s in civil.suggestions)
    assert all(any(r.startswith("Zeitraum:") for r in s.reasons) for s in civil.suggestions)
    library = next(s for s in civil.suggestions if s.offer_id == "O-LIBRARY")
    assert any(r.startswith("Sprache: Französisch mindestens auf B2") for r in library.reasons)


def test_every_suggestion_explains_itself_in_german(sample_scores: PairScores) -> None:
    m = len(sample_scores.offers)
    for i, ranking in enumerate(rank(sample_scores, top_k=m, topic_only=True)):
        applicant = sample_scores.applicants[i]
        for suggestion in ranking.suggestions:
            offer = sample_scores.offers[sample_scores.offer_index[suggestion.offer_id]]
            explanation = suggestion.explanation
            text = explanation.text
            assert explanation.applicant_sentence in applicant_sentences(applicant)
            assert explanation.offer_sentence in offer_sentences(offer)
            assert f"„{explanation.applicant_sentence}“" in text
            assert f"„{explanation.offer_sentence}“" in text
            spoken = best_working_language(applicant, offer)
            if spoken is None:
                assert "Arbeitssprache: keine gemeinsame" in text
            else:
                assert f"Arbeitssprache: {LANGUAGE_NAMES[spoken[0]]} {spoken[1]}" in text
            assert f"(gefordert {offer.min_language_level})" in text
            overlap = (
                min(applicant.available_until, offer.available_until)
                - max(applicant.available_from, offer.available_from)
            ).days + 1
            if overlap > 0:
                assert (
                    f"Zeitraum: {overlap} gemeinsame Tage für {applicant.weeks_wanted} Wochen"
                    in text
                )
            else:
                assert "Zeitraum: keine Überschneidung." in text
            assert ("Wunschstadt" in text) is (offer.city in applicant.preferred_cities)


def test_explanation_quotes_the_best_matching_sentence_pair(
    sample_scores: PairScores, embedder: Embedder
) -> None:
    applicant, offer = sample_scores.applicants[0], sample_scores.offers[0]
    explanation = rank_applicant(sample_scores, 0, top_k=1).suggestions[0].explanation
    a_sentences, o_sentences = applicant_sentences(applicant), offer_sentences(offer)
    similarity = embedder.embed(a_sentences) @ embedder.embed(o_sentences).T
    best_a, best_o = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    assert explanation.applicant_sentence == a_sentences[best_a]
    assert explanation.offer_sentence == o_sentences[best_o]
    assert explanation.sentence_similarity == pytest.approx(float(similarity.max()), abs=1e-5)
    assert explanation.overlap_days == date_overlap(applicant, offer).days


def test_preferred_city_is_named_with_its_rank(sample_scores: PairScores) -> None:
    ranking = rank_applicant(sample_scores, 0, top_k=6)  # A-WASTE prefers Wien
    waste = next(s for s in ranking.suggestions if s.offer_id == "O-WASTE")
    assert "Wunschstadt: Wien (1. Wahl)." in waste.explanation.text
    assert waste.preference_bonus == PREFERENCE_BONUS[0]


@pytest.mark.parametrize("waste_language", ["de", "en", "fr"])
def test_each_applicant_finds_its_own_topic_first(scorer: TopicScorer, waste_language: str) -> None:
    offers = sample_offers(waste_language)
    scores = score_pairs(scorer, sample_applicants(), offers)
    tops = [r.suggestions[0].offer_id for r in rank(scores, top_k=len(offers), topic_only=True)]
    # A-WASTE → O-WASTE, A-CYCLE → O-CYCLE, …: topic fit ignores language and constraints.
    assert tops == [f"O-{a.id.removeprefix('A-')}" for a in scores.applicants]


def test_rank_candidates_lists_feasible_applicants_best_first(sample_scores: PairScores) -> None:
    j = sample_scores.offer_index["O-HOUSING"]
    candidates = rank_candidates(sample_scores, j, top_k=10).candidates
    feasible = np.flatnonzero(sample_scores.feasibility.feasible[:, j]).tolist()
    assert sorted(c[0] for c in candidates) == sorted(
        sample_scores.applicants[i].id for i in feasible
    )
    assert candidates[0][0] == "A-HOUSING"
    assert [c[1] for c in candidates] == sorted((c[1] for c in candidates), reverse=True)


# --- city preferences, without the model --------------------------------------------------------

CITIES = ["Wien", "Paris", "Prag", "Rom"]


def test_preference_bonus_follows_the_preference_order() -> None:
    applicant = make_applicant(preferred_cities=["Paris", "wien", "Prag", "Rom"])
    assert [preference_bonus(applicant, c) for c in ["PARIS", "Wien", "Prag", "Rom", "Oslo"]] == [
        0.03,
        0.02,
        0.01,
        0.0,
        0.0,
    ]
    assert max(PREFERENCE_BONUS) == MAX_PREFERENCE_BONUS


def test_to_score_is_a_monotone_map_into_the_unit_interval() -> None:
    fits = np.linspace(-2, 2, 401)
    scores = to_score(fits)
    assert np.all((scores > 0) & (scores < 1))
    assert np.all(np.diff(scores) > 0)
    assert to_score(np.array([0.0]))[0] == 0.5


@st.composite
def preference_rounds(draw: st.DrawFn) -> PairScores:
    n, m = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    applicants = [
        make_applicant(
            id=f"A-{i}",
            preferred_cities=draw(st.lists(st.sampled_from(CITIES), max_size=3, unique=True)),
        )
        for i in range(n)
    ]
    offers = [
        make_offer(id=f"O-{j}", city=draw(st.sampled_from(CITIES)), capacity=1) for j in range(m)
    ]
    fit = draw(
        arrays(
            np.float64,
            (n, m),
            elements=st.floats(-2, 2, allow_subnormal=False).map(lambda x: round(x, 3)),
        )
        | arrays(np.float64, (n, m), elements=st.floats(-2, 2, allow_subnormal=False))
    )
    return build_scores(applicants, offers, fit)


@settings(max_examples=200, deadline=None)
@given(preference_rounds())
def test_topic_gap_above_max_bonus_beats_any_preference(scores: PairScores) -> None:
    fit, score = scores.topic.fit, scores.score
    for i in range(len(scores.applicants)):
        order = [
            s.offer_id for s in rank_applicant(scores, i, top_k=len(scores.offers)).suggestions
        ]
        for a in range(len(scores.offers)):
            for b in range(len(scores.offers)):
                if fit[i, a] - fit[i, b] > MAX_PREFERENCE_BONUS + 1e-6:
                    assert score[i, a] > score[i, b]
                    assert order.index(f"O-{a}") < order.index(f"O-{b}")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(CITIES), min_size=1, max_size=3, unique=True),
    st.floats(-2, 2, allow_subnormal=False),
    st.booleans(),
)
def test_preferred_city_wins_a_tie(preferred: list[str], fit: float, preferred_first: bool) -> None:
    other = next(city for city in CITIES if city not in preferred)
    applicant = make_applicant(preferred_cities=preferred)
    cities = [preferred[-1], other] if preferred_first else [other, preferred[-1]]
    offers = [make_offer(id="O-0", city=cities[0]), make_offer(id="O-1", city=cities[1])]
    scores = build_scores([applicant], offers, np.array([[fit, fit]]))
    winner = "O-0" if preferred_first else "O-1"
    assert (
        scores.score[0, scores.offer_index[winner]]
        > scores.score[0, 1 - scores.offer_index[winner]]
    )
    assert rank_applicant(scores, 0).suggestions[0].offer_id == winner


def test_earlier_preference_wins_a_tie_against_a_later_one() -> None:
    applicant = make_applicant(preferred_cities=["Prag", "Paris", "Wien"])
    offers = [make_offer(id=f"O-{city}", city=city) for city in ["Rom", "Wien", "Paris", "Prag"]]
    scores = build_scores([applicant], offers, np.full((1, 4), 0.1))
    assert [s.offer_id for s in rank_applicant(scores, 0, top_k=4).suggestions] == [
        "O-Prag",
        "O-Paris",
        "O-Wien",
        "O-Rom",
    ]
