"""Topic fit, pinned exactly without the model: a fake two-model embedder and plain numpy.

Issue 19 re-planted "topic fit without the per-offer calibration, or without one of its two
views": the dev-set floors did not notice. Here every step of ``matcher.topic`` (both views,
offer and applicant calibration, the per-model scale, the language gating of the ensemble) is
recomputed with a few independent loops over the fake embedder's vectors and compared to
:meth:`TopicScorer.fit`; a step left out or changed moves the numbers.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest

from matcher import topic
from matcher.embedding import View
from matcher.text import reference_sentences
from matcher.topic import (
    WHOLE_TEXT_WEIGHT,
    EmbeddedTexts,
    TopicScorer,
    embed_applicants,
    embed_documents,
    embed_offers,
    load_reference_corpus,
    sentence_match,
)
from tests.matcher.conftest import make_applicant, make_offer
from tests.matcher.fakes import VIEWS, FakeEmbedder

REFERENCE = [
    "Sachbearbeiterin Abfallrecht. Ich möchte Sammelsysteme kennenlernen. Und Beratung.",
    "Referent Verkehr. Radwege planen. Beteiligung der Bürger.",
    "Lehrerin. Schulbau und Ganztag. Inklusion im Alltag.",
    "Förster. Stadtwald pflegen.",
]
APPLICANTS = (
    ["Abfall und Wiederverwendung. Reparatur.", "Radverkehr. Ampeln. Parken.", "Schule.", "X."],
    [
        ["Abfall und Wiederverwendung.", "Reparatur."],
        ["Radverkehr.", "Ampeln.", "Parken."],
        ["Schule."],
        ["X."],
    ],
    ["de", "fi", "hu", None],
)
OFFERS = (
    ["Re-Use Kaufhaus. Mistplätze.", "Vélo en ville. Pistes.", "Koulut. Opettajat."],
    [["Re-Use Kaufhaus.", "Mistplätze."], ["Vélo en ville.", "Pistes."], ["Koulut.", "Opettajat."]],
    ["de", "fr", "fi"],
)


def _match(fake: FakeEmbedder, a: list[list[str]], b: list[list[str]], pa: str, pb: str, c: slice):
    """Mean over a's sentences of the best b sentence, by loops."""
    out = np.zeros((len(a), len(b)))
    for i, mine in enumerate(a):
        for j, theirs in enumerate(b):
            out[i, j] = np.mean(
                [
                    max(float(fake.vector(s, pa)[c] @ fake.vector(t, pb)[c]) for t in theirs)
                    for s in mine
                ]
            )
    return out


def _expected(fake: FakeEmbedder) -> tuple[np.ndarray, np.ndarray]:
    """The module doc's recipe, computed independently: (whole, sentences) per pair."""
    ref_sentences = [reference_sentences(t) for t in REFERENCE]
    (a_whole, a_sent, a_lang), (o_whole, o_sent, o_lang) = APPLICANTS, OFFERS
    views = fake.views

    def reads(view: View, language: str | None) -> bool:
        return view.languages is None or language is None or language in view.languages

    def vec(texts: list[str], prompt: str, c: slice) -> np.ndarray:
        return np.array([fake.vector(t, prompt)[c] for t in texts], dtype=np.float64)

    spreads, parts = [], []
    for view in views:
        c = view.columns
        rw, aw, ow = (
            vec(REFERENCE, "query", c),
            vec(a_whole, "query", c),
            vec(o_whole, "document", c),
        )
        off = ~np.eye(len(REFERENCE), dtype=bool)
        ref_cos = (rw @ rw.T)[off]
        ref_match = _match(fake, ref_sentences, ref_sentences, "query", "query", c)[off]
        spreads.append(ref_cos.std())
        whole = (
            aw @ ow.T
            - (rw @ ow.T).mean(axis=0)[None, :]
            - (aw @ rw.T).mean(axis=1)[:, None]
            + ref_cos.mean()
        )
        sentences = (
            _match(fake, a_sent, o_sent, "query", "document", c)
            - _match(fake, ref_sentences, o_sent, "query", "document", c).mean(axis=0)[None, :]
            - _match(fake, a_sent, ref_sentences, "query", "query", c).mean(axis=1)[:, None]
            + ref_match.mean()
        )
        parts.append((whole, sentences))
    whole = np.zeros((len(a_whole), len(o_whole)))
    sentences = np.zeros_like(whole)
    for i, la in enumerate(a_lang):
        for j, lo in enumerate(o_lang):
            readers = [k for k, v in enumerate(views) if reads(v, la) and reads(v, lo)]
            readers = readers or list(range(len(views)))
            for k in readers:
                scale = spreads[0] / spreads[k]
                whole[i, j] += scale * parts[k][0][i, j] / len(readers)
                sentences[i, j] += scale * parts[k][1][i, j] / len(readers)
    return whole, sentences


def _texts(fake: FakeEmbedder, data: tuple, prompt: str) -> EmbeddedTexts:
    wholes, sentence_lists, languages = data
    return embed_documents(fake, wholes, sentence_lists, prompt_name=prompt, languages=languages)


@pytest.mark.parametrize("views", [VIEWS, VIEWS[:1], ()], ids=["ensemble", "one-model", "plain"])
def test_fit_is_the_calibrated_ensemble_of_both_views(views: tuple[View, ...]) -> None:
    fake = FakeEmbedder(views)
    scorer = TopicScorer(fake, REFERENCE)
    applicants = _texts(fake, APPLICANTS, "query")
    offers = _texts(fake, OFFERS, "document")
    result = scorer.fit(applicants, offers)
    whole, sentences = _expected(FakeEmbedder(views or (View("", slice(0, 5)),)))
    np.testing.assert_allclose(result.whole, whole, atol=1e-5)
    np.testing.assert_allclose(result.sentences, sentences, atol=1e-5)
    combined = WHOLE_TEXT_WEIGHT * whole + (1 - WHOLE_TEXT_WEIGHT) * sentences
    np.testing.assert_allclose(result.fit, combined, atol=1e-5)
    # Given baselines give the same numbers (the shortlist path).
    again = scorer.fit(applicants, offers, scorer.baselines(offers))
    np.testing.assert_array_equal(again.whole, result.whole)
    np.testing.assert_array_equal(again.sentences, result.sentences)


def test_calibration_needs_no_other_applicant_or_offer() -> None:
    """An applicant's fit to an offer is the same scored alone as in the whole round."""
    fake = FakeEmbedder()
    scorer = TopicScorer(fake, REFERENCE)
    applicants, offers = _texts(fake, APPLICANTS, "query"), _texts(fake, OFFERS, "document")
    full = scorer.fit(applicants, offers).fit
    one = tuple([part[1]] for part in APPLICANTS)
    alone = scorer.fit(_texts(fake, one, "query"), _texts(fake, OFFERS, "document")).fit
    np.testing.assert_allclose(alone[0], full[1], atol=1e-6)


def test_sentence_match_blocks_give_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEmbedder()
    applicants, offers = _texts(fake, APPLICANTS, "query"), _texts(fake, OFFERS, "document")
    expected = _match(fake, APPLICANTS[1], OFFERS[1], "query", "document", slice(4, 7))
    np.testing.assert_allclose(sentence_match(applicants, offers, slice(4, 7)), expected, atol=1e-6)
    monkeypatch.setattr(topic, "_SENTENCE_BLOCK", 3)  # blocks of 1–2 applicants
    np.testing.assert_allclose(sentence_match(applicants, offers, slice(4, 7)), expected, atol=1e-6)
    everything = _match(fake, APPLICANTS[1], OFFERS[1], "query", "document", slice(None))
    np.testing.assert_allclose(sentence_match(applicants, offers), everything, atol=1e-6)
    assert sentence_match(applicants, offers).dtype == np.float32
    one = _texts(fake, tuple(part[:1] for part in OFFERS), "document")
    np.testing.assert_allclose(sentence_match(applicants, one), everything[:, :1], atol=1e-6)
    empty = _texts(fake, ([], [], []), "document")
    assert sentence_match(applicants, empty).shape == (4, 0)
    assert sentence_match(empty, offers).shape == (0, 3)


def test_embedded_texts_split_documents_and_sentences() -> None:
    fake = FakeEmbedder()
    texts = _texts(fake, APPLICANTS, "query")
    assert len(texts) == 4
    assert texts.starts.tolist() == [0, 2, 5, 6, 7]
    np.testing.assert_array_equal(texts.sentences_of(1)[2], fake.vector("Parken.", "query"))
    np.testing.assert_array_equal(texts.whole[3], fake.vector("X.", "query"))
    assert texts.sentence_texts[1] == ("Radverkehr.", "Ampeln.", "Parken.")
    assert [len(texts.sentences_of(i)) for i in range(4)] == [2, 3, 1, 1]
    assert [texts.language_of(i) for i in range(4)] == ["de", "fi", "hu", None]
    assert texts.layout == VIEWS
    bare = embed_documents(FakeEmbedder(()), ["a"], [["a"]])
    assert bare.language_of(0) is None
    assert bare.layout == (View("", slice(0, 5)),)


def test_records_are_embedded_as_queries_and_documents_with_their_languages() -> None:
    fake = FakeEmbedder()
    applicant = make_applicant(languages={"fi": "C2", "de": "B2"})
    offer = make_offer(language="fr", working_languages=["fr"])
    applicants = embed_applicants(fake, [applicant])
    offers = embed_offers(fake, [offer])
    assert fake.prompts == ["query", "document"]
    embed_applicants(fake, [applicant], show_progress=True)
    embed_offers(fake, [offer], show_progress=True)
    embed_documents(fake, ["a"], [["a"]], show_progress=True)
    embed_documents(fake, ["a"], [["a"]])
    assert fake.progress == [False, False, True, True, True, False]
    assert offers.languages == ("fr",)
    assert len(applicants.languages) == 1
    assert applicants.sentence_texts[0] and offers.sentence_texts[0]


def test_the_bundled_reference_corpus_is_used_by_default() -> None:
    text = (files("matcher") / "resources" / "reference_applications_de.txt").read_text("utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert load_reference_corpus() == lines
    scorer = TopicScorer(FakeEmbedder())
    reference = scorer.reference
    assert len(reference) == len(lines)
    assert reference.sentence_texts == tuple(tuple(reference_sentences(t)) for t in lines)
    assert reference.languages == ("de",) * len(lines)
    assert scorer.embedder.prompts == ["query"]


def test_texts_without_languages_are_read_by_every_model() -> None:
    fake = FakeEmbedder()
    scorer = TopicScorer(fake, REFERENCE)
    wholes, sentence_lists, _ = APPLICANTS
    unknown = embed_documents(fake, wholes, sentence_lists, prompt_name="query")
    tagged = _texts(fake, (wholes, sentence_lists, [None] * 4), "query")
    offers = _texts(fake, OFFERS, "document")
    untagged_offers = embed_documents(fake, OFFERS[0], OFFERS[1], prompt_name="document")
    expected = scorer.fit(tagged, offers).fit
    np.testing.assert_allclose(scorer.fit(unknown, offers).fit, expected, atol=1e-6)
    both = scorer.fit(tagged, untagged_offers).fit
    np.testing.assert_allclose(scorer.fit(unknown, untagged_offers).fit, both, atol=1e-6)
