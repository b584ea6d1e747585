"""Match-strength labels: fit their thresholds on the dev set, and report what they reach.

``python -m benchmarks.strength_thresholds`` fits the two thresholds on the graded dev set
(``../shared/benchmark/dev``) with the default model and writes them, with the model id, to
``matcher/resources/strength_thresholds.json`` (the product reads only that file). The bench
section ``strength`` (``python -m benchmarks strength``) reports the labels' dev-set shares
per gold grade with the stored thresholds: the figures the issue asks for are the share of
grade-3 pairs labelled „sehr gut“ or „gut“ and the share of grade-0 pairs labelled „schwach“.
The dev set is also the fitting set, so these shares are optimistic.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

import matcher
from benchmarks.common import DEV, REPO, Section, skipped, table
from matcher.embedding import E5_MODEL, TextEmbedder
from matcher.strength import (
    ORDER,
    RESOURCE,
    fit_thresholds,
    load_thresholds,
    thresholds_json,
)

TITLE = "8. Match-strength labels (development set)"
OUTPUT = REPO / "matcher" / "resources" / RESOURCE


#: The model combinations the product runs with: the default ensemble, and USE-m alone
#: (``MATCHER_SECOND_MODEL=""``).
COMBINATIONS = ((matcher.DEFAULT_MODEL, E5_MODEL), (matcher.DEFAULT_MODEL,))


def dev_fit_and_grades(
    embedder: TextEmbedder,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) calibrated topic fit of the dev set and the gold grade of every pair (0 if none)."""
    offers = matcher.load_offers((DEV / "offers.json").read_bytes(), source="offers.json")
    applicants = matcher.load_applicants(
        (DEV / "applicants.json").read_bytes(), source="applicants.json"
    )
    gold = json.loads((DEV / "gold.json").read_text("utf-8"))
    scores = matcher.score_pairs(matcher.TopicScorer(embedder), applicants, offers)
    grades = np.array(
        [[gold.get(a.id, {}).get(o.id, 0) for o in offers] for a in applicants], dtype=np.int8
    )
    return scores.topic.fit, grades


def run(model: SentenceTransformer) -> Section:
    """The labels' shares per grade on the dev set, with the stored thresholds."""
    if not (DEV / "gold.json").is_file():
        return skipped(TITLE, f"{DEV} not found (only the team's checkouts have ../shared)")
    embedder = matcher.load_embedder(COMBINATIONS[0], models=[model])
    thresholds = load_thresholds(embedder.model_id)
    fit, grades = dev_fit_and_grades(embedder)
    levels = thresholds.levels(fit)
    rows = []
    for grade in (3, 2, 1, 0):
        mask = grades == grade
        shares = [f"{np.mean(levels[mask] == k):.3f}" for k in (2, 1, 0)]
        rows.append([grade, int(mask.sum()), *shares])
    grade3_good = float(np.mean(levels[grades == 3] >= 1))
    grade0_weak = float(np.mean(levels[grades == 0] == 0))
    section = Section(TITLE)
    section.body = f"""Thresholds on the calibrated topic fit, fitted by `python -m
benchmarks.strength_thresholds` on this same set (so the shares are optimistic), for model
`{thresholds.model_id}`: „gut“ from {thresholds.gut:.4f}, „sehr gut“ from
{thresholds.sehr_gut:.4f}.

{table(["gold grade", "pairs", *(f"„{s}“" for s in reversed(ORDER))], rows, "l")}

Grade-3 pairs labelled „sehr gut“ or „gut“: **{grade3_good:.3f}**; grade-0 pairs labelled
„schwach“: **{grade0_weak:.3f}**.
"""
    section.headline = [
        ("grade-3 pairs labelled sehr gut/gut (dev)", f"{grade3_good:.3f}", "", "", ""),
        ("grade-0 pairs labelled schwach (dev)", f"{grade0_weak:.3f}", "", "", ""),
    ]
    return section


def main() -> int:
    """Fit on the dev set and write the resource file."""
    if not (DEV / "gold.json").is_file():
        print(f"{DEV} not found", file=sys.stderr)
        return 2
    store, first = matcher.MemoryStore(), matcher.load_model()
    fitted = []
    for names in COMBINATIONS:
        embedder = matcher.load_embedder(names, store, models=[first])
        fit, grades = dev_fit_and_grades(embedder)
        fitted.append(fit_thresholds(fit, grades, embedder.model_id))
        print(
            f"{embedder.model_id}: gut ≥ {fitted[-1].gut:.4f}, sehr gut ≥ {fitted[-1].sehr_gut:.4f}"
        )
    OUTPUT.write_text(thresholds_json(fitted, "../shared/benchmark/dev") + "\n", "utf-8")
    print(f"{OUTPUT.relative_to(REPO)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
