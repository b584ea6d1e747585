"""Applications in other languages: detection, the second model, the ensemble, explanations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

import matcher
from matcher import Applicant, Embedder, Ensemble, MemoryStore, TopicScorer
from matcher.embedding import DEFAULT_MODEL, E5_DIM, E5_MODEL, EMBEDDING_DIM, View
from matcher.evaluation import evaluate
from matcher.explain import explain, explanation_language
from matcher.language import applicant_language, detect_language
from matcher.topic import EmbeddedTexts, _trusted
from tests.matcher.conftest import applicant_dict, build_scores, sample_offers

INCOMING = Path(__file__).resolve().parents[2] / "fixtures" / "incoming"
TEXTS = ["Haluan oppia pysäköinnin hallintaa.", "Parkraumbewirtschaftung im Bezirk Mitte."]


@pytest.fixture(scope="module")
def e5() -> SentenceTransformer:
    return matcher.load_model(E5_MODEL)


def incoming_applicants() -> list[dict[str, object]]:
    records: list[dict[str, object]] = json.loads((INCOMING / "applicants.json").read_text("utf-8"))
    return records


def test_detection_finds_the_language_of_every_labelled_sample_application() -> None:
    labelled = [a for a in incoming_applicants() if "language" in a]
    assert len({a["language"] for a in labelled}) >= 7
    assert all(detect_language(str(a["motivation"])) == a["language"] for a in labelled)


def test_a_given_language_wins_over_detection_and_blank_text_has_none() -> None:
    record = next(a for a in incoming_applicants() if a.get("language") == "fi")
    applicant = Applicant.model_validate({**record, "language": "sv"})
    assert applicant_language(applicant) == "sv"
    assert applicant_language(applicant.model_copy(update={"language": None})) == "fi"
    assert detect_language("… 42 !") is None


def test_language_field_is_validated_as_an_iso_code() -> None:
    record = {**incoming_applicants()[0], "language": "french"}
    with pytest.raises(matcher.InvalidRecordsError, match="language"):
        matcher.parse_records(Applicant, [record])


def test_e5_module_reads_queries_and_passages_differently_and_caches_each(
    e5: SentenceTransformer,
) -> None:
    embedder = Embedder(e5, model_name=E5_MODEL)
    query = embedder.embed(TEXTS, prompt_name="query")
    passage = embedder.embed(TEXTS, prompt_name="document")
    assert query.shape == (2, E5_DIM)
    np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(query, passage)
    embedder.embed(TEXTS, prompt_name="query")
    assert embedder.encoded_count == 4
    assert embedder.model_id.startswith(f"{E5_MODEL}@")


def test_saved_e5_model_loads_with_identical_embeddings(
    e5: SentenceTransformer, tmp_path: Path
) -> None:
    e5.save(str(tmp_path))
    loaded = matcher.load_model(str(tmp_path))
    original = Embedder(e5).embed(TEXTS, prompt_name="query")
    np.testing.assert_array_equal(Embedder(loaded).embed(TEXTS, prompt_name="query"), original)


def test_ensemble_rows_are_the_members_side_by_side_each_cached_per_model(
    model: SentenceTransformer, e5: SentenceTransformer
) -> None:
    store = MemoryStore()
    first = Embedder(model, store)
    alone = first.embed(TEXTS, prompt_name="query")
    ensemble = Ensemble([first, Embedder(e5, store, model_name=E5_MODEL)])
    vectors = ensemble.embed(TEXTS, prompt_name="query")
    assert vectors.shape == (2, EMBEDDING_DIM + E5_DIM) == (2, ensemble.dimension)
    np.testing.assert_array_equal(vectors[:, :EMBEDDING_DIM], alone)
    assert ensemble.encoded_count == 2 + 2  # the first model's vectors came from the cache
    again = Ensemble([Embedder(model, store), Embedder(e5, store, model_name=E5_MODEL)])
    again.embed(TEXTS, prompt_name="query")
    assert again.encoded_count == 0
    assert [view.columns for view in ensemble.views] == [
        slice(0, EMBEDDING_DIM),
        slice(EMBEDDING_DIM, EMBEDDING_DIM + E5_DIM),
    ]
    assert len(set(ensemble.keys_for(TEXTS, prompt_name="query"))) == 4


def texts_in(languages: list[str | None], views: tuple[View, ...]) -> EmbeddedTexts:
    n = len(languages)
    return EmbeddedTexts(
        whole=np.zeros((n, 2), dtype=np.float32),
        sentences=np.zeros((n, 2), dtype=np.float32),
        starts=np.arange(n + 1),
        sentence_texts=tuple(("x",) for _ in range(n)),
        views=views,
        languages=tuple(languages),
    )


def test_a_model_is_left_out_of_pairs_in_a_language_it_was_not_trained_on() -> None:
    use = View(DEFAULT_MODEL, slice(0, 1), frozenset({"de", "fr"}))
    e5 = View(E5_MODEL, slice(1, 2), None)
    applicants = texts_in(["fi", "de", None], (use, e5))
    offers = texts_in(["de", "hu"], (use, e5))
    weights = _trusted((use, e5), applicants, offers)
    np.testing.assert_array_equal(weights[0], [[0.0, 0.0], [0.5, 0.0], [0.5, 0.0]])
    np.testing.assert_array_equal(weights.sum(axis=0), np.ones((3, 2)))
    only_use = _trusted((use,), applicants, offers)
    np.testing.assert_array_equal(only_use, np.ones((1, 3, 2)))  # no model reads it: all do


def test_one_model_calibration_keeps_its_scale_and_typical_application_near_zero(
    scorer: TopicScorer,
) -> None:
    (calibration,) = scorer._calibration
    assert calibration.scale == 1.0
    reference = scorer.reference
    fit = scorer.fit(reference, reference).fit
    off_diagonal = fit[~np.eye(len(fit), dtype=bool)]
    # ~0: the baselines include each text's similarity to itself (1/80 of them), hence -0.02.
    assert abs(float(off_diagonal.mean())) < 0.03


def test_english_explanation_keeps_quotes_in_the_original_language() -> None:
    offers = sample_offers()
    applicant = Applicant.model_validate(applicant_dict(languages={"fr": "C2", "en": "B2"}))
    scores = build_scores([applicant], offers, np.zeros((1, len(offers))))
    explanation = explain(scores, 0, 0)
    english = explanation.render("en")
    assert english.startswith("Topic: “")
    assert explanation.applicant_sentence in english and explanation.offer_sentence in english
    assert "Working language:" in english and "Arbeitssprache" not in english
    assert explanation.text == explanation.render("de") and "Thema: „" in explanation.text


@pytest.mark.parametrize(
    ("languages", "chosen", "expected"),
    [
        ({"fi": "C2", "de": "A2"}, None, "en"),
        ({"cs": "C2", "de": "B2"}, None, "de"),
        ({"de": "C2"}, "en", "en"),
        ({"fr": "C2"}, "de", "de"),
        ({"fr": "C2"}, "xx", "en"),
    ],
)
def test_explanation_language_is_the_choice_else_german_from_b2(
    languages: dict[str, str], chosen: str | None, expected: str
) -> None:
    applicant = Applicant.model_validate(applicant_dict(languages=languages))
    assert explanation_language(applicant, chosen) == expected


def test_evaluation_groups_by_applicant_language_too() -> None:
    fit = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    gold = {"a": {"x": 3}, "b": {"y": 3}, "c": {"y": 3}}
    report = evaluate(fit, ["a", "b", "c"], ["x", "y"], ["de", "de"], gold, ["fi", "fi", None])
    assert report.groups["Bewerbung fi"].applicants == 2
    assert report.groups["Bewerbung fi"].recall_at_5 == 1.0
    assert report.groups["Bewerbung ?"].mrr == 0.5
    assert list(report.groups)[-2:] == ["Bewerbung ?", "Bewerbung fi"]
