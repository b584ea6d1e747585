"""Batch assignment before a round: one placement per applicant, capacities, hard constraints.

Two layers, as in openreview-matcher: :func:`solve` sees only a utility matrix, an allowed mask
and capacities; :func:`assign` turns records, pinned and rejected pairs into those and the
solution back into placements, German reasons for the unplaced and alternates per offer.

The solver is exact. Each offer is expanded into one column per free place and each applicant
gets a private "stays unplaced" column of utility 0; a minimum-weight full matching of the rows
(scipy's LAPJVsp on the sparse graph) then maximises total utility. Utilities are the pair
scores (all > 0) for ``max-fit``; for ``max-placed`` each placement is worth more than all
scores together, so the count of placed applicants comes first and fit second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matcher.scoring import PairScores

MAX_ALTERNATES = 3


class Mode(StrEnum):
    """What an assignment maximises."""

    MAX_FIT = "max-fit"
    MAX_PLACED = "max-placed"


def solve(
    utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray, mode: Mode = Mode.MAX_FIT
) -> np.ndarray:
    """Optimal offer for each row: ``result[i]`` is a column index, or -1 for unplaced.

    ``utility[i, j] > 0`` is the value of placing i on j where ``allowed[i, j]``; column j takes
    at most ``capacity[j]`` rows.
    """
    n, m = utility.shape
    mode = Mode(mode)
    capacity = np.maximum(np.asarray(capacity, dtype=np.int64), 0)
    if n == 0 or capacity.sum() == 0:
        return np.full(n, -1, dtype=np.int64)
    gain = utility + (_placement_premium(utility, allowed) if mode is Mode.MAX_PLACED else 0.0)
    slot_offer = np.repeat(np.arange(m), capacity)  # slot s belongs to offer slot_offer[s]
    slot_start = np.concatenate([[0], np.cumsum(capacity)])
    ceiling = float(gain[allowed].max(initial=0.0)) + 1.0  # costs ceiling - gain are > 0
    pair_rows, pair_cols = np.nonzero(allowed & (capacity > 0)[None, :])
    n_slots = len(slot_offer)
    graph = _slot_graph(
        n=n,
        n_slots=n_slots,
        pair_rows=pair_rows,
        pair_slots=capacity[pair_cols],  # one edge per free place of the pair's offer
        first_slot=slot_start[pair_cols],
        pair_cost=ceiling - gain[pair_rows, pair_cols],
        unplaced_cost=ceiling,
    )
    _, matched = min_weight_full_bipartite_matching(graph)
    return np.where(matched < n_slots, slot_offer[np.minimum(matched, n_slots - 1)], -1)


def _slot_graph(
    *,
    n: int,
    n_slots: int,
    pair_rows: np.ndarray,
    pair_slots: np.ndarray,
    first_slot: np.ndarray,
    pair_cost: np.ndarray,
    unplaced_cost: float,
) -> csr_matrix:
    """The (n, n_slots + n) cost graph of the slot-expanded problem, as CSR.

    Pair k links row ``pair_rows[k]`` to each of its offer's ``pair_slots[k]`` slots (from
    ``first_slot[k]`` on) at ``pair_cost[k]``; column ``n_slots + i`` is row i's private
    "unplaced" column at ``unplaced_cost``, so a full matching always exists.

    ``pair_rows`` is ascending (row-major ``np.nonzero`` order), so the CSR arrays are written
    directly, each row's slots ascending and its unplaced column last: the structure a COO build
    would sort into, without sorting millions of edges.
    """
    n_pair_edges = int(pair_slots.sum())
    pair_end = np.concatenate([[0], np.cumsum(pair_slots)])
    # Edges before row i: those of the pairs of rows < i, plus one unplaced edge per such row.
    indptr = pair_end[np.searchsorted(pair_rows, np.arange(n + 1))] + np.arange(n + 1)
    unplaced = indptr[1:] - 1
    is_pair = np.ones(n_pair_edges + n, dtype=bool)
    is_pair[unplaced] = False
    # The l-th edge of pair k goes to slot first_slot[k] + l.
    indices = np.empty(n_pair_edges + n, dtype=np.int64)
    indices[is_pair] = np.arange(n_pair_edges) + np.repeat(first_slot - pair_end[:-1], pair_slots)
    indices[unplaced] = n_slots + np.arange(n)
    costs = np.empty(n_pair_edges + n, dtype=np.float64)
    costs[is_pair] = np.repeat(pair_cost, pair_slots)
    costs[unplaced] = unplaced_cost
    return csr_matrix((costs, indices, indptr), shape=(n, n_slots + n))


def _placement_premium(utility: np.ndarray, allowed: np.ndarray) -> float:
    """A bonus per placement larger than any possible sum of utilities."""
    return float(utility[allowed].clip(min=0).sum()) + 1.0


@dataclass(frozen=True)
class Placement:
    """An applicant placed on an offer; ``pinned`` marks a confirmed placement kept as it was."""

    applicant_id: str
    offer_id: str
    score: float
    pinned: bool = False


@dataclass(frozen=True)
class Unplaced:
    applicant_id: str
    reason: str


@dataclass(frozen=True)
class Assignment:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
    alternates: Mapping[str, tuple[str, ...]]
    mode: Mode

    @property
    def total_score(self) -> float:
        return float(sum(placement.score for placement in self.placements))

    def places_left(self, scores: PairScores) -> int:
        """Free places after this assignment (confirmed and proposed placements use places)."""
        proposed = sum(1 for placement in self.placements if not placement.pinned)
        return int(scores.feasibility.free_places.clip(min=0).sum()) - proposed


def assign(
    scores: PairScores,
    *,
    mode: Mode = Mode.MAX_FIT,
    rejected: Iterable[tuple[str, str]] = (),
) -> Assignment:
    """Propose placements for every applicant without a confirmed one.

    Confirmed placements (``scores.confirmed``) stay as they are and use up their places;
    ``rejected`` (applicant id, offer id) pairs are never proposed.
    """
    mode = Mode(mode)
    allowed = _allowed_pairs(scores, rejected)
    solution = solve(scores.score, allowed, scores.feasibility.free_places, mode)
    placements = [
        Placement(applicant_id, offer_id, _pair_score(scores, applicant_id, offer_id), pinned=True)
        for applicant_id, offer_id in scores.confirmed.items()
        if applicant_id in scores.applicant_index and offer_id in scores.offer_index
    ]
    placements += [
        Placement(scores.applicants[i].id, scores.offers[j].id, float(scores.score[i, j]))
        for i, j in enumerate(solution.tolist())
        if j >= 0
    ]
    unplaced = [
        Unplaced(scores.applicants[i].id, _unplaced_reason(scores, allowed, i, mode))
        for i in np.flatnonzero(solution < 0).tolist()
        if scores.applicants[i].id not in scores.confirmed
    ]
    return Assignment(
        placements=tuple(placements),
        unplaced=tuple(unplaced),
        alternates=_alternates(scores, allowed, solution),
        mode=mode,
    )


def _pair_score(scores: PairScores, applicant_id: str, offer_id: str) -> float:
    return float(scores.score[scores.applicant_index[applicant_id], scores.offer_index[offer_id]])


def _allowed_pairs(scores: PairScores, rejected: Iterable[tuple[str, str]]) -> np.ndarray:
    """Feasible pairs, minus rejected ones and rows of applicants already confirmed."""
    allowed = scores.feasibility.feasible.copy()
    for applicant_id, offer_id in rejected:
        i, j = scores.applicant_index.get(applicant_id), scores.offer_index.get(offer_id)
        if i is not None and j is not None:
            allowed[i, j] = False
    for applicant_id in scores.confirmed:
        if applicant_id in scores.applicant_index:
            allowed[scores.applicant_index[applicant_id]] = False
    return allowed


def _unplaced_reason(scores: PairScores, allowed: np.ndarray, i: int, mode: Mode) -> str:
    feasible = np.flatnonzero(scores.feasibility.feasible[i])
    options = np.flatnonzero(allowed[i])
    if len(options) == 0 and len(feasible) > 0:
        return "Alle zulässigen Angebote wurden für diese Person bereits abgelehnt."
    if len(options) == 0:
        return "Kein zulässiges Angebot: " + scores.feasibility.obstacles(i)
    best = options[np.argmax(scores.score[i, options])]
    offer = scores.offers[best]
    full = (
        "sind mit besser passenden Bewerbungen belegt"
        if mode is Mode.MAX_FIT
        else "sind belegt, damit möglichst viele Bewerbungen einen Platz bekommen"
    )
    return (
        f"Alle {len(options)} zulässigen Angebote {full}; "
        f"am besten passte {offer.id} ({offer.city}, Score {scores.score[i, best]:.2f})."
    )


def _alternates(
    scores: PairScores, allowed: np.ndarray, solution: np.ndarray
) -> dict[str, tuple[str, ...]]:
    """Up to three stand-ins per offer: unplaced applicants first, then others, by score."""
    result: dict[str, tuple[str, ...]] = {}
    unplaced = solution < 0
    for j, offer in enumerate(scores.offers):
        candidates = np.flatnonzero(allowed[:, j] & (solution != j)).tolist()
        order = sorted(candidates, key=lambda i: (not unplaced[i], -scores.score[i, j], i))
        result[offer.id] = tuple(scores.applicants[i].id for i in order[:MAX_ALTERNATES])
    return result
