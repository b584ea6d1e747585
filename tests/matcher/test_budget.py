"""Assignment under a budget and quotas: the exact solver against brute force, and the reasons."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matcher import InvalidRecordsError, Mode, Offer, assign, load_table, parse_records, solve
from matcher.budget import NO_LIMIT, Limits, solve_limited
from matcher.funding import CityCost, Funding, cost_matrix, euros
from tests.matcher import strategies
from tests.matcher.conftest import build_scores, make_applicant, make_offer, offer_dict
from tests.matcher.test_assignment import Round, rounds

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Instance:
    utility: np.ndarray
    allowed: np.ndarray
    capacity: np.ndarray
    limits: Limits


def brute_force(instance: Instance) -> float:
    """Best total utility over every assignment within capacities, budget and quotas."""
    utility, allowed, limits = instance.utility, instance.allowed, instance.limits
    n, m = utility.shape
    left = [max(0, int(c)) for c in instance.capacity]
    row_left = [int(min(c, n)) for c in limits.row_group_cap]
    column_left = [int(min(c, n)) for c in limits.column_group_cap]
    budget = np.inf if limits.budget is None else limits.budget
    best = 0.0

    def visit(i: int, total: float, spent: float) -> None:
        nonlocal best
        if i == n:
            best = max(best, total)
            return
        visit(i + 1, total, spent)
        g = limits.row_group[i]
        for j in range(m):
            c = limits.column_group[j]
            cost = float(limits.cost[i, j])
            usable = allowed[i, j] and left[j] > 0 and row_left[g] > 0 and column_left[c] > 0
            if usable and spent + cost <= budget:
                left[j], row_left[g], column_left[c] = (
                    left[j] - 1,
                    row_left[g] - 1,
                    column_left[c] - 1,
                )
                visit(i + 1, total + float(utility[i, j]), spent + cost)
                left[j], row_left[g], column_left[c] = (
                    left[j] + 1,
                    row_left[g] + 1,
                    column_left[c] + 1,
                )

    visit(0, 0.0, 0.0)
    return best


caps = st.one_of(st.just(NO_LIMIT), st.integers(0, 3))


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    n, m = draw(st.integers(0, 6)), draw(st.integers(1, 4))
    # Below about 1e-6 per pair the difference is within HiGHS's feasibility tolerances.
    utility = draw(arrays(np.float64, (n, m), elements=st.floats(1e-6, 1)))
    allowed = draw(arrays(np.bool_, (n, m)))
    capacity = draw(arrays(np.int64, (m,), elements=st.integers(0, 3)))
    # Whole euros as in the fixtures; a budget near the sums makes it bind at the boundary.
    cost = draw(arrays(np.float64, (n, m), elements=st.integers(0, 9).map(float)))
    budget = draw(st.one_of(st.none(), st.integers(0, 25).map(float)))
    agencies, cities = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    limits = Limits(
        cost=cost,
        budget=budget,
        row_group=draw(arrays(np.intp, (n,), elements=st.integers(0, agencies - 1))),
        row_group_cap=np.array([draw(caps) for _ in range(agencies)], dtype=np.int64),
        column_group=draw(arrays(np.intp, (m,), elements=st.integers(0, cities - 1))),
        column_group_cap=np.array([draw(caps) for _ in range(cities)], dtype=np.int64),
    )
    return Instance(utility, allowed, capacity, limits)


def example_instance(
    utility: list[list[float]],
    cost: list[list[float]],
    budget: float | None,
    *,
    capacity: list[int] | None = None,
    agency_cap: int = NO_LIMIT,
    city_cap: int = NO_LIMIT,
) -> Instance:
    """One agency and one city holding everyone, every pair allowed."""
    u = np.array(utility, dtype=np.float64)
    n, m = u.shape
    return Instance(
        utility=u,
        allowed=np.ones((n, m), dtype=bool),
        capacity=np.array(capacity or [n] * m, dtype=np.int64),
        limits=Limits(
            cost=np.array(cost, dtype=np.float64),
            budget=budget,
            row_group=np.zeros(n, dtype=np.intp),
            row_group_cap=np.array([agency_cap], dtype=np.int64),
            column_group=np.zeros(m, dtype=np.intp),
            column_group_cap=np.array([city_cap], dtype=np.int64),
        ),
    )


def check_within_limits(instance: Instance, choice: np.ndarray) -> None:
    limits = instance.limits
    rows = np.flatnonzero(choice >= 0)
    cols = choice[rows]
    assert instance.allowed[rows, cols].all(), "a disallowed pair was placed"
    loads = np.bincount(cols, minlength=len(instance.capacity))
    assert (loads <= np.maximum(instance.capacity, 0)).all(), "capacity exceeded"
    agency = np.bincount(limits.row_group[rows], minlength=len(limits.row_group_cap))
    assert (agency <= limits.row_group_cap).all(), "agency quota exceeded"
    city = np.bincount(limits.column_group[cols], minlength=len(limits.column_group_cap))
    assert (city <= limits.column_group_cap).all(), "city quota exceeded"
    if limits.budget is not None:
        assert limits.cost[rows, cols].sum() <= limits.budget, "budget exceeded"


@strategies.thorough(300)
@given(instances())
# Budget 0: only free placements; budget exactly one placement's cost; quota 0; no limits at all.
@example(example_instance([[0.9, 0.5], [0.8, 0.4]], [[3, 0], [0, 2]], 0.0))
@example(example_instance([[0.9, 0.5], [0.8, 0.4]], [[3, 1], [2, 2]], 3.0))
@example(example_instance([[0.9], [0.8], [0.7]], [[1], [1], [1]], None, agency_cap=0))
@example(example_instance([[0.9, 0.1], [0.8, 0.7]], [[0, 0], [0, 0]], None, capacity=[1, 1]))
@example(example_instance([[0.9], [0.8], [0.7]], [[4], [3], [3]], 6.0, city_cap=2))
@example(
    Instance(
        np.zeros((0, 2)),
        np.zeros((0, 2), dtype=bool),
        np.array([1, 1]),
        Limits(
            np.zeros((0, 2)),
            5.0,
            np.zeros(0, dtype=np.intp),
            np.array([1]),
            np.zeros(2, dtype=np.intp),
            np.array([NO_LIMIT]),
        ),
    )
)
def test_limited_solution_is_feasible_and_optimal(instance: Instance) -> None:
    result = solve_limited(instance.utility, instance.allowed, instance.capacity, instance.limits)
    check_within_limits(instance, result.choice)
    placed = np.flatnonzero(result.choice >= 0)
    objective = float(instance.utility[placed, result.choice[placed]].sum())
    assert objective == pytest.approx(result.objective, abs=TOLERANCE)
    assert objective == pytest.approx(brute_force(instance), abs=TOLERANCE)
    assert result.gap <= 1e-9
    assert result.bound >= objective - TOLERANCE


def test_without_limits_the_solver_agrees_with_the_matching() -> None:
    rng = np.random.default_rng(3)
    utility = rng.uniform(0.05, 0.95, (60, 25))
    allowed = rng.random((60, 25)) < 0.4
    capacity = rng.integers(1, 4, 25)
    free = Limits(
        np.zeros((60, 25)),
        None,
        np.zeros(60, dtype=np.intp),
        np.array([NO_LIMIT]),
        np.zeros(25, dtype=np.intp),
        np.array([NO_LIMIT]),
    )
    matching = solve(utility, allowed, capacity)
    limited = solve_limited(utility, allowed, capacity, free)
    placed = np.flatnonzero(matching >= 0)
    assert limited.objective == pytest.approx(utility[placed, matching[placed]].sum(), abs=1e-9)


# --- assign with Funding: the record layer ------------------------------------------------------


def _agency_names(round_: Round) -> dict[str, str]:
    return {a.id: a.quota_agency for a in round_.scores.applicants}


@strategies.thorough(150)
@given(rounds(), st.integers(0, 12), st.one_of(st.none(), st.integers(0, 2)), st.integers(0, 2))
def test_assign_never_exceeds_budget_quotas_or_capacity(
    round_: Round, budget: int, agency_quota: int | None, city_quota: int
) -> None:
    scores = round_.scores
    city = scores.offers[0].city
    costs = {o.city: CityCost(travel_cost=1.0, weekly_cost=1.0) for o in scores.offers}
    funding = Funding(
        budget=float(budget),
        agency_quota=agency_quota,
        city_quotas={city: city_quota},
        city_costs=costs,
    )
    assignment = assign(scores, mode=round_.mode, rejected=round_.rejected, funding=funding)
    cost = cost_matrix(scores.applicants, scores.offers, costs)
    index = scores.applicant_index, scores.offer_index
    proposed = [p for p in assignment.placements if not p.pinned]
    paid_before = sum(p.cost for p in assignment.placements if p.pinned)
    for p in assignment.placements:
        assert p.cost == cost[index[0][p.applicant_id], index[1][p.offer_id]]
    # Proposals never spend more than what the confirmed placements left over.
    assert sum(p.cost for p in proposed) <= max(budget - paid_before, 0.0)
    assert assignment.costs.total_cost == pytest.approx(sum(p.cost for p in assignment.placements))
    agencies = _agency_names(round_)
    if agency_quota is not None:
        pinned_count = Counter(agencies[p.applicant_id] for p in assignment.placements if p.pinned)
        new = Counter(agencies[p.applicant_id] for p in proposed)
        for agency, count in new.items():
            assert count <= max(agency_quota - pinned_count[agency], 0)
    offers = {o.id: o for o in scores.offers}
    in_city = [p for p in assignment.placements if offers[p.offer_id].city == city]
    pinned_in_city = sum(p.pinned for p in in_city)
    assert len(in_city) - pinned_in_city <= max(city_quota - pinned_in_city, 0)
    load = Counter(p.offer_id for p in proposed)
    for offer_id, count in load.items():
        assert count <= scores.feasibility.free_places[scores.offer_index[offer_id]]
    assert assignment.costs.gap <= 1e-9
    assert assignment.costs.fit_lost >= -TOLERANCE or round_.mode is Mode.MAX_PLACED


# --- worked examples ---------------------------------------------------------------------------


def _round() -> tuple[list, list]:
    applicants = [
        make_applicant(id="A-1", home_organisation="Bezirksamt Neukölln – Umweltamt"),
        make_applicant(id="A-2", home_organisation="Bezirksamt Neukölln – Ordnungsamt"),
        make_applicant(id="A-3", home_organisation="Senatsverwaltung für Umwelt – Abfall"),
    ]
    offers = [
        make_offer(id="O-tokio", city="Tokio", capacity=3, travel_cost=1400, weekly_cost=1000),
        make_offer(id="O-wien", city="Wien", capacity=3),
    ]
    return applicants, offers


def test_budget_keeps_the_dear_place_out_and_says_why() -> None:
    applicants, offers = _round()
    fit = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    scores = build_scores(applicants, offers, fit)
    wien = {"Wien": CityCost(travel_cost=200, weekly_cost=300)}  # weeks_wanted 2: 800 €
    assignment = assign(scores, funding=Funding(budget=2_000, city_costs=wien))
    placed = {p.applicant_id: (p.offer_id, p.cost) for p in assignment.placements}
    assert placed == {"A-2": ("O-wien", 800.0), "A-3": ("O-wien", 800.0)}
    [unplaced] = assignment.unplaced
    assert unplaced.reason.startswith(f"Budget ausgeschöpft: der Platz in Tokio ({euros(3400)})")
    assert euros(400) in unplaced.reason
    report = assignment.costs
    assert report.total_cost == 1_600 and report.budget_left == 400
    assert report.per_city == {"Wien": 1_600}
    assert report.per_agency == {"Bezirksamt Neukölln": 800, "Senatsverwaltung für Umwelt": 800}
    # Without the budget A-1 would go to Tokio (0.9 instead of nothing).
    unlimited = assign(scores, funding=Funding(city_costs=wien))
    assert report.fit_lost == pytest.approx(unlimited.total_score - assignment.total_score)
    assert report.fit_lost > 0


def test_agency_and_city_quotas_name_the_quota() -> None:
    applicants, offers = _round()
    fit = np.array([[0.2, 0.9], [0.3, 0.8], [0.4, 0.7]])
    scores = build_scores(applicants, offers, fit)
    by_agency = assign(scores, funding=Funding(agency_quota=1))
    reasons = {u.applicant_id: u.reason for u in by_agency.unplaced}
    assert reasons == {"A-2": "Quote für Bezirksamt Neukölln (1) erreicht."}
    by_city = assign(scores, funding=Funding(city_quotas={"Wien": 1, "Tokio": 1}))
    assert len(by_city.placements) == 2
    [unplaced] = by_city.unplaced
    assert unplaced.reason == "Quote für Wien (1) erreicht."


def test_confirmed_placements_use_budget_and_quota_first() -> None:
    applicants, offers = _round()
    fit = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    scores = build_scores(applicants, offers, fit, confirmed={"A-1": "O-tokio"})
    assignment = assign(scores, funding=Funding(budget=4_000, agency_quota=1))
    assert {p.applicant_id for p in assignment.placements} == {"A-1", "A-3"}
    assert assignment.costs.total_cost == 3_400
    assert assignment.costs.budget_left == 600
    [unplaced] = assignment.unplaced
    assert unplaced.reason == "Quote für Bezirksamt Neukölln (1) erreicht."


def test_offer_costs_win_over_the_city_table() -> None:
    applicants, offers = _round()
    table = {"Tokio": CityCost(1.0, 1.0), "Wien": CityCost(100.0, 10.0)}
    cost = cost_matrix(applicants, offers, table)
    assert cost.tolist() == [[3400.0, 120.0]] * 3


# --- records: cost and agency fields -----------------------------------------------------------


def test_cost_fields_are_validated_and_agency_defaults_to_the_unit_s_body() -> None:
    with pytest.raises(InvalidRecordsError) as error:
        parse_records(Offer, [offer_dict(id="O-1", travel_cost=-5)])
    [problem] = error.value.problems
    assert (problem.record_id, problem.field) == ("O-1", "travel_cost")
    assert make_offer(weekly_cost=300).has_costs and not make_offer().has_costs
    unit = make_applicant(home_organisation="Bezirksamt Pankow – Ordnungsamt")
    assert unit.quota_agency == "Bezirksamt Pankow"
    assert make_applicant(agency="Senatskanzlei").quota_agency == "Senatskanzlei"


def test_csv_costs_accept_a_decimal_comma() -> None:
    offer = offer_dict(id="O-1")
    columns = [*offer.keys(), "travel_cost", "weekly_cost"]
    cells = [";".join(v) if isinstance(v, list) else str(v) for v in offer.values()] + [
        "1.350,50",
        "600",
    ]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([columns, cells])
    [parsed], _ = load_table(Offer, buffer.getvalue().encode(), source="offers.csv")
    assert (parsed.travel_cost, parsed.weekly_cost) == (1350.5, 600.0)
