"""Pair scores, pinned exactly without the model: the fake two-model embedder and plain numpy.

Every number of ``matcher.scoring`` is recomputed here from its definition (sigmoid of topic
fit plus city and wish bonus, free places after confirmed placements) and the fast paths
(prepared offers, cut columns, replaced offers) are compared bit for bit with a full
``score_pairs``/``prepare_offers``: a step left out or changed moves the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from matcher import scoring
from matcher.constraints import check_feasibility
from matcher.scoring import (
    PairScores,
    PreparedOffers,
    assemble,
    city_index,
    per_city,
    preference_bonus,
    preference_rank,
    prepare_offers,
    replace_offers,
    score_pairs,
    score_prepared,
    take_columns,
    wish_bonus,
    wish_rank,
)
from matcher.topic import TopicScorer, embed_applicants, embed_documents, embed_offers
from tests.matcher.conftest import make_applicant, make_offer
from tests.matcher.fakes import FakeEmbedder

REFERENCE = [
    "Sachbearbeiterin Abfallrecht. Ich möchte Sammelsysteme kennenlernen. Und Beratung.",
    "Referent Verkehr. Radwege planen. Beteiligung der Bürger.",
    "Lehrerin. Schulbau und Ganztag. Inklusion im Alltag.",
    "Förster. Stadtwald pflegen.",
]
CITIES = ["Wien", "Graz", "Linz", "wien", "Salzburg"]
OFFERS = [
    make_offer(
        id=f"O-{j}",
        city=city,
        title=f"Angebot {j}",
        description=" ".join(f"Satz {j}.{k} über Thema {j}." for k in range(1 + j % 3)),
        capacity=1 + j % 2,
        max_weeks=1 if j == 2 else 8,
    )
    for j, city in enumerate(CITIES)
]
APPLICANTS = [
    make_applicant(
        id="A-0",
        preferred_cities=["GRAZ", "wien", "Salzburg", "Linz"],
        wishes=["O-4", "O-9", "O-1"],
    ).model_copy(update={"wishes": ["O-4", "O-9", "O-1", "O-3"]}),  # past the limit of 3
    make_applicant(id="A-1", preferred_cities=["Linz"], motivation="Radwege. Ampeln."),
    make_applicant(id="A-2", wishes=["O-2"], motivation="Schule.", weeks_wanted=3),
]
#: The bonus by hand: first preferred city +0.03, second +0.02, third +0.01, fourth nothing
#: (cities compared case-folded); wishes 1–3 +0.03/+0.02/+0.01 on their offer, unknown offers
#: and the fourth wish nothing.
BONUS = np.array(
    [
        [0.02, 0.03 + 0.01, 0.0, 0.02, 0.01 + 0.03],
        [0.0, 0.0, 0.03, 0.0, 0.0],
        [0.0, 0.0, 0.03, 0.0, 0.0],
    ]
)
CONFIRMED = {"A-7": "O-1", "A-8": "O-1", "A-9": "O-3", "A-6": "O-99"}


@pytest.fixture
def scorer() -> TopicScorer:
    return TopicScorer(FakeEmbedder(), REFERENCE)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.array([[1 / (1 + np.exp(-v / 0.1)) for v in row] for row in x])


def _assert_same(a: PairScores, b: PairScores) -> None:
    """Every per-pair array and the records equal bit for bit."""
    for name in ("score", "topic_score", "bonus"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.topic.whole, b.topic.whole)
    np.testing.assert_array_equal(a.topic.sentences, b.topic.sentences)
    for name in ("language", "weeks", "dates", "free_places", "feasible"):
        np.testing.assert_array_equal(getattr(a.feasibility, name), getattr(b.feasibility, name))
    assert list(a.offers) == list(b.offers) and list(a.applicants) == list(b.applicants)
    assert dict(a.confirmed) == dict(b.confirmed)


def _assert_same_prepared(a: PreparedOffers, b: PreparedOffers) -> None:
    assert list(a.offers) == list(b.offers)
    for name in ("whole", "sentences", "starts"):
        np.testing.assert_array_equal(getattr(a.texts, name), getattr(b.texts, name))
        assert getattr(a.texts, name).dtype == getattr(b.texts, name).dtype
    assert a.texts.sentences.flags.f_contiguous == b.texts.sentences.flags.f_contiguous
    assert a.texts.sentence_texts == b.texts.sentence_texts
    assert a.texts.languages == b.texts.languages and a.texts.views == b.texts.views
    np.testing.assert_array_equal(a.baselines.whole, b.baselines.whole)
    np.testing.assert_array_equal(a.baselines.sentences, b.baselines.sentences)
    for name in vars(a.constraints):
        np.testing.assert_array_equal(getattr(a.constraints, name), getattr(b.constraints, name))


def test_score_is_the_sigmoid_of_fit_plus_city_and_wish_bonus(scorer: TopicScorer) -> None:
    scores = score_pairs(scorer, APPLICANTS, OFFERS, confirmed=CONFIRMED)
    fake = scorer.embedder
    fit = scorer.fit(embed_applicants(fake, APPLICANTS), embed_offers(fake, OFFERS)).fit
    np.testing.assert_allclose(scores.bonus, BONUS, atol=1e-12)
    np.testing.assert_allclose(scores.score, _sigmoid(fit + BONUS), atol=1e-6)
    np.testing.assert_allclose(scores.topic_score, _sigmoid(fit), atol=1e-6)
    assert scores.score.shape == (3, 5)
    assert scores.applicant_index == {"A-0": 0, "A-1": 1, "A-2": 2}
    assert scores.offer_index == {f"O-{j}": j for j in range(5)}
    assert dict(scores.confirmed) == CONFIRMED
    # Capacities 1, 2, 1, 2, 1; two confirmed on O-1, one on O-3, one on an unknown offer.
    assert scores.feasibility.free_places.tolist() == [1, 0, 1, 1, 1]
    expected = check_feasibility(APPLICANTS, OFFERS, [0, 2, 0, 1, 0])
    for name in ("language", "weeks", "dates", "feasible"):
        np.testing.assert_array_equal(getattr(scores.feasibility, name), getattr(expected, name))
    assert not scores.feasibility.weeks[:, 2].any() and scores.feasibility.weeks[:, 1].all()
    assert scores.cities is not None and scores.cities.cities == (
        "Wien",
        "Graz",
        "Linz",
        "wien",
        "Salzburg",
    )


def test_without_wishes_the_bonus_is_the_city_bonus_alone(scorer: TopicScorer) -> None:
    applicants = [APPLICANTS[1], make_applicant(id="A-3", preferred_cities=["Wien", "Graz"])]
    scores = score_pairs(scorer, applicants, OFFERS)
    expected = np.array([[0, 0, 0.03, 0, 0], [0.03, 0.02, 0, 0.03, 0]], dtype=np.float64)
    np.testing.assert_array_equal(scores.bonus, expected)
    assert scores.feasibility.free_places.tolist() == [1, 2, 1, 2, 1]
    assert dict(scores.confirmed) == {}
    # A PairScores built without a city index computes one.
    bare = PairScores(
        applicants,
        OFFERS,
        scores.applicant_texts,
        scores.offer_texts,
        scores.topic,
        scores.feasibility,
        {},
    )
    np.testing.assert_array_equal(bare.bonus, expected)


def test_preference_and_wish_ranks() -> None:
    applicant = APPLICANTS[0]
    assert [preference_rank(applicant, c) for c in ["graz", "WIEN", "salzburg", "Linz", "Rom"]] == [
        0,
        1,
        2,
        3,
        None,
    ]
    assert [
        preference_bonus(applicant, c) for c in ["Graz", "Wien", "Salzburg", "Linz", "Rom"]
    ] == [
        0.03,
        0.02,
        0.01,
        0.0,
        0.0,
    ]
    assert [wish_rank(applicant, o) for o in ["O-4", "O-9", "O-1", "O-3", "O-0"]] == [
        0,
        1,
        2,
        3,
        None,
    ]
    index = {"O-1": 0, "O-3": 1, "O-4": 2}
    np.testing.assert_array_equal(
        wish_bonus([applicant, APPLICANTS[1]], index), [[0.01, 0.0, 0.03], [0.0, 0.0, 0.0]]
    )
    assert wish_bonus([], index).shape == (0, 3) and wish_bonus([applicant], {}).shape == (1, 0)
    assert wish_bonus([applicant], index).dtype == np.float64


def test_city_index_and_per_city() -> None:
    index = city_index(["b", "a", "b", "c", "a"])
    assert index.cities == ("b", "a", "c")
    assert index.column.tolist() == [0, 1, 0, 2, 1] and index.column.dtype == np.intp
    calls: list[tuple[str, str]] = []

    def value(applicant, city: str) -> float:
        calls.append((applicant.id, city))
        return float(len(city) + int(applicant.id[-1]))

    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2")]
    values = per_city(applicants, city_index(["xx", "y", "xx"]), value)
    np.testing.assert_array_equal(values, [[3, 2, 3], [4, 3, 4]])
    assert values.dtype == np.float64
    assert calls == [("A-1", "xx"), ("A-1", "y"), ("A-2", "xx"), ("A-2", "y")]
    assert per_city([], index, value).shape == (0, 5)
    assert per_city(applicants, city_index([]), value).shape == (2, 0)


def test_prepared_offers_score_like_score_pairs_bit_for_bit(scorer: TopicScorer) -> None:
    full = score_pairs(scorer, APPLICANTS, OFFERS, confirmed=CONFIRMED)
    prepared = prepare_offers(scorer, OFFERS)
    assert prepared.texts.sentences.flags.f_contiguous
    assert not prepared.texts.sentences.flags.c_contiguous
    assert prepared.offer_index == {f"O-{j}": j for j in range(5)}
    assert prepared.cities.cities == ("Wien", "Graz", "Linz", "wien", "Salzburg")
    _assert_same(score_prepared(scorer, APPLICANTS, prepared, confirmed=CONFIRMED), full)
    one = score_prepared(scorer, APPLICANTS[2:], prepared)
    np.testing.assert_allclose(one.score[0], full.score[2], atol=1e-7)
    assert one.feasibility.free_places.tolist() == [1, 2, 1, 2, 1]


def test_prepared_offers_hold_no_memory_beyond_their_vectors(scorer: TopicScorer) -> None:
    """No prepared array is a view into a larger one: ``whole`` cut out of the model call's
    output kept the row-major sentences alive beside their column-major copy (200 MB at
    10 000 offers, BENCHMARKS.md section 6)."""
    prepared = prepare_offers(scorer, OFFERS)
    for array in (prepared.texts.whole, prepared.texts.sentences):
        owner = array if array.base is None else array.base
        assert owner.nbytes == array.nbytes


def test_progress_is_passed_to_the_embedder(scorer: TopicScorer) -> None:
    fake = scorer.embedder
    scorer.reference  # noqa: B018 - embedded first, without progress
    fake.progress.clear()
    score_pairs(scorer, APPLICANTS[:1], OFFERS[:1], show_progress=True)
    prepared = prepare_offers(scorer, OFFERS[:1], show_progress=True)
    score_prepared(scorer, APPLICANTS[:1], prepared, show_progress=True)
    assert fake.progress == [True] * 4
    fake.progress.clear()
    score_pairs(scorer, APPLICANTS[:1], OFFERS[:1])
    prepare_offers(scorer, OFFERS[:1])
    score_prepared(scorer, APPLICANTS[:1], prepared)
    assert fake.progress == [False] * 4


@pytest.mark.parametrize("columns", [[3, 0, 4], [1], [4, 2, 0, 1, 3], []], ids=str)
def test_taken_columns_are_the_full_columns_bit_for_bit(
    scorer: TopicScorer, columns: list[int]
) -> None:
    full = score_pairs(scorer, APPLICANTS, OFFERS, confirmed=CONFIRMED)
    prepared = prepare_offers(scorer, OFFERS)
    cut = np.array(columns, dtype=np.intp)
    taken = prepared.take(cut)
    # A column's baselines keep their bits (a fresh product may differ in the last bit).
    np.testing.assert_array_equal(taken.baselines.whole, prepared.baselines.whole[:, cut])
    np.testing.assert_array_equal(taken.baselines.sentences, prepared.baselines.sentences[:, cut])
    fresh = prepare_offers(scorer, [OFFERS[j] for j in columns])
    if not columns:  # per-round fields (the languages seen) are kept, not cut to nothing
        fresh = replace(fresh, constraints=taken.constraints)
    _assert_same_prepared(taken, replace(fresh, baselines=taken.baselines))
    topic = take_columns(full.topic, cut, pairs=True)
    part = assemble(APPLICANTS, full.applicant_texts, taken, topic, CONFIRMED)
    np.testing.assert_array_equal(part.score, full.score[:, cut])
    np.testing.assert_array_equal(part.bonus, full.bonus[:, cut])
    np.testing.assert_array_equal(part.topic_score, full.topic_score[:, cut])
    np.testing.assert_array_equal(part.feasibility.feasible, full.feasibility.feasible[:, cut])
    np.testing.assert_array_equal(part.feasibility.free_places, full.feasibility.free_places[cut])
    assert taken.texts.sentence_texts == tuple(full.offer_texts.sentence_texts[j] for j in columns)
    assert taken.texts.languages == tuple(full.offer_texts.languages[j] for j in columns)
    for r, j in enumerate(columns):
        np.testing.assert_array_equal(taken.texts.sentences_of(r), prepared.texts.sentences_of(j))


def test_take_columns_cuts_per_offer_arrays_and_keeps_the_rest() -> None:
    @dataclass(frozen=True)
    class Sample:
        rows: np.ndarray
        pairs: np.ndarray
        scalar: np.ndarray
        name: str

    sample = Sample(np.arange(4), np.arange(12).reshape(3, 4), np.array(7), "x")
    cut = take_columns(sample, np.array([2, 0]))
    assert cut.rows.tolist() == [2, 0] and cut.pairs.tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert cut.scalar == 7 and cut.name == "x"
    pairs = take_columns(sample, np.array([2, 0]), pairs=True)
    assert pairs.rows.tolist() == [2, 0] and pairs.pairs.tolist() == [[2, 0], [6, 4], [10, 8]]


def test_row_major_sentences_keep_their_layout_when_taken(scorer: TopicScorer) -> None:
    texts = embed_offers(scorer.embedder, OFFERS)
    assert texts.sentences.flags.c_contiguous
    prepared = PreparedOffers(
        OFFERS, texts, scorer.baselines(texts), prepare_offers(scorer, OFFERS).constraints
    )
    taken = prepared.take(np.array([4, 1]))
    assert taken.texts.sentences.flags.c_contiguous
    np.testing.assert_array_equal(taken.texts.sentences_of(0), texts.sentences_of(4))
    np.testing.assert_array_equal(taken.texts.whole, texts.whole[[4, 1]])


def test_column_major_is_the_same_matrix() -> None:
    rows = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    for block in (2, 3, 256):
        columns = scoring._column_major(rows, block)
        np.testing.assert_array_equal(columns, rows)
        assert columns.flags.f_contiguous and columns.dtype == np.float32
    many = np.arange(600 * 2, dtype=np.float64).reshape(600, 2)
    np.testing.assert_array_equal(scoring._column_major(many), many)


@pytest.mark.parametrize(
    "changed",
    [{1: 0}, {0: 2, 4: 1}, {4: 0}, {0: 1, 2: 0, 3: 2}],
    ids=["middle", "first-and-last", "last", "three"],
)
def test_replaced_offers_are_prepared_bit_for_bit(
    scorer: TopicScorer, changed: dict[int, int]
) -> None:
    new = [
        make_offer(id="O-n0", city="Graz", description="Ganz neu. Drei Sätze. Hier."),
        make_offer(
            id="O-n1", city="Rom", language="fr", working_languages=["fr"], description="Un seul."
        ),
        make_offer(id="O-n2", description="Zwei Sätze. Noch einer.", capacity=3),
    ]
    replacements = {j: new[r] for j, r in changed.items()}
    prepared = prepare_offers(scorer, OFFERS)
    replaced = replace_offers(scorer, prepared, replacements)
    offers = [replacements.get(j, offer) for j, offer in enumerate(OFFERS)]
    _assert_same_prepared(replaced, prepare_offers(scorer, offers))
    assert [o.id for o in prepared.offers] == [f"O-{j}" for j in range(5)]  # not modified
    _assert_same(
        score_prepared(scorer, APPLICANTS, replaced), score_pairs(scorer, APPLICANTS, offers)
    )


def test_replacing_nothing_keeps_the_prepared_offers(scorer: TopicScorer) -> None:
    prepared = prepare_offers(scorer, OFFERS)
    assert replace_offers(scorer, prepared, {}) is prepared


def test_replaced_offers_without_languages_stay_without(scorer: TopicScorer) -> None:
    prepared = prepare_offers(scorer, OFFERS)
    bare = replace(prepared, texts=replace(prepared.texts, languages=()))
    replaced = replace_offers(
        scorer, bare, {2: make_offer(id="O-x", language="fr", working_languages=["fr"])}
    )
    assert replaced.texts.languages == ()
    assert (
        replaced.texts.sentence_texts[2]
        == embed_offers(
            scorer.embedder, [make_offer(id="O-x", language="fr", working_languages=["fr"])]
        ).sentence_texts[0]
    )


def test_scoring_prepared_offers_recomputes_nothing_of_the_offers(
    scorer: TopicScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of preparing: no baselines, no constraint arrays per applicant."""
    from matcher import constraints

    full = score_pairs(scorer, APPLICANTS, OFFERS, confirmed=CONFIRMED)
    prepared = prepare_offers(scorer, OFFERS)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed from the offers")

    monkeypatch.setattr(scorer, "baselines", forbidden)
    monkeypatch.setattr(constraints, "offer_constraints", forbidden)
    _assert_same(score_prepared(scorer, APPLICANTS, prepared, confirmed=CONFIRMED), full)


def test_pair_scores_keep_texts_and_records_for_explanations(scorer: TopicScorer) -> None:
    scores = score_pairs(scorer, APPLICANTS, OFFERS)
    fake = scorer.embedder
    np.testing.assert_array_equal(
        scores.applicant_texts.whole, embed_applicants(fake, APPLICANTS).whole
    )
    np.testing.assert_array_equal(scores.offer_texts.whole, embed_offers(fake, OFFERS).whole)
    assert list(scores.feasibility.offers) == OFFERS
    assert list(scores.feasibility.applicants) == APPLICANTS
    assert scores.feasibility.reasons(2, 2)  # 3 weeks wanted, 1 allowed
    prepared = score_prepared(scorer, APPLICANTS, prepare_offers(scorer, OFFERS))
    np.testing.assert_array_equal(prepared.applicant_texts.whole, scores.applicant_texts.whole)
    assert list(prepared.feasibility.offers) == OFFERS


def test_taken_texts_renumber_their_sentences() -> None:
    """Two documents with three sentences: ``starts`` has as many entries as the sentences."""
    texts = embed_documents(FakeEmbedder(), ["a b", "c"], [["a", "b"], ["c"]])
    taken = scoring._take_texts(texts, np.array([1, 0]))
    assert taken.starts.tolist() == [0, 1, 3]
    np.testing.assert_array_equal(taken.sentences, texts.sentences[[2, 0, 1]])


def test_sentences_of_any_other_layout_are_taken_row_major() -> None:
    texts = embed_documents(FakeEmbedder(), ["a b", "c"], [["a", "b"], ["c"]])
    wide = np.zeros((3, 9), dtype=np.float32)
    wide[:, :7] = texts.sentences
    strided = replace(texts, sentences=wide[:, :7])  # neither C- nor F-contiguous
    taken = scoring._take_texts(strided, np.array([0]))
    assert taken.sentences.flags.c_contiguous and not taken.sentences.flags.f_contiguous
    np.testing.assert_array_equal(taken.sentences, texts.sentences[:2])
