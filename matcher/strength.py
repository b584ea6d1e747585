"""Match strength: a calibrated label per pair („sehr gut“, „gut“, „schwach“) and near misses.

A score of 0.7 reads as "70 % passend" although places 2–5 of many shortlists are unrelated; a
label says what the number means. The label comes from two thresholds on the calibrated topic
fit (``TopicFit.fit``, cosine units), fitted on the graded development set by
``benchmarks/strength_thresholds.py`` and stored in ``resources/strength_thresholds.json``
together with the id of the model they were fitted for: another model has other fits, so
:func:`load_thresholds` refuses a model the file does not name instead of guessing.

Each threshold maximises Youden's J (true-positive rate minus false-positive rate) on the dev
set's pairs: ``gut`` separates pairs of grade ≥ 1 from grade 0, ``sehr gut`` grade 3 from
grades 0–2. The dev-set shares the labels reach are a benchmark section (``strength``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files

import numpy as np

from matcher.errors import MatcherError
from matcher.scoring import PairScores

RESOURCE = "strength_thresholds.json"


class Strength(StrEnum):
    """How well a pair fits by topic, weakest first in :data:`ORDER`."""

    SEHR_GUT = "sehr gut"
    GUT = "gut"
    SCHWACH = "schwach"


#: Strengths by level: ``ORDER[k]`` is level k.
ORDER: tuple[Strength, ...] = (Strength.SCHWACH, Strength.GUT, Strength.SEHR_GUT)


class StrengthNotCalibratedError(MatcherError):
    """The stored thresholds were fitted for another embedding model than the one in use."""


@dataclass(frozen=True)
class StrengthThresholds:
    """Lower bounds of the topic fit: ``gut ≤ fit < sehr_gut`` is „gut“, below ``gut`` „schwach“."""

    model_id: str
    gut: float
    sehr_gut: float

    def levels(self, fit: np.ndarray) -> np.ndarray:
        """Same shape as ``fit``: 0 schwach, 1 gut, 2 sehr gut (an index into :data:`ORDER`)."""
        return (np.asarray(fit) >= self.gut).astype(np.int8) + (np.asarray(fit) >= self.sehr_gut)

    def label(self, fit: float) -> Strength:
        """The label of one topic fit."""
        return ORDER[int(self.levels(np.array(fit)))]

    def at_least(self, fit: np.ndarray, minimum: Strength | None) -> np.ndarray:
        """Bool mask of pairs labelled ``minimum`` or better; all True without a minimum."""
        if minimum is None:
            return np.ones(np.shape(fit), dtype=bool)
        return self.levels(fit) >= ORDER.index(Strength(minimum))


def youden_threshold(values: np.ndarray, positive: np.ndarray) -> float:
    """The cut ``t`` maximising TPR - FPR of "value ≥ t", midway between neighbouring values."""
    order = np.argsort(-values, kind="stable")
    ordered, labels = values[order], positive[order]
    tpr = np.cumsum(labels) / max(int(labels.sum()), 1)
    fpr = np.cumsum(~labels) / max(int((~labels).sum()), 1)
    # Only cut between distinct values, so ties fall on one side together.
    distinct = np.append(ordered[:-1] > ordered[1:], True)
    k = int(np.argmax(np.where(distinct, tpr - fpr, -np.inf)))
    below = ordered[k + 1] if k + 1 < len(ordered) else ordered[k] - 1e-6
    return float((ordered[k] + below) / 2)


def fit_thresholds(fit: np.ndarray, grades: np.ndarray, model_id: str) -> StrengthThresholds:
    """Fit both thresholds on pairs with graded gold (``grades[i, j]`` 0–3, same shape as fit)."""
    values, grades = np.ravel(fit), np.ravel(grades)
    return StrengthThresholds(
        model_id=model_id,
        gut=youden_threshold(values, grades >= 1),
        sehr_gut=youden_threshold(values, grades >= 3),
    )


def thresholds_json(fitted: Sequence[StrengthThresholds], fitted_on: str) -> str:
    """The resource file's text: thresholds per embedding model and the data they came from."""
    return json.dumps(
        {
            "fitted_on": fitted_on,
            "models": [
                {"model_id": t.model_id, "gut": round(t.gut, 6), "sehr_gut": round(t.sehr_gut, 6)}
                for t in fitted
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


@cache
def load_thresholds(model_id: str) -> StrengthThresholds:
    """The bundled thresholds fitted for ``model_id`` (a model or an ensemble); else an error."""
    stored = json.loads((files("matcher") / "resources" / RESOURCE).read_text("utf-8"))
    for entry in stored["models"]:
        if entry["model_id"] == model_id:
            return StrengthThresholds(model_id, float(entry["gut"]), float(entry["sehr_gut"]))
    known = ", ".join(entry["model_id"] for entry in stored["models"])
    raise StrengthNotCalibratedError(
        f"Die Schwellen der Passungsstärke gelten für {known}, nicht für {model_id}: "
        "python -m benchmarks.strength_thresholds neu ausführen."
    )


def near_miss(
    scores: PairScores,
    i: int,
    strong: np.ndarray,
    minimum: Strength | None,
    excluded: Iterable[int] = (),
) -> str | None:
    """Why applicant i got no place, told by the best offer that fails exactly one condition.

    ``strong[i, j]`` says the pair reaches the round's minimum strength; ``excluded`` are
    columns never to name (rejected pairs). None if no offer fails one condition only.
    """
    failures = _failures(scores, i, strong)
    count = np.sum(list(failures.values()), axis=0)
    candidates = np.flatnonzero(count == 1)
    candidates = candidates[~np.isin(candidates, list(excluded))]
    if len(candidates) == 0:
        return None
    j = int(candidates[np.argmax(scores.topic.fit[i, candidates])])
    why = (
        f"Themenbezug unter „{minimum}“, dem Mindestwert der Runde"
        if failures["strength"][j]
        else scores.feasibility.reasons(i, j)[0].rstrip(".")
    )
    offer = scores.offers[j]
    return (
        f"{scores.applicants[i].id} passt am besten zu {offer.id} ({offer.city}), "
        f"scheitert nur an: {why}."
    )


def _failures(scores: PairScores, i: int, strong: np.ndarray) -> Mapping[str, np.ndarray]:
    """Per condition, the (m,) offers where it fails for applicant i."""
    feasibility = scores.feasibility
    return {
        "language": ~feasibility.language[i],
        "weeks": ~feasibility.weeks[i],
        "dates": ~feasibility.dates[i],
        "capacity": feasibility.free_places <= 0,
        "strength": ~strong[i],
    }
