"""Ranking quality on the development set: the engine next to two references, same script.

* engine: the calibrated topic fit of both models, exactly what ``matcher evaluate`` ranks by
  (section 10 has each model alone, by language);
* bare model: one text per side (position + motivation vs. title + tags + description), cosine
  of the default model's (USE-m) vectors;
* TF-IDF: character n-grams (``char_wb``, 3–5) from scikit-learn, cosine.

Groups: overall, by the language of the applicant's ideal offer (``de``, ``andere``, each), and
by the applicant styles the dev README lists (indirect, short).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.feature_extraction.text import TfidfVectorizer

import matcher
from benchmarks.common import DEV, PLOTS, Section, met, skipped, table
from matcher.evaluation import Gold
from matcher.text import applicant_text, offer_text

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TITLE = "1. Ranking quality (development set)"
#: Applicant styles as listed in ../shared/benchmark/dev/README.md ("Motivation styles").
INDIRECT = frozenset(
    "D-A10 D-A24 D-A26 D-A28 D-A30 D-A31 D-A41 D-A49 D-A55 D-A62 D-A63 D-A72".split()
)
SHORT = frozenset("D-A11 D-A14 D-A21 D-A36 D-A48 D-A65".split())
METHODS = ("engine", "bare model", "TF-IDF char 3–5")
#: The floors of tests/api/test_dev_benchmark.py.
FLOORS = {"R@5 alle": 0.97, "R@5 andere": 0.85, "nDCG@10 alle": 0.92}


def run(model: SentenceTransformer) -> Section:
    if not (DEV / "gold.json").is_file():
        return skipped(TITLE, f"{DEV} not found (only the team's checkouts have ../shared)")
    offers = matcher.load_offers((DEV / "offers.json").read_bytes(), source="offers.json")
    applicants = matcher.load_applicants(
        (DEV / "applicants.json").read_bytes(), source="applicants.json"
    )
    applicant_ids, offer_ids = [a.id for a in applicants], [o.id for o in offers]
    gold = matcher.parse_gold(
        json.loads((DEV / "gold.json").read_text("utf-8")), applicant_ids, offer_ids
    )
    embedder = matcher.load_embedder([matcher.DEFAULT_MODEL, matcher.E5_MODEL], models=[model])
    scores = matcher.score_pairs(matcher.TopicScorer(embedder), applicants, offers)
    first = scores.applicant_texts.layout[0].columns
    fits = {
        "engine": scores.topic.fit,
        # The engine's whole-text vectors are the bare model's one-text-per-side embeddings.
        "bare model": scores.applicant_texts.whole[:, first] @ scores.offer_texts.whole[:, first].T,
        "TF-IDF char 3–5": tfidf_cosine(
            [applicant_text(a) for a in applicants], [offer_text(o) for o in offers]
        ),
    }
    languages = [o.language for o in offers]
    groups = {
        method: grouped_metrics(fit, applicant_ids, offer_ids, languages, gold)
        for method, fit in fits.items()
    }
    section = Section(TITLE)
    section.body = _body(groups)
    plot(groups)
    engine = groups["engine"]
    figures = {
        "R@5 alle": engine["alle"].recall_at_5,
        "R@5 andere": engine["andere"].recall_at_5,
        "nDCG@10 alle": engine["alle"].ndcg_at_10,
    }
    bare = groups["bare model"]
    bare_figures = {
        "R@5 alle": bare["alle"].recall_at_5,
        "R@5 andere": bare["andere"].recall_at_5,
        "nDCG@10 alle": bare["alle"].ndcg_at_10,
    }
    section.headline = [
        (
            f"engine {name} (dev set)",
            f"{value:.3f}",
            f"bare model {bare_figures[name]:.3f}",
            f"≥ {FLOORS[name]:.2f}",
            met(value >= FLOORS[name]),
        )
        for name, value in figures.items()
    ]
    return section


def tfidf_cosine(applicant_texts: Sequence[str], offer_texts: Sequence[str]) -> np.ndarray:
    """(n, m) cosine of character n-gram TF-IDF vectors (fitted on both sides' texts)."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5))
    vectorizer.fit([*applicant_texts, *offer_texts])
    a, o = vectorizer.transform(applicant_texts), vectorizer.transform(offer_texts)
    return np.asarray((a @ o.T).toarray(), dtype=np.float64)  # rows are L2-normalised


def grouped_metrics(
    fit: np.ndarray,
    applicant_ids: Sequence[str],
    offer_ids: Sequence[str],
    languages: Sequence[str | None],
    gold: Gold,
) -> dict[str, matcher.Metrics]:
    """``matcher.evaluate``'s groups plus the applicant styles (indirect, short, the rest)."""
    groups = dict(matcher.evaluate(fit, applicant_ids, offer_ids, languages, gold).groups)
    styles = {
        "indirekt": INDIRECT,
        "kurz": SHORT,
        "übrige": frozenset(applicant_ids) - INDIRECT - SHORT,
    }
    for name, members in styles.items():
        rows = [i for i, applicant_id in enumerate(applicant_ids) if applicant_id in members]
        subset = [applicant_ids[i] for i in rows]
        report = matcher.evaluate(fit[rows], subset, offer_ids, languages, gold)
        groups[name] = report.groups["alle"]
    return groups


def _order(groups: Mapping[str, matcher.Metrics]) -> list[str]:
    fixed = ["alle", "de", "andere"]
    languages = sorted(g for g in groups if g not in {*fixed, "indirekt", "kurz", "übrige"})
    return [g for g in [*fixed, *languages, "indirekt", "kurz", "übrige"] if g in groups]


def _body(groups: Mapping[str, Mapping[str, matcher.Metrics]]) -> str:
    engine = groups["engine"]
    rows = []
    for name in _order(engine):
        cells: list[object] = [name, engine[name].applicants]
        for metric in ("recall_at_5", "ndcg_at_10", "mrr"):
            cells.append(
                " / ".join(
                    ("**{:.3f}**" if method == "engine" else "{:.3f}").format(
                        getattr(groups[method][name], metric)
                    )
                    for method in METHODS
                )
            )
        rows.append(cells)
    return f"""
`../shared/benchmark/dev/` (90 German applications, 45 offers, graded gold). Each cell reads
**engine** / bare model / TF-IDF char 3–5, all three computed in this run on the same records:
the engine's calibrated topic fit (what `matcher evaluate` ranks by), the bare default model
(one text per side, cosine) and scikit-learn's `TfidfVectorizer(analyzer="char_wb",
ngram_range=(3, 5))` (cosine). Groups: `de` / `andere` by the language of the applicant's ideal
offer (then each language); `indirekt` and `kurz` are the applicant styles listed in the dev
README, `übrige` the other applications. Floors (`tests/api/test_dev_benchmark.py`): R@5 ≥ 0.93
overall, ≥ 0.85 `andere`, nDCG@10 ≥ 0.83.

{table(["group", "applicants", "R@5", "nDCG@10", "MRR"], rows, "lr")}

![Ranking quality by group](benchmarks/plots/quality.png)
"""


def plot(groups: Mapping[str, Mapping[str, matcher.Metrics]]) -> None:
    names = _order(groups["engine"])
    figure, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    width = 0.8 / len(METHODS)
    x = np.arange(len(names))
    for axis, (metric, label) in zip(
        axes, (("recall_at_5", "R@5"), ("ndcg_at_10", "nDCG@10"), ("mrr", "MRR")), strict=True
    ):
        for k, method in enumerate(METHODS):
            values = [getattr(groups[method][name], metric) for name in names]
            axis.bar(x + (k - 1) * width, values, width, label=method)
        axis.set_title(label)
        axis.set_xticks(x, names, rotation=45, ha="right")
        axis.set_ylim(0, 1.05)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    figure.suptitle("Ranking quality on the development set, by group")
    figure.tight_layout()
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / "quality.png", dpi=110)
    plt.close(figure)
