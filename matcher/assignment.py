"""Batch assignment before a round: one placement per applicant, capacities, hard constraints.

Two layers, as in openreview-matcher: :func:`solve` sees only a utility matrix, an allowed mask
and capacities; :func:`assign` turns records, pinned and rejected pairs into those and the
solution back into placements, German reasons for the unplaced and alternates per offer.

The solver is exact. Each offer is expanded into one column per free place and each applicant
gets a private "stays unplaced" column of utility 0; a minimum-weight full matching of the rows
(scipy's LAPJVsp on the sparse graph) then maximises total utility. Utilities are the pair
scores (all > 0) for ``max-fit``; for ``max-placed`` each placement is worth more than all
scores together, so the count of placed applicants comes first and fit second.

With a :class:`~matcher.funding.Funding` that sets a budget or quotas the problem is no longer a
matching; :func:`assign` then hands the same utilities to :func:`matcher.budget.solve_limited`
(exact, with a proven gap) and explains who the budget or a quota kept out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matcher.budget import solve_limited
from matcher.funding import (
    CostReport,
    Funding,
    Groups,
    cost_matrix,
    cost_report,
    euros,
    limits_for,
)
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
    cost: float = 0.0


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
    costs: CostReport

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
    funding: Funding | None = None,
) -> Assignment:
    """Propose placements for every applicant without a confirmed one.

    Confirmed placements (``scores.confirmed``) stay as they are and use up their places, their
    share of the budget and of the quotas; ``rejected`` (applicant id, offer id) pairs are never
    proposed. ``funding`` adds the budget, quotas and the round's cost table.
    """
    mode = Mode(mode)
    funding = funding or Funding()
    allowed = _allowed_pairs(scores, rejected)
    cost = cost_matrix(scores.applicants, scores.offers, funding.city_costs)
    groups = Groups.of(scores.applicants, scores.offers)
    pinned = [
        (scores.applicant_index[applicant_id], scores.offer_index[offer_id])
        for applicant_id, offer_id in scores.confirmed.items()
        if applicant_id in scores.applicant_index and offer_id in scores.offer_index
    ]
    solution, proof = _solve(scores, allowed, mode, funding, cost, groups, pinned)
    proposed = [(i, j) for i, j in enumerate(solution.tolist()) if j >= 0]
    placements = [_placement(scores, cost, i, j, pinned=True) for i, j in pinned]
    placements += [_placement(scores, cost, i, j, pinned=False) for i, j in proposed]
    usage = _Usage.of(scores, funding, cost, groups, pinned + proposed)
    unplaced = [
        Unplaced(scores.applicants[i].id, _unplaced_reason(scores, allowed, i, mode, usage))
        for i in np.flatnonzero(solution < 0).tolist()
        if scores.applicants[i].id not in scores.confirmed
    ]
    return Assignment(
        placements=tuple(placements),
        unplaced=tuple(unplaced),
        alternates=_alternates(scores, allowed, solution),
        mode=mode,
        costs=cost_report(pinned + proposed, cost, groups, funding, **proof),
    )


def _solve(
    scores: PairScores,
    allowed: np.ndarray,
    mode: Mode,
    funding: Funding,
    cost: np.ndarray,
    groups: Groups,
    pinned: list[tuple[int, int]],
) -> tuple[np.ndarray, dict[str, float]]:
    """The solution and its proof (gap, bound, seconds, fit lost to the budget)."""
    free_places = scores.feasibility.free_places
    if not funding.limits_anything:
        solution = solve(scores.score, allowed, free_places, mode)
        value = _score_of(scores, solution)
        return solution, {"fit_lost": 0.0, "gap": 0.0, "bound": value, "seconds": 0.0}
    gain = scores.score + (
        _placement_premium(scores.score, allowed) if mode is Mode.MAX_PLACED else 0.0
    )
    limits = limits_for(funding, cost, groups, pinned)
    result = solve_limited(gain, allowed, free_places, limits, time_limit=funding.time_limit)
    fit_lost = 0.0
    if funding.budget is not None:
        unfunded = limits_for(funding, cost, groups, pinned, with_budget=False)
        without = (
            solve_limited(
                gain, allowed, free_places, unfunded, time_limit=funding.time_limit
            ).choice
            if unfunded.binding
            else solve(scores.score, allowed, free_places, mode)
        )
        fit_lost = _score_of(scores, without) - _score_of(scores, result.choice)
    proof = {"fit_lost": fit_lost, "gap": result.gap, "bound": result.bound}
    return result.choice, proof | {"seconds": result.seconds}


def _score_of(scores: PairScores, solution: np.ndarray) -> float:
    placed = np.flatnonzero(solution >= 0)
    return float(scores.score[placed, solution[placed]].sum())


def _placement(scores: PairScores, cost: np.ndarray, i: int, j: int, *, pinned: bool) -> Placement:
    return Placement(
        scores.applicants[i].id,
        scores.offers[j].id,
        float(scores.score[i, j]),
        pinned=pinned,
        cost=float(cost[i, j]),
    )


@dataclass(frozen=True)
class _Usage:
    """What the proposal uses up: places per offer, quota counts and the budget left."""

    funding: Funding
    cost: np.ndarray
    groups: Groups
    full: np.ndarray
    agency_count: np.ndarray
    city_count: np.ndarray
    budget_left: float

    @classmethod
    def of(
        cls,
        scores: PairScores,
        funding: Funding,
        cost: np.ndarray,
        groups: Groups,
        placed: list[tuple[int, int]],
    ) -> _Usage:
        rows = np.array([i for i, _ in placed], dtype=np.intp)
        cols = np.array([j for _, j in placed], dtype=np.intp)
        # free_places already excludes confirmed placements: count proposals only.
        proposed = [j for i, j in placed if scores.applicants[i].id not in scores.confirmed]
        load = np.bincount(np.array(proposed, dtype=np.intp), minlength=len(scores.offers))
        spent = float(cost[rows, cols].sum())
        return cls(
            funding=funding,
            cost=cost,
            groups=groups,
            full=load >= scores.feasibility.free_places,
            agency_count=np.bincount(groups.applicant_agency[rows], minlength=len(groups.agencies)),
            city_count=np.bincount(groups.offer_city[cols], minlength=len(groups.cities)),
            budget_left=np.inf if funding.budget is None else funding.budget - spent,
        )

    def agency_quota_reason(self, i: int) -> str | None:
        quota = self.funding.agency_quota
        agency = self.groups.applicant_agency[i]
        if quota is None or self.agency_count[agency] < quota:
            return None
        return f"Quote für {self.groups.agencies[agency]} ({quota}) erreicht."

    def city_full(self, j: int) -> bool:
        city = self.groups.cities[self.groups.offer_city[j]]
        quota = self.funding.city_quotas.get(city)
        return quota is not None and self.city_count[self.groups.offer_city[j]] >= quota

    def limit_reason(self, scores: PairScores, i: int, options: np.ndarray) -> str | None:
        """The budget or a city quota, if one of them alone kept i from a free place."""
        open_ = [j for j in options.tolist() if not self.full[j]]
        too_dear = [
            j for j in open_ if not self.city_full(j) and self.cost[i, j] > self.budget_left
        ]
        if too_dear:
            j = too_dear[0]
            offer = scores.offers[j]
            return (
                f"Budget ausgeschöpft: der Platz in {offer.city} ({euros(self.cost[i, j])}) "
                f"hätte andere Platzierungen verdrängt; übrig sind {euros(self.budget_left)} "
                f"(bestes Angebot {offer.id}, Score {scores.score[i, j]:.2f})."
            )
        capped = [j for j in open_ if self.city_full(j)]
        if capped:
            city = scores.offers[capped[0]].city
            return f"Quote für {city} ({self.funding.city_quotas[city]}) erreicht."
        return None


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


def _unplaced_reason(
    scores: PairScores, allowed: np.ndarray, i: int, mode: Mode, usage: _Usage
) -> str:
    feasible = np.flatnonzero(scores.feasibility.feasible[i])
    options = np.flatnonzero(allowed[i])
    if len(options) == 0 and len(feasible) > 0:
        return "Alle zulässigen Angebote wurden für diese Person bereits abgelehnt."
    if len(options) == 0:
        return "Kein zulässiges Angebot: " + scores.feasibility.obstacles(i)
    options = options[np.argsort(-scores.score[i, options], kind="stable")]
    limit = usage.agency_quota_reason(i) or usage.limit_reason(scores, i, options)
    if limit is not None:
        return limit
    best = options[0]
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
