"""Exact assignment under a total budget and placement quotas, with a proven optimality gap.

Without the budget the problem is a min-cost flow (source → agency → applicant → offer → city →
sink; quotas and capacities are arc capacities), so its LP relaxation has integral vertices. The
budget is one side constraint on top. :func:`solve_limited` uses that structure instead of handing
one binary per pair to a MILP solver:

1. **Core LP with pricing.** The LP relaxation is solved on a small core of pairs (the best few
   per applicant, by fit and by fit per euro); the duals price every allowed pair in one
   vectorised pass and pairs with positive reduced cost join the core until none is left. The
   duals give the bound ``y·b + Σ_i max(0, max_j rc_ij)``, valid for every integer solution.
2. **Primal.** The LP vertex lies on an edge of the flow polytope (one budget row), between two
   integral flows: its integral part, then a greedy fill by reduced cost within every limit, is
   a feasible solution (lower bound).
3. **Reduced-cost fixing.** For any feasible x, ``u·x ≤ bound + rc·x`` with ``rc ≤ 0``: a solution
   better than the primal uses only pairs with ``rc_ij > primal − bound``. A MILP (HiGHS through
   ``highspy``, started from the primal) over just those pairs is therefore exact for the whole
   problem; it is a few hundred to a few thousand binaries instead of one per allowed pair.
   (The MILP first gets the pairs near zero reduced cost; if its solution leaves a larger gap to
   the bound than that reach covers, the reach grows and the MILP runs again.)

Measured (BENCHMARKS.md section 8, binding budget and agency quotas): 1 000 x 500 solved to a
proven gap of 0 about 100× faster than one plain HiGHS MILP over all 150 000 pairs.

The MILP stops at ``time_limit``; the result then carries the best solution and the gap proven.
The solver sees matrices and capacities only; ids and records stay in :mod:`matcher.assignment`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

#: Pairs per applicant in the first core, by fit and again by fit per euro.
CORE_PER_ROW = 6
#: Reduced costs above this count as positive (LP tolerances are around 1e-9).
PRICE_TOLERANCE = 1e-9
#: Relative gap at which the MILP over the remaining pairs may stop.
MILP_GAP = 1e-9
NO_LIMIT = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Limits:
    """Side constraints of an assignment, as arrays; shapes follow the (n, m) utility matrix.

    ``cost[i, j]`` is what placing row i on column j costs (≥ 0); ``budget`` caps the total
    (None: no budget). Row i belongs to row group ``row_group[i]`` (an agency) that takes at
    most ``row_group_cap[g]`` rows; column j to column group ``column_group[j]`` (a city) that
    takes at most ``column_group_cap[k]`` rows. Use :data:`NO_LIMIT` for groups without a cap.
    """

    cost: np.ndarray
    budget: float | None
    row_group: np.ndarray
    row_group_cap: np.ndarray
    column_group: np.ndarray
    column_group_cap: np.ndarray

    @property
    def binding(self) -> bool:
        """Whether any limit beyond capacities is set."""
        return (
            self.budget is not None
            or bool((self.row_group_cap < NO_LIMIT).any())
            or bool((self.column_group_cap < NO_LIMIT).any())
        )


@dataclass(frozen=True)
class LimitedSolution:
    """``choice[i]`` is row i's column or -1; ``bound`` is a proven upper bound on the optimum."""

    choice: np.ndarray
    objective: float
    bound: float
    seconds: float
    milp_pairs: int

    @property
    def gap(self) -> float:
        """Proven relative optimality gap, (bound − objective) / max(|bound|, 1).

        Below a total of 1 the gap is absolute: LP tolerances (~1e-9) are absolute too.
        """
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1.0)


@dataclass(frozen=True)
class _Pairs:
    """The allowed pairs as parallel arrays: pair k puts row ``row[k]`` on column ``col[k]``."""

    row: np.ndarray
    col: np.ndarray
    utility: np.ndarray
    cost: np.ndarray


class _Problem:
    """The LP/MILP rows shared by every subproblem: applicants, offers, agencies, cities, budget."""

    def __init__(self, n: int, m: int, capacity: np.ndarray, limits: Limits) -> None:
        self.n, self.m, self.limits = n, m, limits
        self.row_caps = np.flatnonzero(limits.row_group_cap < NO_LIMIT)
        self.column_caps = np.flatnonzero(limits.column_group_cap < NO_LIMIT)
        self.upper = np.concatenate(
            [
                np.ones(n),
                capacity.astype(np.float64),
                limits.row_group_cap[self.row_caps].astype(np.float64),
                limits.column_group_cap[self.column_caps].astype(np.float64),
                [limits.budget] if limits.budget is not None else [],
            ]
        )
        # Constraint index of each row group / column group, or -1 when it has no cap.
        self._row_group_at = np.full(len(limits.row_group_cap), -1)
        self._row_group_at[self.row_caps] = n + m + np.arange(len(self.row_caps))
        self._column_group_at = np.full(len(limits.column_group_cap), -1)
        start = n + m + len(self.row_caps)
        self._column_group_at[self.column_caps] = start + np.arange(len(self.column_caps))

    def matrix(self, pairs: _Pairs) -> sparse.csc_matrix:
        """Constraint matrix with one column per pair."""
        k = np.arange(len(pairs.row))
        entries = [(pairs.row, k), (self.n + pairs.col, k)]
        for at in (
            self._row_group_at[self.limits.row_group[pairs.row]],
            self._column_group_at[self.limits.column_group[pairs.col]],
        ):
            entries.append((at[at >= 0], k[at >= 0]))
        rows = [r for r, _ in entries]
        cols = [c for _, c in entries]
        values = [np.ones(len(r)) for r in rows]
        if self.limits.budget is not None:
            rows.append(np.full(len(k), len(self.upper) - 1))
            cols.append(k)
            values.append(pairs.cost)
        return sparse.csc_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(self.upper), len(k)),
        )

    def reduced_costs(self, pairs: _Pairs, duals: np.ndarray) -> np.ndarray:
        """rc_k = utility_k − (dual prices of every row pair k uses); duals ≥ 0."""
        price = duals[pairs.row] + duals[self.n + pairs.col]
        for at in (
            self._row_group_at[self.limits.row_group[pairs.row]],
            self._column_group_at[self.limits.column_group[pairs.col]],
        ):
            price = price + np.where(at >= 0, duals[np.maximum(at, 0)], 0.0)
        if self.limits.budget is not None:
            price = price + duals[-1] * pairs.cost
        reduced: np.ndarray = pairs.utility - price
        return reduced

    def bound(self, pairs: _Pairs, duals: np.ndarray, reduced: np.ndarray) -> float:
        """Lagrangian upper bound y·b + Σ_i max(0, max_k rc_k) over all pairs; valid always."""
        best = np.zeros(self.n)
        np.maximum.at(best, pairs.row, reduced)
        return float(duals @ self.upper + best.sum())


def solve_limited(
    utility: np.ndarray,
    allowed: np.ndarray,
    capacity: np.ndarray,
    limits: Limits,
    *,
    time_limit: float = 60.0,
) -> LimitedSolution:
    """Maximise total ``utility`` (all > 0) over allowed pairs within capacities and limits."""
    started = time.perf_counter()
    n, m = utility.shape
    capacity = np.maximum(np.asarray(capacity, dtype=np.int64), 0)
    pairs = _allowed_pairs(utility, allowed, capacity, limits)
    problem = _Problem(n, m, capacity, limits)
    if len(pairs.row) == 0:
        return LimitedSolution(np.full(n, -1), 0.0, 0.0, time.perf_counter() - started, 0)
    relaxed = _price_and_solve(problem, pairs)
    bound = relaxed.bound
    near_reach = _kth_largest(relaxed.reduced, 4 * n + 100)
    near = np.flatnonzero(relaxed.reduced >= -near_reach)
    near = near[np.argsort(-relaxed.reduced[near], kind="stable")]
    chosen = _greedy_fill(pairs, relaxed.integral, near, n, capacity, limits)
    lower = float(pairs.utility[chosen].sum())
    tolerance = 1e-9 * max(abs(bound), 1.0)
    milp_pairs = 0
    # Grow the pairs the MILP may use until they hold every pair an improvement would need.
    reach = max(min(relaxed.value - lower, near_reach), 0.0)
    while bound - lower > tolerance:
        remaining = time_limit - (time.perf_counter() - started)
        candidates = np.flatnonzero(relaxed.reduced > -reach - tolerance)
        if len(candidates) == 0:  # every solution with a pair is worth at most value - reach
            bound = min(bound, max(lower, relaxed.value - reach))
            break
        milp_pairs = len(candidates)
        incumbent = np.flatnonzero(np.isin(candidates, chosen))
        picked, value, subset_bound = _solve_milp(
            problem, _subset(pairs, candidates), incumbent, remaining
        )
        if value > lower:
            chosen, lower = candidates[picked], value
        # A solution using a pair outside the candidates is worth at most value - reach.
        bound = min(bound, max(subset_bound, relaxed.value - reach, lower))
        needed = relaxed.value - lower
        if needed <= reach + tolerance or time.perf_counter() - started >= time_limit:
            break
        reach = needed
    choice = np.full(n, -1, dtype=np.int64)
    choice[pairs.row[chosen]] = pairs.col[chosen]
    objective = float(pairs.utility[chosen].sum())
    return LimitedSolution(
        choice, objective, max(bound, objective), time.perf_counter() - started, milp_pairs
    )


@dataclass(frozen=True)
class _Relaxation:
    """The LP relaxation over all pairs, solved on a core: value y·b, bound, reduced costs."""

    value: float
    bound: float
    reduced: np.ndarray
    integral: np.ndarray


def _price_and_solve(problem: _Problem, pairs: _Pairs) -> _Relaxation:
    """Solve the LP on a growing core until no pair outside it has a positive reduced cost.

    The first core is solved by interior point (with crossover to a vertex); entering pairs are
    added as columns to the same model, so every later solve is a warm-started simplex.
    """
    core = _first_core(pairs, problem.n)
    highs = _highs(problem, _subset(pairs, core), integer=False)
    highs.setOptionValue("solver", "ipm")
    while True:
        _run(highs)
        solution = highs.getSolution()
        duals = -np.asarray(solution.row_dual)
        reduced = problem.reduced_costs(pairs, duals)
        entering = np.setdiff1d(np.flatnonzero(reduced > PRICE_TOLERANCE), core)
        if len(entering) == 0:
            break
        entering = entering[np.argsort(-reduced[entering])[: 4 * problem.n + 10]]
        _add_columns(highs, problem.matrix(_subset(pairs, entering)), -pairs.utility[entering])
        highs.setOptionValue("solver", "simplex")
        core = np.concatenate([core, entering])
    x = np.asarray(solution.col_value)
    return _Relaxation(
        value=float(duals @ problem.upper),
        bound=problem.bound(pairs, duals, reduced),
        reduced=reduced,
        integral=core[x > 1 - 1e-6],
    )


def _kth_largest(values: np.ndarray, k: int) -> float:
    """Minus the k-th largest value: the reach that takes about k pairs in."""
    if len(values) <= k:
        return float(-values.min())
    return float(-np.partition(values, len(values) - k)[len(values) - k])


def _allowed_pairs(
    utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray, limits: Limits
) -> _Pairs:
    """Allowed pairs that could be used at all: free place, open quotas, cost within budget."""
    usable = allowed & (capacity > 0)[None, :]
    usable &= (limits.row_group_cap[limits.row_group] > 0)[:, None]
    usable &= (limits.column_group_cap[limits.column_group] > 0)[None, :]
    if limits.budget is not None:
        usable &= limits.cost <= limits.budget
    row, col = np.nonzero(usable)
    return _Pairs(row, col, utility[row, col].astype(np.float64), limits.cost[row, col] * 1.0)


def _subset(pairs: _Pairs, index: np.ndarray) -> _Pairs:
    return _Pairs(pairs.row[index], pairs.col[index], pairs.utility[index], pairs.cost[index])


def _first_core(pairs: _Pairs, n: int) -> np.ndarray:
    """The best ``CORE_PER_ROW`` pairs of each row by utility and by utility per unit of cost."""
    picked = [_top_per_row(pairs.row, pairs.utility, n)]
    if pairs.cost.any():
        picked.append(_top_per_row(pairs.row, pairs.utility / (pairs.cost + 1.0), n))
    return np.unique(np.concatenate(picked))


def _top_per_row(row: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``CORE_PER_ROW`` largest values within each row (``row`` ascending)."""
    order = np.lexsort((-value, row))
    starts = np.searchsorted(row[order], np.arange(n))
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    return order[rank < CORE_PER_ROW]


def _highs(problem: _Problem, pairs: _Pairs, *, integer: bool) -> highspy.Highs:
    """A quiet HiGHS model: minimise −utility over the pairs, rows ≤ ``problem.upper``."""
    matrix = problem.matrix(pairs)
    k = len(pairs.row)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = k, len(problem.upper)
    lp.col_cost_ = -pairs.utility
    lp.col_lower_ = np.zeros(k)
    lp.col_upper_ = np.ones(k) if integer else np.full(k, highspy.kHighsInf)
    lp.row_lower_ = np.full(len(problem.upper), -highspy.kHighsInf)
    lp.row_upper_ = problem.upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * k
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("random_seed", 0)
    highs.passModel(lp)
    return highs


def _add_columns(highs: highspy.Highs, matrix: sparse.csc_matrix, cost: np.ndarray) -> None:
    k = matrix.shape[1]
    highs.addCols(
        k,
        cost,
        np.zeros(k),
        np.full(k, highspy.kHighsInf),
        matrix.nnz,
        matrix.indptr[:-1].astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
    )


def _run(highs: highspy.Highs) -> None:
    highs.run()
    status = highs.getModelStatus()
    if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit):
        raise RuntimeError(f"HiGHS: {highs.modelStatusToString(status)}")


def _solve_milp(
    problem: _Problem, pairs: _Pairs, incumbent: np.ndarray, time_limit: float
) -> tuple[np.ndarray, float, float]:
    """Best subset of ``pairs`` (indices), its value and HiGHS's proven bound for the subset.

    ``incumbent`` (indices into ``pairs``, feasible) starts the search, so HiGHS prunes with it
    from the first node and a stop at the time limit returns at least it.
    """
    highs = _highs(problem, pairs, integer=True)
    highs.setOptionValue("time_limit", max(time_limit, 0.1))
    highs.setOptionValue("mip_rel_gap", MILP_GAP)
    start = np.zeros(len(pairs.row))
    start[incumbent] = 1.0
    solution = highspy.HighsSolution()
    solution.col_value = start
    solution.value_valid = True
    highs.setSolution(solution)
    _run(highs)
    picked = np.flatnonzero(np.asarray(highs.getSolution().col_value) > 0.5)
    # HiGHS checks rows within its tolerance; the rounded picks must keep them exactly.
    if not _keeps_rows(problem, pairs, picked):
        picked = incumbent
    value = float(pairs.utility[picked].sum())
    dual_bound = -float(highs.getInfo().mip_dual_bound)
    return picked, value, dual_bound if np.isfinite(dual_bound) else np.inf


def _keeps_rows(problem: _Problem, pairs: _Pairs, picked: np.ndarray) -> bool:
    x = np.zeros(len(pairs.row))
    x[picked] = 1.0
    return bool((problem.matrix(pairs) @ x <= problem.upper).all())


def _greedy_fill(
    pairs: _Pairs,
    start: np.ndarray,
    order: np.ndarray,
    n: int,
    capacity: np.ndarray,
    limits: Limits,
) -> np.ndarray:
    """``start`` (feasible) plus ``order``'s pairs in turn, while every limit holds."""
    load = np.bincount(pairs.col[start], minlength=len(capacity))
    row_groups = np.bincount(
        limits.row_group[pairs.row[start]], minlength=len(limits.row_group_cap)
    )
    column_groups = np.bincount(
        limits.column_group[pairs.col[start]], minlength=len(limits.column_group_cap)
    )
    spent = float(pairs.cost[start].sum())
    budget = np.inf if limits.budget is None else limits.budget
    placed = np.zeros(n, dtype=bool)
    placed[pairs.row[start]] = True
    chosen = list(start.tolist())
    for k in order.tolist():
        i, j = int(pairs.row[k]), int(pairs.col[k])
        g, c = limits.row_group[i], limits.column_group[j]
        if (
            placed[i]
            or load[j] >= capacity[j]
            or row_groups[g] >= limits.row_group_cap[g]
            or column_groups[c] >= limits.column_group_cap[c]
            or spent + pairs.cost[k] > budget
        ):
            continue
        placed[i] = True
        load[j] += 1
        row_groups[g] += 1
        column_groups[c] += 1
        spent += float(pairs.cost[k])
        chosen.append(k)
    return np.asarray(chosen, dtype=np.int64)
