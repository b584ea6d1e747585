"""Progress while embedding: texts encoded out of texts to encode, per batch of the model."""

from __future__ import annotations

import threading

import numpy as np
from sentence_transformers import SentenceTransformer

from matcher import Embedder
from matcher.embedding import ENCODE_BATCH_SIZE, reporting_progress


def texts(n: int, topic: str) -> list[str]:
    """``n`` distinct sentences (so none is cached by another test)."""
    return [f"Fortschritt {topic} Nummer {i}: wie plant die Stadt Radwege?" for i in range(n)]


def test_each_batch_is_reported_and_the_vectors_stay_the_same(
    model: SentenceTransformer,
) -> None:
    wanted = texts(ENCODE_BATCH_SIZE + 44, "Batches")
    seen: list[tuple[int, int]] = []
    with reporting_progress(lambda done, total: seen.append((done, total))):
        reported = Embedder(model).embed(wanted)
    total = len(wanted)
    assert seen == [(ENCODE_BATCH_SIZE, total), (total, total)]
    np.testing.assert_array_equal(reported, Embedder(model).embed(wanted))


def test_cached_texts_count_nothing_and_totals_add_up(model: SentenceTransformer) -> None:
    embedder = Embedder(model)
    first, second = texts(3, "erste"), texts(5, "zweite")
    embedder.embed(first)
    seen: list[tuple[int, int]] = []
    with reporting_progress(lambda done, total: seen.append((done, total))):
        embedder.embed([*first, *second[:2]])
        embedder.embed(second)
    assert seen == [(2, 2), (5, 5)]


def test_another_threads_batches_are_not_counted(model: SentenceTransformer) -> None:
    """Between its two batches, the reporting thread waits for another thread's encoding on
    the same model: that one passes the same hook, and is left out."""
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 1:
            other = threading.Thread(target=Embedder(model).embed, args=(texts(4, "fremd"),))
            other.start()
            other.join()

    wanted = texts(ENCODE_BATCH_SIZE + 2, "eigen")
    with reporting_progress(report):
        Embedder(model).embed(wanted)
    assert seen == [(ENCODE_BATCH_SIZE, len(wanted)), (len(wanted), len(wanted))]
