"""Batch assignment: the exact solver against brute force, and the record layer's promises."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matcher import Assignment, Mode, PairScores, Placement, assign, rank, solve
from matcher.assignment import MAX_ALTERNATES
from tests.matcher import strategies
from tests.matcher.conftest import build_scores, make_applicant, make_offer

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Best:
    """Brute-force optima: best total utility, and best (placed count, utility) pair."""

    utility: float
    placed: int
    utility_at_max_placed: float


def brute_force(utility: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> Best:
    """Enumerate every assignment that respects ``allowed`` and ``capacity``."""
    n, m = utility.shape
    left = [max(0, int(c)) for c in capacity]
    best_utility = 0.0
    best_placed = (0, 0.0)

    def visit(i: int, placed: int, total: float) -> None:
        nonlocal best_utility, best_placed
        if i == n:
            best_utility = max(best_utility, total)
            best_placed = max(best_placed, (placed, total))
            return
        visit(i + 1, placed, total)
        for j in range(m):
            if allowed[i, j] and left[j] > 0:
                left[j] -= 1
                visit(i + 1, placed + 1, total + float(utility[i, j]))
                left[j] += 1

    visit(0, 0, 0.0)
    return Best(best_utility, best_placed[0], best_placed[1])


@st.composite
def instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, m = draw(st.integers(0, 6)), draw(st.integers(1, 4))
    utility = draw(
        arrays(
            np.float64,
            (n, m),
            elements=st.floats(0, 1, exclude_min=True, allow_subnormal=False),
        )
    )
    allowed = draw(arrays(np.bool_, (n, m)))
    capacity = draw(arrays(np.int64, (m,), elements=st.integers(0, 3)))
    return utility, allowed, capacity


def _check_valid(result: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> None:
    n, m = allowed.shape
    assert result.shape == (n,)
    assert np.issubdtype(result.dtype, np.integer)
    assert all(-1 <= j < m for j in result.tolist())
    for i, j in enumerate(result.tolist()):
        if j >= 0:
            assert allowed[i, j], f"row {i} placed on a disallowed column {j}"
    counts = Counter(j for j in result.tolist() if j >= 0)
    for j, count in counts.items():
        assert count <= capacity[j], f"column {j} over capacity"


def _total(utility: np.ndarray, result: np.ndarray) -> float:
    return float(sum(utility[i, j] for i, j in enumerate(result.tolist()) if j >= 0))


@strategies.thorough(200)
@given(instances())
def test_solve_max_fit_is_feasible_and_optimal(
    instance: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    utility, allowed, capacity = instance
    result = solve(utility, allowed, capacity, Mode.MAX_FIT)
    _check_valid(result, allowed, capacity)
    best = brute_force(utility, allowed, capacity)
    assert _total(utility, result) == pytest.approx(best.utility, abs=TOLERANCE)


@strategies.thorough(200)
@given(instances())
def test_solve_max_placed_places_most_then_fits_best(
    instance: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    utility, allowed, capacity = instance
    result = solve(utility, allowed, capacity, Mode.MAX_PLACED)
    _check_valid(result, allowed, capacity)
    best = brute_force(utility, allowed, capacity)
    assert int((result >= 0).sum()) == best.placed
    assert _total(utility, result) == pytest.approx(best.utility_at_max_placed, abs=TOLERANCE)


def test_max_placed_trades_fit_for_count() -> None:
    # Row 0 fits column 0 best, but only column 0 is open to row 1.
    utility = np.array([[0.9, 0.1], [0.5, 0.9]])
    allowed = np.array([[True, True], [True, False]])
    capacity = np.array([1, 1])
    assert solve(utility, allowed, capacity, Mode.MAX_FIT).tolist() == [0, -1]
    assert solve(utility, allowed, capacity, Mode.MAX_PLACED).tolist() == [1, 0]


def test_solve_without_places_leaves_everyone_unplaced() -> None:
    utility = np.full((3, 2), 0.5)
    result = solve(utility, np.ones((3, 2), dtype=bool), np.array([0, 0]))
    assert result.tolist() == [-1, -1, -1]


def test_solve_fills_a_column_up_to_its_capacity() -> None:
    utility = np.array([[0.9], [0.8], [0.7], [0.6]])
    result = solve(utility, np.ones((4, 1), dtype=bool), np.array([3]))
    assert result.tolist() == [0, 0, 0, -1]


# --- assign: records, pinned and rejected pairs -----------------------------------------------


@dataclass(frozen=True)
class Round:
    scores: PairScores
    rejected: tuple[tuple[str, str], ...]
    mode: Mode


@st.composite
def rounds(draw: st.DrawFn) -> Round:
    n, m = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    # Mostly lenient records, so that offers fill up and the "belegt" case comes up.
    lenient = draw(st.integers(0, 4)) > 0
    applicants = [draw(strategies.applicants(i, 4, lenient=lenient)) for i in range(n)]
    offers = [draw(strategies.offers(j, 4, lenient=lenient)) for j in range(m)]
    fit = draw(arrays(np.float64, (n, m), elements=st.floats(-1, 1, allow_subnormal=False)))
    offer_ids = [offer.id for offer in offers]
    confirmed = {
        applicant.id: draw(st.sampled_from(offer_ids))
        for applicant in applicants
        if draw(st.integers(0, 4)) == 0
    }
    pairs = [(a.id, o.id) for a in applicants for o in offers]
    rejected = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
    scores = build_scores(
        applicants, offers, fit, confirmed=confirmed, seed=draw(st.integers(0, 9))
    )
    return Round(scores, tuple(rejected), draw(st.sampled_from(list(Mode))))


def _allowed(scores: PairScores, rejected: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Feasible, not rejected, and not for an applicant whose placement is already confirmed."""
    allowed = scores.feasibility.feasible.copy()
    for i, applicant in enumerate(scores.applicants):
        for j, offer in enumerate(scores.offers):
            if (applicant.id, offer.id) in rejected or applicant.id in scores.confirmed:
                allowed[i, j] = False
    return allowed


def _proposed_per_offer(assignment: Assignment) -> Counter[str]:
    return Counter(p.offer_id for p in assignment.placements if not p.pinned)


@strategies.thorough(200)
@given(rounds())
def test_assign_keeps_every_promise(round_: Round) -> None:
    scores, rejected = round_.scores, round_.rejected
    assignment = assign(scores, mode=round_.mode, rejected=rejected)
    allowed = _allowed(scores, rejected)
    ids = [a.id for a in scores.applicants]
    offer_index = {o.id: j for j, o in enumerate(scores.offers)}
    applicant_index = {a_id: i for i, a_id in enumerate(ids)}
    assert assignment.mode is round_.mode

    # Confirmed placements stay pinned and are the applicant's only placement.
    placed_ids = [p.applicant_id for p in assignment.placements]
    assert len(placed_ids) == len(set(placed_ids)), "an applicant was placed twice"
    pinned = {(p.applicant_id, p.offer_id) for p in assignment.placements if p.pinned}
    assert pinned == set(scores.confirmed.items())

    # Everyone is placed or unplaced, never both, never neither.
    unplaced_ids = [u.applicant_id for u in assignment.unplaced]
    assert sorted(placed_ids + unplaced_ids) == sorted(ids)

    # Proposals: allowed pairs only (so never rejected) and within the places left.
    proposed = _proposed_per_offer(assignment)
    free = {
        o.id: max(0, int(scores.feasibility.free_places[j])) for j, o in enumerate(scores.offers)
    }
    for placement in assignment.placements:
        i, j = applicant_index[placement.applicant_id], offer_index[placement.offer_id]
        assert placement.score == float(scores.score[i, j])
        if not placement.pinned:
            assert allowed[i, j]
            assert (placement.applicant_id, placement.offer_id) not in rejected
    for offer_id, count in proposed.items():
        assert count <= free[offer_id], f"{offer_id} over capacity after confirmed placements"

    # Unplaced applicants get a German reason that tells the three cases apart.
    for unplaced in assignment.unplaced:
        i = applicant_index[unplaced.applicant_id]
        assert unplaced.reason.strip()
        options = np.flatnonzero(allowed[i]).tolist()
        if options:
            assert "belegt" in unplaced.reason
            for k in options:  # optimal: nobody is left out while an allowed place is free
                assert proposed[scores.offers[k].id] == free[scores.offers[k].id]
        elif scores.feasibility.feasible[i].any():
            assert "abgelehnt" in unplaced.reason
        else:
            assert unplaced.reason.startswith("Kein zulässiges Angebot")

    # Alternates: every offer, at most three, allowed, never the applicant placed there.
    assert set(assignment.alternates) == set(offer_index)
    holders = {(p.applicant_id, p.offer_id) for p in assignment.placements}
    for offer_id, alternates in assignment.alternates.items():
        assert len(alternates) <= MAX_ALTERNATES
        assert len(set(alternates)) == len(alternates)
        for applicant_id in alternates:
            assert (applicant_id, offer_id) not in holders
            assert allowed[applicant_index[applicant_id], offer_index[offer_id]]

    # The proposals are optimal over the allowed pairs and the places left.
    best = brute_force(scores.score, allowed, np.array([free[o.id] for o in scores.offers]))
    proposed_total = sum(p.score for p in assignment.placements if not p.pinned)
    if round_.mode is Mode.MAX_PLACED:
        assert sum(proposed.values()) == best.placed
        assert proposed_total == pytest.approx(best.utility_at_max_placed, abs=TOLERANCE)
    else:
        assert proposed_total == pytest.approx(best.utility, abs=TOLERANCE)


@strategies.thorough(100)
@given(rounds())
def test_placement_score_is_the_score_rank_shows(round_: Round) -> None:
    scores = round_.scores
    assignment = assign(scores, mode=round_.mode, rejected=round_.rejected)
    shown = {
        (ranking.applicant_id, suggestion.offer_id): suggestion.score
        for ranking in rank(scores, top_k=len(scores.offers))
        for suggestion in ranking.suggestions
    }
    for placement in assignment.placements:
        if not placement.pinned:
            assert placement.score == shown[(placement.applicant_id, placement.offer_id)]


# --- assign: worked examples ------------------------------------------------------------------


def test_confirmed_placement_is_pinned_and_uses_its_place() -> None:
    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2"), make_applicant(id="A-3")]
    offers = [make_offer(id="O-1", capacity=2), make_offer(id="O-2", capacity=1)]
    fit = np.array([[0.1, 0.5], [0.4, 0.1], [0.3, 0.2]])
    scores = build_scores(applicants, offers, fit, confirmed={"A-1": "O-1"})
    assignment = assign(scores)
    assert set(assignment.placements) == {
        _placement(scores, "A-1", "O-1", pinned=True),
        _placement(scores, "A-2", "O-1"),
        _placement(scores, "A-3", "O-2"),
    }
    assert assignment.unplaced == ()
    assert assignment.places_left(scores) == 0


def _placement(
    scores: PairScores, applicant_id: str, offer_id: str, *, pinned: bool = False
) -> Placement:
    i, j = scores.applicant_index[applicant_id], scores.offer_index[offer_id]
    return Placement(applicant_id, offer_id, float(scores.score[i, j]), pinned=pinned)


def test_unplaced_reasons_tell_infeasible_full_and_rejected_apart() -> None:
    applicants = [
        make_applicant(id="A-best", languages={"de": "C2"}),
        make_applicant(id="A-second", languages={"de": "C2"}),
        make_applicant(id="A-nolang", languages={"en": "C2"}),
        make_applicant(id="A-rejected", languages={"de": "C2"}),
    ]
    offers = [make_offer(id="O-1", city="Wien", working_languages=["de"], capacity=1)]
    fit = np.array([[0.5], [0.2], [0.9], [0.9]])
    scores = build_scores(applicants, offers, fit)
    assignment = assign(scores, rejected=[("A-rejected", "O-1")])
    assert [(p.applicant_id, p.offer_id) for p in assignment.placements] == [("A-best", "O-1")]
    reasons = {u.applicant_id: u.reason for u in assignment.unplaced}
    assert set(reasons) == {"A-second", "A-nolang", "A-rejected"}
    assert "belegt" in reasons["A-second"] and "O-1" in reasons["A-second"]
    assert reasons["A-nolang"].startswith("Kein zulässiges Angebot")
    assert "Sprache bei 1" in reasons["A-nolang"]
    assert "abgelehnt" in reasons["A-rejected"]
    assert assignment.alternates == {"O-1": ("A-second",)}


def test_alternates_prefer_unplaced_applicants_and_stop_at_three() -> None:
    applicants = [make_applicant(id=f"A-{k}") for k in range(6)]
    offers = [make_offer(id="O-1", capacity=1), make_offer(id="O-2", capacity=1)]
    fit = np.array([[0.9, 0.8], [0.1, 0.9], [0.5, 0.0], [0.4, 0.0], [0.3, 0.0], [0.2, 0.0]])
    assignment = assign(build_scores(applicants, offers, fit))
    assert {(p.applicant_id, p.offer_id) for p in assignment.placements} == {
        ("A-0", "O-1"),
        ("A-1", "O-2"),
    }
    # Unplaced applicants first (best score first), placed ones after; capped at three.
    assert assignment.alternates["O-1"] == ("A-2", "A-3", "A-4")
    assert assignment.alternates["O-2"] == ("A-2", "A-3", "A-4")


def test_dates_constraint_reaches_the_unplaced_reason() -> None:
    applicant = make_applicant(
        id="A-1", available_from=date(2027, 1, 1), available_until=date(2027, 1, 31)
    )
    scores = build_scores([applicant], [make_offer(id="O-1")], np.array([[0.5]]))
    [unplaced] = assign(scores, mode=Mode.MAX_PLACED).unplaced
    assert unplaced.reason.startswith("Kein zulässiges Angebot")
    assert "Zeitraum bei 1" in unplaced.reason
