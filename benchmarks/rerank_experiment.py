"""Does learning from coordinators' decisions help? An offline experiment on the dev set.

Decisions are simulated from the gold labels on half of the applicants (grade 3 → confirmed,
grades 0–1 among their base top-10 → rejected), the re-ranker is fitted on them and evaluated
on the other half, base vs re-ranked; 10 seeded splits by applicant. Prints Markdown.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

import matcher
from benchmarks.common import DEV, Section, met, skipped, table
from matcher import EvaluationReport
from matcher.rerank import DecisionReranker, pair_features

SPLITS = 10


def simulated_decisions(
    fit: np.ndarray,
    rows: list[int],
    gold: dict[str, dict[str, int]],
    applicant_ids: list[str],
    offer_ids: list[str],
) -> tuple[list[tuple[int, int]], list[int]]:
    pairs, labels = [], []
    for i in rows:
        grades = gold.get(applicant_ids[i], {})
        top10 = np.argsort(-fit[i], kind="stable")[:10]
        for j, offer_id in enumerate(offer_ids):
            if grades.get(offer_id) == 3:
                pairs.append((i, j))
                labels.append(1)
            elif j in top10 and grades.get(offer_id, 0) <= 1:
                pairs.append((i, j))
                labels.append(0)
    return pairs, labels


TITLE = "7. Learning from decisions (re-ranker, dev set)"


def evaluate_splits(
    model: SentenceTransformer,
) -> tuple[list[EvaluationReport], list[EvaluationReport]]:
    """Base and re-ranked reports on the test half of each seeded split."""
    applicants = matcher.load_applicants((DEV / "applicants.json").read_bytes())
    offers = matcher.load_offers((DEV / "offers.json").read_bytes())
    gold = json.loads((DEV / "gold.json").read_text("utf-8"))
    scorer = matcher.TopicScorer(matcher.Embedder(model))
    scores = matcher.score_pairs(scorer, applicants, offers)
    a_ids, o_ids = [a.id for a in applicants], [o.id for o in offers]
    languages = [o.language for o in offers]
    features = [
        [pair_features(scores, i, j) for j in range(len(offers))] for i in range(len(applicants))
    ]
    base, reranked = [], []
    for seed in range(SPLITS):
        order = np.random.default_rng(seed).permutation(len(applicants))
        train, test = sorted(order[: len(order) // 2]), sorted(order[len(order) // 2 :])
        pairs, labels = simulated_decisions(scores.topic.fit, train, gold, a_ids, o_ids)
        reranker = DecisionReranker().fit([features[i][j] for i, j in pairs], labels)
        learned = np.array([reranker.decision_function(features[i]) for i in test])
        test_ids = [a_ids[i] for i in test]
        base.append(matcher.evaluate(scores.topic.fit[test], test_ids, o_ids, languages, gold))
        reranked.append(matcher.evaluate(learned, test_ids, o_ids, languages, gold))
    return base, reranked


def _mean(runs: list[EvaluationReport], group: str, metric: str) -> tuple[float, float]:
    values = [getattr(r.groups[group], metric) for r in runs if group in r.groups]
    return float(np.mean(values)), float(np.std(values))


def run(model: SentenceTransformer) -> Section:
    if not (DEV / "gold.json").is_file():
        return skipped(TITLE, f"{DEV} not found (only the team's checkouts have ../shared)")
    base, reranked = evaluate_splits(model)
    rows = []
    for group in ("alle", "de", "andere", "en", "fr", "pl", "nl", "sv"):
        cells = [
            "{:.3f} ± {:.3f}".format(*_mean(runs, group, metric))
            for metric in ("recall_at_5", "ndcg_at_10")
            for runs in (base, reranked)
        ]
        rows.append((group, *cells))
    body = (
        f"Decisions simulated from the gold labels on half of the applicants (grade 3 → "
        f"confirmed, grades 0–1 among their base top 10 → rejected); `DecisionReranker` fitted "
        f"on them, evaluated on the other half; {SPLITS} seeded splits by applicant (45 / 45), "
        "mean ± standard deviation over splits. Reference: the base ranking (calibrated topic "
        "fit) on the same test halves.\n\n"
        + table(["group", "R@5 base", "R@5 re-ranked", "nDCG@10 base", "nDCG@10 re-ranked"], rows)
    )
    (r_base, _), (r_new, _) = (
        _mean(base, "alle", "recall_at_5"),
        _mean(reranked, "alle", "recall_at_5"),
    )
    (n_base, _), (n_new, _) = (
        _mean(base, "alle", "ndcg_at_10"),
        _mean(reranked, "alle", "ndcg_at_10"),
    )
    verdict = "not worse on average" if r_new >= r_base and n_new >= n_base else "WORSE on average"
    body += (
        f"\n\nOverall the re-ranker is {verdict}: R@5 {r_base:.3f} → {r_new:.3f}, nDCG@10 "
        f"{n_base:.3f} → {n_new:.3f}. Per group it can lose: compare the `de` row. The dev set "
        "also tuned the base ranking, so these figures are optimistic."
    )
    return Section(
        TITLE,
        body,
        headline=[
            (
                "re-ranker nDCG@10 alle (10 splits)",
                f"{n_new:.3f}",
                f"base {n_base:.3f}",
                "not worse",
                met(n_new >= n_base and r_new >= r_base),
            )
        ],
    )


def main() -> int:
    print(run(matcher.load_model()).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
