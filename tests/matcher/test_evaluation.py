"""Ranking-quality metrics on hand-computed examples, and validation of gold judgements."""

from __future__ import annotations

from math import log2
from typing import Any

import numpy as np
import pytest

from matcher import InvalidRecordsError, Metrics, evaluate, parse_gold

OFFER_IDS = ["O1", "O2", "O3", "O4"]
OFFER_LANGUAGES = ["de", "en", "fr", "de"]
APPLICANT_IDS = ["A1", "A2", "A3"]
FIT = np.array(
    [
        [0.9, 0.8, 0.1, 0.2],  # ranking O1 O2 O4 O3
        [0.1, 0.2, 0.3, 0.4],  # ranking O4 O3 O2 O1
        [0.5, 0.1, 0.2, 0.3],  # ranking O1 O4 O3 O2
    ]
)
GOLD = {
    "A1": {"O2": 3, "O1": 1},  # ideal in English, at rank 2
    "A2": {"O1": 3, "O4": 2},  # ideal in German, at rank 4
    "A3": {"O3": 3},  # ideal in French, at rank 3
}

# nDCG by hand: gain 2^g - 1 (1, 3, 7), discount log2(rank + 1).
NDCG_A1 = (1 / log2(2) + 7 / log2(3)) / (7 / log2(2) + 1 / log2(3))
NDCG_A2 = (3 / log2(2) + 7 / log2(5)) / (7 / log2(2) + 3 / log2(3))
NDCG_A3 = (7 / log2(4)) / (7 / log2(2))
MRR_A1, MRR_A2, MRR_A3 = 1 / 2, 1 / 4, 1 / 3


def _approx(metrics: Metrics, applicants: int, recall: float, ndcg: float, mrr: float) -> None:
    assert metrics.applicants == applicants
    assert metrics.recall_at_5 == pytest.approx(recall, abs=1e-12)
    assert metrics.ndcg_at_10 == pytest.approx(ndcg, abs=1e-12)
    assert metrics.mrr == pytest.approx(mrr, abs=1e-12)


def test_hand_computed_values_are_what_they_claim() -> None:
    assert round(NDCG_A1, 5) == 0.70981
    assert round(NDCG_A2, 5) == 0.67636
    assert NDCG_A3 == 0.5


def test_metrics_overall_and_by_language_group() -> None:
    report = evaluate(FIT, APPLICANT_IDS, OFFER_IDS, OFFER_LANGUAGES, GOLD)
    assert set(report.groups) == {"alle", "de", "andere", "en", "fr"}
    _approx(
        report.groups["alle"],
        3,
        1.0,
        (NDCG_A1 + NDCG_A2 + NDCG_A3) / 3,
        (MRR_A1 + MRR_A2 + MRR_A3) / 3,
    )
    _approx(report.groups["de"], 1, 1.0, NDCG_A2, MRR_A2)
    _approx(report.groups["andere"], 2, 1.0, (NDCG_A1 + NDCG_A3) / 2, (MRR_A1 + MRR_A3) / 2)
    _approx(report.groups["en"], 1, 1.0, NDCG_A1, MRR_A1)
    _approx(report.groups["fr"], 1, 1.0, NDCG_A3, MRR_A3)


def test_applicants_without_an_ideal_offer_are_skipped() -> None:
    gold = {**GOLD, "A3": {"O1": 2}}
    report = evaluate(FIT, APPLICANT_IDS, OFFER_IDS, OFFER_LANGUAGES, gold)
    assert report.groups["alle"].applicants == 2
    assert "fr" not in report.groups


def test_recall_counts_only_the_top_five_and_ndcg_only_the_top_ten() -> None:
    offer_ids = [f"O{k}" for k in range(12)]
    fit = -np.arange(12, dtype=np.float64)[None, :]  # ranking O0, O1, …, O11
    # Ideal offer at rank 6 (outside top 5); a grade-2 offer at rank 11 (outside top 10).
    gold = {"A": {"O5": 3, "O10": 2}}
    report = evaluate(fit, ["A"], offer_ids, ["de"] * 12, gold)
    _approx(report.groups["alle"], 1, 0.0, (7 / log2(7)) / (7 + 3 / log2(3)), 1 / 6)


def test_unknown_offer_language_counts_as_other() -> None:
    report = evaluate(FIT[:1], ["A1"], OFFER_IDS, ["de", None, "fr", "de"], {"A1": {"O2": 3}})
    assert set(report.groups) == {"alle", "andere", "?"}


def test_ties_keep_input_order() -> None:
    fit = np.zeros((1, 4))
    report = evaluate(fit, ["A1"], OFFER_IDS, OFFER_LANGUAGES, {"A1": {"O3": 3}})
    assert report.groups["alle"].mrr == pytest.approx(1 / 3)


def test_parse_gold_accepts_valid_judgements() -> None:
    gold = {"A1": {"O1": 3, "O2": 0}, "A2": {}}
    assert parse_gold(gold, APPLICANT_IDS, OFFER_IDS) == gold


@pytest.mark.parametrize(
    ("gold", "record_id", "field", "message"),
    [
        ({"A9": {"O1": 3}}, "A9", "", "unknown applicant id"),
        ({"A1": {"O9": 3}}, "A1", "O9", "unknown offer id"),
        ({"A1": {"O1": 4}}, "A1", "O1", "grade must be 0–3"),
        ({"A1": {"O1": -1}}, "A1", "O1", "grade must be 0–3"),
        ({"A1": {"O1": 2.0}}, "A1", "O1", "grade must be 0–3"),
        ({"A1": {"O1": "3"}}, "A1", "O1", "grade must be 0–3"),
        ({"A1": {"O1": True}}, "A1", "O1", "grade must be 0–3"),
        ({"A1": ["O1"]}, "A1", "", "expected an object"),
    ],
)
def test_parse_gold_rejects(gold: dict[str, Any], record_id: str, field: str, message: str) -> None:
    with pytest.raises(InvalidRecordsError) as caught:
        parse_gold(gold, APPLICANT_IDS, OFFER_IDS)
    assert [(p.record_id, p.field, p.message) for p in caught.value.problems] == [
        (record_id, field, message)
    ]


def test_parse_gold_reports_every_problem() -> None:
    gold = {"A9": {"O1": 3}, "A1": {"O9": 7}}
    with pytest.raises(InvalidRecordsError) as caught:
        parse_gold(gold, APPLICANT_IDS, OFFER_IDS)
    assert [p.message for p in caught.value.problems] == [
        "unknown applicant id",
        "unknown offer id",
        "grade must be 0–3",
    ]


def test_parse_gold_rejects_a_non_object() -> None:
    with pytest.raises(InvalidRecordsError):
        parse_gold([{"A1": {"O1": 3}}], APPLICANT_IDS, OFFER_IDS)
