"""Does learning from coordinators' decisions help? An offline experiment on the dev set.

Decisions are simulated from the gold labels on half of the applicants (grade 3 → confirmed,
grades 0–1 among their base top-10 → rejected), the re-ranker is fitted on them and evaluated
on the other half, base vs re-ranked; 10 seeded splits by applicant. Prints Markdown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import matcher
from matcher.rerank import DecisionReranker, pair_features

DEV = Path(__file__).resolve().parents[2] / "shared" / "benchmark" / "dev"
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


def main() -> int:
    if not (DEV / "gold.json").is_file():
        print(f"skipped: {DEV} not found (only the team's checkouts have ../shared)")
        return 0
    applicants = matcher.load_applicants((DEV / "applicants.json").read_bytes())
    offers = matcher.load_offers((DEV / "offers.json").read_bytes())
    gold = json.loads((DEV / "gold.json").read_text("utf-8"))
    scorer = matcher.TopicScorer(matcher.Embedder(matcher.load_model()))
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
        model = DecisionReranker().fit([features[i][j] for i, j in pairs], labels)
        learned = np.array([model.decision_function(features[i]) for i in test])
        test_ids = [a_ids[i] for i in test]
        base.append(matcher.evaluate(scores.topic.fit[test], test_ids, o_ids, languages, gold))
        reranked.append(matcher.evaluate(learned, test_ids, o_ids, languages, gold))
    print(
        f"Re-ranker on the dev set: {SPLITS} seeded splits by applicant (45 train / 45 test), "
        "mean ± standard deviation over splits.\n"
    )
    print("| group | R@5 base | R@5 re-ranked | nDCG@10 base | nDCG@10 re-ranked |")
    print("|---|---:|---:|---:|---:|")
    for group in ("alle", "de", "andere", "en", "fr", "pl", "nl", "sv"):
        cells = []
        for metric in ("recall_at_5", "ndcg_at_10"):
            for runs in (base, reranked):
                values = [getattr(r.groups[group], metric) for r in runs if group in r.groups]
                cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        print(f"| {group} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
