"""The embedder's cache, its vectors, and loading the model offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

import matcher
from matcher import Embedder, MemoryStore, ModelLoadError
from matcher.embedding import EMBEDDING_DIM

TEXTS = [
    "Ich möchte lernen, wie Wien Sperrmüll wiederverwendet.",
    "Guests learn how cycle superhighways are planned.",
    "Les invités découvrent les bibliothèques de quartier.",
]


@pytest.fixture
def model_calls(model: SentenceTransformer, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch of texts handed to the shared model's ``encode`` during one test."""
    calls: list[list[str]] = []
    encode: Callable[..., Any] = model.encode

    def spy(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(texts))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(model, "encode", spy)
    return calls


def test_same_texts_twice_cost_one_model_call(
    model: SentenceTransformer, model_calls: list[list[str]]
) -> None:
    embedder = Embedder(model)
    first = embedder.embed(TEXTS)
    assert embedder.encoded_count == len(TEXTS)
    second = embedder.embed(TEXTS)
    assert embedder.encoded_count == len(TEXTS)
    assert len(model_calls) == 1
    np.testing.assert_array_equal(first, second)


def test_changed_text_is_encoded_alone(
    model: SentenceTransformer, model_calls: list[list[str]]
) -> None:
    embedder = Embedder(model)
    before = embedder.embed(TEXTS)
    changed = [*TEXTS[:2], TEXTS[2] + " Dimanche aussi."]
    after = embedder.embed(changed)
    assert embedder.encoded_count == len(TEXTS) + 1
    assert model_calls[1:] == [[changed[2]]]
    np.testing.assert_array_equal(after[:2], before[:2])
    assert not np.allclose(after[2], before[2])


def test_repeated_text_in_one_call_is_encoded_once(model: SentenceTransformer) -> None:
    embedder = Embedder(model)
    vectors = embedder.embed([TEXTS[0], TEXTS[1], TEXTS[0]])
    assert embedder.encoded_count == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_store_is_shared_between_embedders(model: SentenceTransformer) -> None:
    store = MemoryStore()
    Embedder(model, store).embed(TEXTS)
    second = Embedder(model, store)
    second.embed(TEXTS)
    assert second.encoded_count == 0


def test_vectors_are_unit_length_rows_in_input_order(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), EMBEDDING_DIM) == (3, 512)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reversed_vectors = embedder.embed(TEXTS[::-1])
    np.testing.assert_array_equal(reversed_vectors, vectors[::-1])


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, 512)


def test_similar_meaning_is_closer_across_languages(embedder: Embedder) -> None:
    german, english, french = embedder.embed(
        [
            "Die Stadtbibliothek öffnet auch am Sonntag.",
            "The public library is also open on Sundays.",
            "Le service des eaux répare une canalisation.",
        ]
    )
    assert float(german @ english) > float(german @ french)


def test_saved_default_model_loads_with_identical_embeddings(
    model: SentenceTransformer, tmp_path: Path
) -> None:
    model.save(str(tmp_path))
    loaded = matcher.load_model(str(tmp_path))
    original = Embedder(model).embed(TEXTS)
    reloaded = Embedder(loaded, model_name=str(tmp_path)).embed(TEXTS)
    np.testing.assert_array_equal(reloaded, original)


def test_missing_model_directory_raises_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="nonexistent"):
        matcher.load_model("/nonexistent")
    assert issubclass(ModelLoadError, matcher.MatcherError)
