"""Batch assignment at scale: ``matcher.solve`` against independent exact solvers, same problems.

Seeded random problems (applicants x offers, capacities 1–3, about 30 % of pairs allowed,
utilities uniform in (0.05, 0.95) like pair scores). ``max-fit``: the objective of
``matcher.solve`` against scipy's MILP (HiGHS, sparse constraints over the allowed pairs) where
that finishes in reasonable time, and against ``scipy.optimize.linear_sum_assignment`` on the
dense slot-expanded matrix at every size. ``max-placed``: placed count against the maximum
matching of the slot-expanded graph (``scipy.sparse.csgraph.maximum_bipartite_matching``).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import numpy as np
from pyinstrument import Profiler
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp
from scipy.sparse.csgraph import maximum_bipartite_matching, min_weight_full_bipartite_matching

from benchmarks.common import PLOTS, Section, Timing, measure, met, table
from matcher import Mode, solve
from matcher.assignment import _slot_graph

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TITLE = "5. Batch assignment at scale"
SIZES = ((100, 50), (1_000, 500), (5_000, 2_000))
ALLOWED_SHARE = 0.3
REPEATS = 3
#: HiGHS needs ~10–25 s at 1 000 x 500 (150 000 binaries) here; at 5 000 x 2 000 (3 million)
#: its presolve alone ran over 5 minutes in a trial run, so the MILP stops at this many pairs.
MILP_MAX_PAIRS = 200_000
#: Objectives are sums of thousands of floats in different orders: equal means within this.
GAP_TOLERANCE = 1e-9


def problem(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """utility (n, m), allowed (n, m) bool, capacity (m,) in 1–3; seeded."""
    rng = np.random.default_rng(seed)
    utility = rng.uniform(0.05, 0.95, size=(n, m))
    allowed = rng.random((n, m)) < ALLOWED_SHARE
    capacity = rng.integers(1, 4, size=m)
    return utility, allowed, capacity


def objective(utility: np.ndarray, solution: np.ndarray) -> float:
    placed = np.flatnonzero(solution >= 0)
    return float(utility[placed, solution[placed]].sum())


def feasible(allowed: np.ndarray, capacity: np.ndarray, solution: np.ndarray) -> bool:
    placed = np.flatnonzero(solution >= 0)
    loads = np.bincount(solution[placed], minlength=len(capacity))
    return bool(allowed[placed, solution[placed]].all() and (loads <= capacity).all())


def milp_optimum(utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> float:
    """Max total utility by MILP: one binary per allowed pair, row ≤ 1, column ≤ capacity."""
    n, m = utility.shape
    rows, cols = np.nonzero(allowed)
    k = np.arange(len(rows))
    ones = np.ones(len(rows))
    a = sparse.vstack(
        [
            sparse.csr_matrix((ones, (rows, k)), shape=(n, len(rows))),
            sparse.csr_matrix((ones, (cols, k)), shape=(m, len(rows))),
        ]
    ).tocsc()
    upper = np.concatenate([np.ones(n), capacity])
    result = milp(
        -utility[rows, cols],
        constraints=LinearConstraint(a, -np.inf, upper),
        integrality=np.ones(len(rows)),
        bounds=Bounds(0, 1),
    )
    if result.status != 0:
        raise RuntimeError(f"MILP: {result.message}")
    return float(-result.fun)


def lsa_optimum(utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> float:
    """Max total utility by a dense assignment over slots (forbidden pairs weigh 0 = empty)."""
    weights = np.repeat(np.where(allowed, utility, 0.0), capacity, axis=1)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return float(weights[rows, cols].sum())


def maximum_placements(allowed: np.ndarray, capacity: np.ndarray) -> int:
    """Size of a maximum matching of applicants to offer slots (Hopcroft–Karp)."""
    graph = sparse.csr_matrix(np.repeat(allowed, capacity, axis=1))
    matching = maximum_bipartite_matching(graph, perm_type="column")
    return int((matching >= 0).sum())


def _slots(
    utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """What ``matcher.solve`` computes before building its graph (``max-fit``)."""
    capacity = np.maximum(np.asarray(capacity, dtype=np.int64), 0)
    slot_offer = np.repeat(np.arange(utility.shape[1]), capacity)
    slot_start = np.concatenate([[0], np.cumsum(capacity)])
    ceiling = float(utility[allowed].max(initial=0.0)) + 1.0
    pair_rows, pair_cols = np.nonzero(allowed & (capacity > 0)[None, :])
    return capacity, slot_offer, slot_start, pair_rows, pair_cols, ceiling


def graph_before(
    utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray
) -> sparse.csr_matrix:
    """``matcher.solve``'s cost graph as it was built before: through a COO matrix."""
    n = utility.shape[0]
    capacity, slot_offer, slot_start, pair_rows, pair_cols, ceiling = _slots(
        utility, allowed, capacity
    )
    per_pair = capacity[pair_cols]
    first_edge = np.cumsum(per_pair) - per_pair
    place = np.arange(int(per_pair.sum())) - np.repeat(first_edge, per_pair)
    n_slots = len(slot_offer)
    rows = np.concatenate([np.repeat(pair_rows, per_pair), np.arange(n)])
    cols = np.concatenate(
        [np.repeat(slot_start[pair_cols], per_pair) + place, n_slots + np.arange(n)]
    )
    costs = np.concatenate(
        [np.repeat(ceiling - utility[pair_rows, pair_cols], per_pair), np.full(n, ceiling)]
    )
    return sparse.csr_matrix((costs, (rows, cols)), shape=(n, n_slots + n))


def graph_after(
    utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray
) -> sparse.csr_matrix:
    """The same graph as ``matcher.solve`` builds it now (``_slot_graph``, CSR directly)."""
    capacity, slot_offer, slot_start, pair_rows, pair_cols, ceiling = _slots(
        utility, allowed, capacity
    )
    return _slot_graph(
        n=utility.shape[0],
        n_slots=len(slot_offer),
        pair_rows=pair_rows,
        pair_slots=capacity[pair_cols],
        first_slot=slot_start[pair_cols],
        pair_cost=ceiling - utility[pair_rows, pair_cols],
        unplaced_cost=ceiling,
    )


def same_graph(a: sparse.csr_matrix, b: sparse.csr_matrix) -> bool:
    return bool(
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def solve_before(utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """``matcher.solve`` (``max-fit``) as it was: the COO-built graph, the same matching."""
    if utility.shape[0] == 0 or np.maximum(capacity, 0).sum() == 0:
        return np.full(utility.shape[0], -1, dtype=np.int64)
    slot_offer = np.repeat(np.arange(utility.shape[1]), np.maximum(capacity, 0))
    gain = utility + 0.0  # the old solve's gain matrix in max-fit mode (a copy)
    _, matched = min_weight_full_bipartite_matching(graph_before(gain, allowed, capacity))
    n_slots = len(slot_offer)
    return np.where(matched < n_slots, slot_offer[np.minimum(matched, n_slots - 1)], -1)


def peak_bytes(function: Callable[[], object]) -> int:
    """Peak of Python and numpy allocations (tracemalloc) while ``function`` runs."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass
class Result:
    n: int
    m: int
    pairs: int
    slots: int
    after: Timing
    before: Timing
    build_after: Timing
    build_before: Timing
    same_as_before: bool
    peak_after: int
    peak_before: int
    value: float
    feasible: bool
    lsa: float
    lsa_time: Timing
    milp: float | None
    milp_time: Timing | None
    placed: int
    maximum: int
    placed_time: Timing


def measure_size(n: int, m: int, seed: int) -> Result:
    utility, allowed, capacity = problem(n, m, seed)
    after, solution = measure(lambda: solve(utility, allowed, capacity), REPEATS)
    before, old = measure(lambda: solve_before(utility, allowed, capacity), REPEATS)
    build_after, new_graph = measure(lambda: graph_after(utility, allowed, capacity), REPEATS)
    build_before, old_graph = measure(lambda: graph_before(utility, allowed, capacity), REPEATS)
    lsa_time, lsa = measure(lambda: lsa_optimum(utility, allowed, capacity), 1)
    milp_value, milp_time = None, None
    if allowed.sum() <= MILP_MAX_PAIRS:
        milp_time, milp_value = measure(lambda: milp_optimum(utility, allowed, capacity), 1)
    placed_time, placed_solution = measure(
        lambda: solve(utility, allowed, capacity, Mode.MAX_PLACED), 1
    )
    return Result(
        n=n,
        m=m,
        pairs=int(allowed.sum()),
        slots=int(capacity.sum()),
        after=after,
        before=before,
        build_after=build_after,
        build_before=build_before,
        same_as_before=bool(np.array_equal(solution, old)) and same_graph(new_graph, old_graph),
        peak_after=peak_bytes(lambda: solve(utility, allowed, capacity)),
        peak_before=peak_bytes(lambda: solve_before(utility, allowed, capacity)),
        value=objective(utility, solution),
        feasible=feasible(allowed, capacity, solution)
        and feasible(allowed, capacity, placed_solution),
        lsa=lsa,
        lsa_time=lsa_time,
        milp=milp_value,
        milp_time=milp_time,
        placed=int((placed_solution >= 0).sum()),
        maximum=maximum_placements(allowed, capacity),
        placed_time=placed_time,
    )


def profile_largest() -> str:
    n, m = SIZES[-1]
    utility, allowed, capacity = problem(n, m, seed=len(SIZES) - 1)
    profiler = Profiler(interval=0.005)
    with profiler:
        solve(utility, allowed, capacity)
    lines = [ln for ln in profiler.output_text(unicode=False, color=False).splitlines() if ln]
    start = next((k for k, line in enumerate(lines) if "solve" in line), 0)
    return "\n".join(lines[start : start + 16])


def run() -> Section:
    results = []
    for seed, (n, m) in enumerate(SIZES):
        print(f"  assignment: {n} x {m} …", flush=True)
        results.append(measure_size(n, m, seed))
    profile = profile_largest()
    plot(results)
    mib = 2**20
    rows = []
    for r in results:
        exact = [abs(r.value - r.lsa)] + ([abs(r.value - r.milp)] if r.milp is not None else [])
        rows.append(
            (
                f"{r.n:,} x {r.m:,}".replace(",", " "),
                f"{r.pairs:,}".replace(",", " "),
                f"{r.after.wall:.3f} s ({r.after.cpu:.3f} CPU)",
                f"{r.before.wall:.3f} s ({r.before.cpu:.3f} CPU)",
                f"{r.peak_after / mib:.0f} / {r.peak_before / mib:.0f}",
                f"{r.value:.6f}",
                f"{r.milp:.6f} ({r.milp_time})" if r.milp is not None else "not run",
                f"{r.lsa:.6f} ({r.lsa_time})",
                f"{max(exact):.1e}",
                f"{r.placed} / {r.maximum}",
            )
        )
    headers = [
        "applicants x offers",
        "allowed pairs",
        "`solve` after",
        "`solve` before",
        "peak MiB after / before",
        "objective",
        "MILP (HiGHS)",
        "dense LSA",
        "gap",
        "max-placed: placed / maximum",
    ]
    worst_gap = max(
        max(abs(r.value - r.lsa), abs(r.value - r.milp) if r.milp is not None else 0.0)
        for r in results
    )
    all_placed = all(r.placed == r.maximum for r in results)
    all_feasible = all(r.feasible for r in results)
    largest = results[-1]
    section = Section(TITLE)
    section.body = f"""
Seeded random problems: capacities 1–3, {ALLOWED_SHARE:.0%} of pairs allowed, utilities
uniform in (0.05, 0.95). `matcher.solve` in `max-fit` mode: wall time (median of {REPEATS},
CPU time in brackets) and peak memory (tracemalloc: Python and numpy allocations). "before" is
the solver as it was (`benchmarks.assignment.solve_before`: the graph built through a COO
matrix, the same matching), run on the same problems. Exact references in the same script: the MILP
(`scipy.optimize.milp`, HiGHS, one binary per allowed pair, sparse row and capacity constraints)
up to {MILP_MAX_PAIRS:,} allowed pairs, and `scipy.optimize.linear_sum_assignment` on the dense
slot-expanded utility matrix (a different algorithm and implementation than the sparse LAPJVsp
`solve` uses) at every size. gap = largest |objective − reference objective|. `max-placed`:
placed applicants against the size of a maximum matching of applicants to slots
(`maximum_bipartite_matching`, Hopcroft–Karp).

{table(headers, rows, "l")}

Gap {worst_gap:.1e} at most (target 0; sums of up to {largest.placed:,} floats in different
orders agree to {GAP_TOLERANCE:.0e}): {met(worst_gap <= GAP_TOLERANCE)}. Every solution respects
the allowed pairs and capacities: {met(all_feasible)}. `max-placed` places as many as a maximum
matching at every size: {met(all_placed)}.

The MILP is not run at {largest.n:,} x {largest.m:,} ({largest.pairs:,} binaries): in a trial run
HiGHS spent over 5 minutes in presolve alone, which would break the ~10-minute budget of
`make bench`; the dense assignment is the exact reference there.

![solve time vs problem size](benchmarks/plots/assignment.png)

**Profile (pyinstrument, wall clock), `solve` at {largest.n:,} x {largest.m:,} after the
change:**

```text
{profile}
```

Almost all of it is scipy's LAPJVsp (`min_weight_full_bipartite_matching`, shown as `solve`'s own
time) on about {largest.pairs * 2:,} edges (one per allowed pair and free place); building the
graph is the rest. The build went through a COO matrix (repeat, concatenate, then scipy sorts
the entries into CSR); `solve` now writes the CSR arrays directly (`matcher/assignment.py`,
`_slot_graph`: the rows come in order, so nothing is sorted). Same graph bit for bit and same
solution at every size: {met(all(r.same_as_before for r in results))}. The build alone at
{largest.n:,} x {largest.m:,}: {largest.build_before.wall:.3f} s before,
{largest.build_after.wall:.3f} s after (median of {REPEATS}); peak memory of `solve`
{largest.peak_before / mib:.0f} → {largest.peak_after / mib:.0f} MiB. The whole `solve` took
{largest.before.wall:.2f} s before and {largest.after.wall:.2f} s after in this run; across
runs on this shared machine that difference came and went (the matching dominates), so only the
build time and the peak memory count as the gain.

The matching itself was left as it is. The dense reference is faster at this density
({largest.lsa_time.wall:.2f} s) but needs applicants x slots x 8 bytes
({largest.n * largest.slots * 8 / mib:.0f} MiB here, 1.5 GiB at 10 000 x 20 000 slots) and may pick
another optimum among equal scores (offers with identical texts score identically), which would
change proposals; LAPJVsp's memory follows the allowed pairs, and its choice among ties is the
one the engine has always made. Exact pruning (e.g. with dual certificates) would be new solver
code, not a fix.
"""
    section.headline = [
        (
            f"`solve` {largest.n:,} x {largest.m:,}, max-fit",
            f"{largest.after.wall:.2f} s",
            f"before {largest.before.wall:.2f} s; dense LSA {largest.lsa_time.wall:.2f} s",
            "exact, reported",
            "—",
        ),
        (
            "optimality gap vs exact solvers (all sizes)",
            f"{worst_gap:.1e}",
            "MILP ≤ 1 000 x 500, dense LSA all",
            "0",
            met(worst_gap <= GAP_TOLERANCE),
        ),
        (
            "max-placed: placed vs maximum matching",
            " / ".join(f"{r.placed}/{r.maximum}" for r in results),
            "Hopcroft–Karp",
            "equal",
            met(all_placed),
        ),
    ]
    return section


def plot(results: list[Result]) -> None:
    figure, axis = plt.subplots(figsize=(7, 4.5))
    pairs = [r.pairs for r in results]
    axis.plot(pairs, [r.after.wall for r in results], "-o", label="matcher.solve (after)")
    axis.plot(pairs, [r.before.wall for r in results], "--o", label="matcher.solve (before)")
    axis.plot(pairs, [r.lsa_time.wall for r in results], ":s", label="dense LSA (reference)")
    milp = [(r.pairs, r.milp_time.wall) for r in results if r.milp_time is not None]
    axis.plot([p for p, _ in milp], [t for _, t in milp], ":^", label="MILP HiGHS (reference)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("allowed pairs")
    axis.set_ylabel("wall time (s)")
    axis.set_title("Batch assignment (max-fit): time vs problem size")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figure.tight_layout()
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / "assignment.png", dpi=110)
    plt.close(figure)
