"""Ranking quality against graded relevance judgements, as defined in DATA_FORMAT.md.

Offers are ranked by topic fit alone (constraints ignored). R@5: share of applicants with a
grade-3 offer in their top 5; nDCG@10 with gain 2^grade - 1 and log2 discount; MRR of the first
grade-3 offer. Each is reported overall and split by the language of the applicant's grade-3
offer: ``de``, ``andere`` (all other languages and unknown) and each language on its own; and,
where applicant languages are given, by the language of the application (``Bewerbung fi``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.errors import InvalidRecordsError, RecordProblem

Gold = Mapping[str, Mapping[str, int]]
UNKNOWN_LANGUAGE = "?"
#: Prefix of the groups by the language an application is written in.
APPLICANT_GROUP = "Bewerbung"


@dataclass(frozen=True)
class Metrics:
    applicants: int
    recall_at_5: float
    ndcg_at_10: float
    mrr: float


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics per group; ``groups["alle"]`` is the overall figure."""

    groups: Mapping[str, Metrics]


def parse_gold(data: Any, applicant_ids: Sequence[str], offer_ids: Sequence[str]) -> Gold:
    """Validate a decoded gold.json against the applicants and offers it judges."""
    problems = []
    if not isinstance(data, dict):
        raise InvalidRecordsError([RecordProblem("gold", None, None, "", "expected a JSON object")])
    known_applicants, known_offers = set(applicant_ids), set(offer_ids)
    for applicant_id, judged in data.items():
        if applicant_id not in known_applicants:
            problems.append(RecordProblem("gold", None, applicant_id, "", "unknown applicant id"))
        if not isinstance(judged, dict):
            problems.append(RecordProblem("gold", None, applicant_id, "", "expected an object"))
            continue
        for offer_id, grade in judged.items():
            if offer_id not in known_offers:
                problems.append(
                    RecordProblem("gold", None, applicant_id, offer_id, "unknown offer id")
                )
            if type(grade) is not int or not 0 <= grade <= 3:
                problems.append(
                    RecordProblem("gold", None, applicant_id, offer_id, "grade must be 0–3")
                )
    if problems:
        raise InvalidRecordsError(problems)
    return data


def evaluate(
    fit: np.ndarray,
    applicant_ids: Sequence[str],
    offer_ids: Sequence[str],
    offer_languages: Sequence[str | None],
    gold: Gold,
    applicant_languages: Sequence[str | None] = (),
) -> EvaluationReport:
    """Score the topic-fit matrix ``fit[i, j]`` (applicant i, offer j) against ``gold``.

    Applicants without a grade-3 offer are skipped: R@5 and MRR are undefined for them.
    ``applicant_languages[i]`` (optional) is the language applicant i wrote in.
    """
    language_of = {
        offer_id: language or UNKNOWN_LANGUAGE
        for offer_id, language in zip(offer_ids, offer_languages, strict=True)
    }
    rows: dict[str, list[tuple[float, float, float]]] = {"alle": []}
    for i, applicant_id in enumerate(applicant_ids):
        grades = gold.get(applicant_id, {})
        ideal = [offer_id for offer_id, grade in grades.items() if grade == 3]
        if not ideal:
            continue
        ranked = [offer_ids[j] for j in np.argsort(-fit[i], kind="stable")]
        metrics = _applicant_metrics(ranked, grades, ideal)
        languages = {language_of[offer_id] for offer_id in ideal}
        group = "de" if languages == {"de"} else "andere"
        for name in ("alle", group, *sorted(languages - {"de"})):
            rows.setdefault(name, []).append(metrics)
        if applicant_languages:
            written = applicant_languages[i] or UNKNOWN_LANGUAGE
            rows.setdefault(f"{APPLICANT_GROUP} {written}", []).append(metrics)
    return EvaluationReport(groups={name: _mean(values) for name, values in _ordered(rows)})


def _ordered(rows: dict[str, list[Any]]) -> list[tuple[str, list[Any]]]:
    """Offer-language groups as they came, then the applicant-language groups by name."""
    by_applicant = sorted(name for name in rows if name.startswith(APPLICANT_GROUP))
    return [(n, rows[n]) for n in rows if n not in by_applicant] + [
        (n, rows[n]) for n in by_applicant
    ]


def _applicant_metrics(
    ranked: list[str], grades: Mapping[str, int], ideal: list[str]
) -> tuple[float, float, float]:
    first_ideal = min(ranked.index(offer_id) for offer_id in ideal)
    gains = [2 ** grades.get(offer_id, 0) - 1 for offer_id in ranked[:10]]
    ideal_gains = sorted((2**grade - 1 for grade in grades.values()), reverse=True)[:10]
    ndcg = _dcg(gains) / _dcg(ideal_gains)
    return float(first_ideal < 5), ndcg, 1.0 / (first_ideal + 1)


def _dcg(gains: Sequence[float]) -> float:
    return float(sum(gain / np.log2(rank + 2) for rank, gain in enumerate(gains)))


def _mean(values: list[tuple[float, float, float]]) -> Metrics:
    array = np.array(values, dtype=np.float64).reshape(-1, 3)
    recall, ndcg, mrr = array.mean(axis=0) if len(array) else (0.0, 0.0, 0.0)
    return Metrics(len(array), float(recall), float(ndcg), float(mrr))
