"""Topic fit of applicants to offers: two models, two views each, each calibrated.

``fit[i, j]`` (cosine units of the first model) is how much better applicant i's text matches
offer j than a typical application matches a typical offer.

**Models.** The embedder may be an :class:`~matcher.embedding.Ensemble`: USE multilingual v3
(trained on 16 languages, not on Czech, Finnish, Hungarian or Swedish) and multilingual-e5-small
(~100 languages). Each model gives two views of a pair:

* whole: cosine of the whole application and the whole offer;
* sentences: for each applicant sentence the best-matching offer sentence, averaged over the
  applicant's sentences (an application is a set of wishes; each should find its place).

**Calibration, per model and view** (needs no data of the round, so a shortlist does not change
when other applicants or offers are added):

1. *Offer side*: minus the offer's mean similarity to a bundled corpus of German reference
   applications (``resources/reference_applications_de.txt``, written for this project).
   Without it an offer in French or Polish scores lower against every German application than
   a German offer does, whatever its topic; the centring removes that offset, as CSLS does for
   cross-lingual retrieval (outgoing development set: R@5 0.89 → 0.98).
2. *Applicant side*: minus the applicant's mean similarity to the same corpus, plus the
   corpus' mean similarity to itself. A Finnish application is further from every German text
   than a German one is; this removes that offset. It never changes an applicant's ranking (it
   is one number per applicant); it is what keeps **scores comparable across applicants**,
   which the batch assignment adds up: on the incoming development set, the mean fit of each
   applicant's ideal offer ranged 0.06 (fi) … 0.26 (de) by applicant language without it,
   0.27 … 0.42 with it.
3. *Scale*: e5's cosines spread about six times less than USE's. Each model's calibrated
   values are divided by its spread (standard deviation of the cosines between reference
   applications) and multiplied by the first model's, so the fit stays in the units the score
   temperature and the city bonus were set in.

**Ensemble.** The mean of the models' calibrated fits, except that a model is left out of a
pair whose applicant or offer language it was not trained on (``View.reads``; languages from
the records, detected where absent by ``matcher.language``). Measured on the development sets
(``python -m benchmarks languages`` prints the table per language), R@5 / nDCG@10:

=================  ===============  ===============  ==================
set                USE-m, calibr.   e5, calibrated   ensemble
=================  ===============  ===============  ==================
outgoing (de →)    0.978 / 0.906    0.989 / 0.923    0.989 / 0.937
incoming (→ de)    0.771 / 0.740    0.938 / 0.772    1.000 / 0.853
=================  ===============  ===============  ==================

Incoming with USE alone: cs 0.67, fi 0.20, hu 0.20 (R@5); with the ensemble 1.00 in every
language. Uncalibrated e5 ranks incoming applicants better by nDCG (0.885) than calibrated
e5, but not outgoing ones (0.774): the offset it leaves is the offer language's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files

import numpy as np

from matcher.embedding import TextEmbedder, Vectors, View
from matcher.language import applicant_language, offer_language
from matcher.records import Applicant, Offer
from matcher.text import (
    applicant_sentences,
    applicant_text,
    offer_sentences,
    offer_text,
    reference_sentences,
)

#: Weight of the whole-text view; the sentence view gets the rest (0.5 was best on the dev set).
WHOLE_TEXT_WEIGHT = 0.5
# Applicant sentences scored per block: bounds the (sentences x offer sentences) matrix in memory.
_SENTENCE_BLOCK = 2048


@dataclass(frozen=True)
class EmbeddedTexts:
    """Embeddings of n documents: one whole-text vector each, and their sentences stacked.

    ``sentences[starts[i]:starts[i + 1]]`` are the sentence vectors of document i. Columns are
    split into ``views``, one per model (none given: one view over all columns);
    ``languages[i]`` is document i's language (none given: unknown).
    """

    whole: Vectors
    sentences: Vectors
    starts: np.ndarray
    sentence_texts: tuple[tuple[str, ...], ...]
    views: tuple[View, ...] = ()
    languages: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return int(self.whole.shape[0])

    def sentences_of(self, index: int) -> Vectors:
        """Sentence vectors of document ``index``."""
        return self.sentences[self.starts[index] : self.starts[index + 1]]

    @property
    def layout(self) -> tuple[View, ...]:
        """The views, or one over all columns."""
        return self.views or (View("", slice(0, self.whole.shape[1])),)

    def language_of(self, index: int) -> str | None:
        """Language of document ``index`` (None: unknown)."""
        return self.languages[index] if self.languages else None


def embed_documents(
    embedder: TextEmbedder,
    wholes: Sequence[str],
    sentence_lists: Sequence[Sequence[str]],
    *,
    prompt_name: str | None = None,
    languages: Sequence[str | None] = (),
    show_progress: bool = False,
) -> EmbeddedTexts:
    """Embed whole texts and their sentences in one model call (cached texts cost nothing).

    ``prompt_name`` is ``query`` or ``document``: models with such prompts (e5) use them.
    """
    flat = [sentence for sentences in sentence_lists for sentence in sentences]
    vectors = embedder.embed([*wholes, *flat], prompt_name=prompt_name, show_progress=show_progress)
    counts = [len(sentences) for sentences in sentence_lists]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return EmbeddedTexts(
        whole=vectors[: len(wholes)],
        sentences=vectors[len(wholes) :],
        starts=starts,
        sentence_texts=tuple(tuple(sentences) for sentences in sentence_lists),
        views=embedder.views,
        languages=tuple(languages),
    )


def embed_applicants(
    embedder: TextEmbedder, applicants: Sequence[Applicant], *, show_progress: bool = False
) -> EmbeddedTexts:
    """The applicant views; applicants are the queries of retrieval-style models."""
    return embed_documents(
        embedder,
        [applicant_text(applicant) for applicant in applicants],
        [applicant_sentences(applicant) for applicant in applicants],
        prompt_name="query",
        languages=[applicant_language(applicant) for applicant in applicants],
        show_progress=show_progress,
    )


def embed_offers(
    embedder: TextEmbedder, offers: Sequence[Offer], *, show_progress: bool = False
) -> EmbeddedTexts:
    """The offer views; offers are the documents of retrieval-style models."""
    return embed_documents(
        embedder,
        [offer_text(offer) for offer in offers],
        [offer_sentences(offer) for offer in offers],
        prompt_name="document",
        languages=[offer_language(offer) for offer in offers],
        show_progress=show_progress,
    )


def sentence_match(
    applicants: EmbeddedTexts, offers: EmbeddedTexts, columns: slice = slice(None)
) -> np.ndarray:
    """``match[i, j]``: mean over applicant i's sentences of the best offer-j sentence cosine.

    ``columns`` selects one model's part of the vectors (all columns by default).
    """
    result = np.zeros((len(applicants), len(offers)), dtype=np.float32)
    if len(offers) == 0 or len(applicants) == 0:
        return result
    offer_starts = offers.starts[:-1]
    offer_sentences = offers.sentences[:, columns]
    for first in range(0, len(applicants), _block_size(applicants)):
        last = min(first + _block_size(applicants), len(applicants))
        lo, hi = applicants.starts[first], applicants.starts[last]
        similarity = applicants.sentences[lo:hi, columns] @ offer_sentences.T
        best = np.maximum.reduceat(similarity, offer_starts, axis=1)
        sums = np.add.reduceat(best, applicants.starts[first:last] - lo, axis=0)
        counts = np.diff(applicants.starts[first : last + 1])[:, None]
        result[first:last] = sums / counts
    return result


def _block_size(applicants: EmbeddedTexts) -> int:
    mean_sentences = max(1.0, len(applicants.sentences) / max(1, len(applicants)))
    return max(1, int(_SENTENCE_BLOCK / mean_sentences))


@dataclass(frozen=True)
class Baselines:
    """Each offer's mean similarity to the reference corpus, per model k and view: [k, j]."""

    whole: np.ndarray  # (models, m) mean whole-text cosine
    sentences: np.ndarray  # (models, m) mean sentence match


@dataclass(frozen=True)
class TopicFit:
    """Calibrated topic fit of n applicants to m offers, per view (kept for explanations)."""

    whole: np.ndarray  # (n, m) calibrated whole-text fit, ensemble of the models
    sentences: np.ndarray  # (n, m) calibrated sentence fit, ensemble of the models

    @cached_property
    def fit(self) -> np.ndarray:
        """(n, m) calibrated topic fit in cosine units; 0 is a typical application's fit."""
        fit = WHOLE_TEXT_WEIGHT * self.whole + (1.0 - WHOLE_TEXT_WEIGHT) * self.sentences
        return np.asarray(fit, dtype=np.float64)


@dataclass(frozen=True)
class _ModelCalibration:
    """What the reference corpus says about one model (steps 2 and 3 of the module doc)."""

    typical_whole: float  # mean whole cosine between two reference applications
    typical_sentences: float  # mean sentence match between two reference applications
    scale: float  # first model's spread / this model's spread


def load_reference_corpus() -> list[str]:
    """The bundled German reference applications, one per line."""
    resource = files("matcher") / "resources" / "reference_applications_de.txt"
    return [line.strip() for line in resource.read_text("utf-8").splitlines() if line.strip()]


def _off_diagonal(square: np.ndarray) -> np.ndarray:
    return square[~np.eye(len(square), dtype=bool)]


class TopicScorer:
    """Scores topic fit with one embedder or an ensemble; the reference corpus is embedded once."""

    def __init__(self, embedder: TextEmbedder, reference: Sequence[str] | None = None) -> None:
        self.embedder = embedder
        self._reference_texts = list(reference) if reference is not None else None

    @cached_property
    def reference(self) -> EmbeddedTexts:
        texts = self._reference_texts or load_reference_corpus()
        return embed_documents(
            self.embedder,
            texts,
            [reference_sentences(text) for text in texts],
            prompt_name="query",
            languages=["de"] * len(texts),
        )

    @cached_property
    def _calibration(self) -> tuple[_ModelCalibration, ...]:
        reference = self.reference
        spreads, typical = [], []
        for view in reference.layout:
            whole = reference.whole[:, view.columns]
            cosines = _off_diagonal(whole @ whole.T)
            sentences = _off_diagonal(sentence_match(reference, reference, view.columns))
            spreads.append(float(cosines.std()))
            typical.append((float(cosines.mean()), float(sentences.mean())))
        return tuple(
            _ModelCalibration(whole, sentences, spreads[0] / spread)
            for (whole, sentences), spread in zip(typical, spreads, strict=True)
        )

    def baselines(self, offers: EmbeddedTexts) -> Baselines:
        """The offers' calibration baselines; they depend on the offers alone."""
        reference = self.reference
        views = offers.layout
        return Baselines(
            whole=np.stack(
                [
                    (reference.whole[:, v.columns] @ offers.whole[:, v.columns].T).mean(axis=0)
                    for v in views
                ]
            ).reshape(len(views), len(offers)),
            sentences=np.stack(
                [sentence_match(reference, offers, v.columns).mean(axis=0) for v in views]
            ).reshape(len(views), len(offers)),
        )

    def fit(
        self,
        applicants: EmbeddedTexts,
        offers: EmbeddedTexts,
        baselines: Baselines | None = None,
    ) -> TopicFit:
        """Topic fit of every applicant to every offer.

        ``baselines`` is ``self.baselines(offers)`` when the caller already has it (it costs a
        reference-corpus x offers matrix, the bulk of scoring one applicant).
        """
        if baselines is None:
            baselines = self.baselines(offers)
        views = applicants.layout
        trusted = _trusted(views, applicants, offers)
        whole = np.zeros((len(applicants), len(offers)), dtype=np.float64)
        sentences = np.zeros_like(whole)
        for k, (view, calibration) in enumerate(zip(views, self._calibration, strict=True)):
            own_whole, own_sentences = self._applicant_offsets(applicants, view)
            raw_whole = applicants.whole[:, view.columns] @ offers.whole[:, view.columns].T
            raw_sentences = sentence_match(applicants, offers, view.columns)
            whole += (trusted[k] * calibration.scale) * (
                raw_whole
                - baselines.whole[k][None, :]
                - own_whole[:, None]
                + calibration.typical_whole
            )
            sentences += (trusted[k] * calibration.scale) * (
                raw_sentences
                - baselines.sentences[k][None, :]
                - own_sentences[:, None]
                + calibration.typical_sentences
            )
        return TopicFit(whole=whole, sentences=sentences)

    def _applicant_offsets(
        self, applicants: EmbeddedTexts, view: View
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n,) each applicant's mean whole cosine and sentence match to the reference corpus."""
        reference = self.reference
        whole = applicants.whole[:, view.columns] @ reference.whole[:, view.columns].T
        sentences = sentence_match(applicants, reference, view.columns)
        return whole.mean(axis=1), sentences.mean(axis=1)


def _trusted(views: Sequence[View], applicants: EmbeddedTexts, offers: EmbeddedTexts) -> np.ndarray:
    """(models, n, m) weights summing to 1 per pair over the models that read both languages.

    A pair that no model reads (a language none was trained on) is scored by all of them.
    """
    reads = np.array(
        [np.outer(_reads(view, applicants), _reads(view, offers)) for view in views],
        dtype=np.float64,
    ).reshape(len(views), len(applicants), len(offers))
    reads[:, reads.sum(axis=0) == 0] = 1.0
    weights: np.ndarray = reads / reads.sum(axis=0, keepdims=True)
    return weights


def _reads(view: View, texts: EmbeddedTexts) -> np.ndarray:
    """(len(texts),) 1.0 where the view's model reads the text's language, else 0.0."""
    if view.languages is None or not texts.languages:
        return np.ones(len(texts), dtype=np.float64)
    known = {language: view.reads(language) for language in set(texts.languages)}
    return np.array([known[language] for language in texts.languages], dtype=np.float64)
