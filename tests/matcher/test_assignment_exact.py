"""``matcher.assignment`` pinned on worked examples: exact reasons, ids that are not in the
round, free places after an overfull offer, the proof of an unlimited solve, and both modes
with and without limits. Fast and model-free: ``make mutate`` runs them for every mutant.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcher import Mode, assign
from matcher.funding import CityCost, Funding
from tests.matcher.conftest import build_scores, make_applicant, make_offer

#: A-1 fits O-1 well and O-2 badly; A-2 fits only O-1 (its O-2 pair is rejected). Max-fit
#: places A-1 on O-1 alone; max-placed moves A-1 to O-2 so that A-2 gets O-1.
TRADE_FIT = np.array([[0.9, -1.0], [-1.0, 0.5]])
TRADE_REJECTED = [("A-2", "O-2")]


def _trade_scores():  # type: ignore[no-untyped-def]
    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2")]
    offers = [make_offer(id="O-1", capacity=1), make_offer(id="O-2", capacity=1)]
    return build_scores(applicants, offers, TRADE_FIT)


@pytest.mark.parametrize(
    "funding",
    [None, Funding(agency_quota=10), Funding(budget=1e9)],
    ids=["free", "quota", "budget"],
)
def test_both_modes_with_and_without_limits(funding: Funding | None) -> None:
    scores = _trade_scores()
    fit = assign(scores, mode=Mode.MAX_FIT, rejected=TRADE_REJECTED, funding=funding)
    placed = assign(scores, mode=Mode.MAX_PLACED, rejected=TRADE_REJECTED, funding=funding)
    assert {(p.applicant_id, p.offer_id) for p in fit.placements} == {("A-1", "O-1")}
    assert {(p.applicant_id, p.offer_id) for p in placed.placements} == {
        ("A-1", "O-2"),
        ("A-2", "O-1"),
    }
    # Limits that bind nothing cost no fit; without limits the solve is exact by construction:
    # its bound is the solution's value, no gap, no solver time.
    for result in (fit, placed):
        assert result.costs.fit_lost == 0.0
        assert result.costs.gap == pytest.approx(0.0, abs=1e-9)
        if funding is None:
            assert result.costs.bound == result.total_score
            assert result.costs.gap == 0.0 and result.costs.solver_seconds == 0.0
    [unplaced] = fit.unplaced
    assert unplaced.reason == (
        "Alle 1 zulässigen Angebote sind mit besser passenden Bewerbungen belegt; "
        f"am besten passte O-1 (Wien, Score {scores.score[1, 0]:.2f})."
    )


def test_max_placed_names_its_own_reason() -> None:
    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2")]
    scores = build_scores(applicants, [make_offer(id="O-1")], np.array([[0.9], [0.1]]))
    [unplaced] = assign(scores, mode=Mode.MAX_PLACED).unplaced
    assert unplaced.reason == (
        "Alle 1 zulässigen Angebote sind belegt, damit möglichst viele Bewerbungen einen Platz "
        f"bekommen; am besten passte O-1 (Wien, Score {scores.score[1, 0]:.2f})."
    )


def test_rejected_and_infeasible_reasons_exactly() -> None:
    applicants = [
        make_applicant(id="A-1"),
        make_applicant(id="A-2", languages={"en": "C1"}),
        make_applicant(id="A-3", languages={"en": "C1"}, weeks_wanted=9),
    ]
    scores = build_scores(applicants, [make_offer(id="O-1")], np.array([[0.5], [0.5], [0.5]]))
    reasons = {u.applicant_id: u.reason for u in assign(scores, rejected=[("A-1", "O-1")]).unplaced}
    assert reasons == {
        "A-1": "Alle zulässigen Angebote wurden für diese Person bereits abgelehnt.",
        "A-2": "Kein zulässiges Angebot: von 1 Angeboten scheitern Sprache bei 1.",
        "A-3": "Kein zulässiges Angebot: von 1 Angeboten scheitern Sprache bei 1, Dauer bei 1.",
    }


def test_ids_outside_the_round_change_nothing() -> None:
    """A rejected pair or a confirmed placement naming an unknown id blocks no other pair."""
    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2")]
    offers = [make_offer(id="O-1", capacity=2)]
    scores = build_scores(applicants, offers, np.array([[0.5], [0.4]]), confirmed={"A-2": "O-gone"})
    result = assign(scores, rejected=[("A-gone", "O-1"), ("A-1", "O-gone")])
    assert [(p.applicant_id, p.offer_id, p.pinned) for p in result.placements] == [
        ("A-1", "O-1", False)
    ]
    assert result.unplaced == ()


def test_places_left_never_counts_an_overfull_offer_below_zero() -> None:
    applicants = [make_applicant(id=f"A-{k}") for k in range(3)]
    offers = [make_offer(id="O-1", capacity=1), make_offer(id="O-2", capacity=3)]
    confirmed = {"A-0": "O-1", "A-1": "O-1"}  # O-1 cut to 1 place after two confirmations
    scores = build_scores(applicants, offers, np.zeros((3, 2)), confirmed=confirmed)
    result = assign(scores)
    assert [(p.applicant_id, p.offer_id) for p in result.placements if not p.pinned] == [
        ("A-2", "O-2")
    ]
    assert result.places_left(scores) == 2  # O-1: none (not −1), O-2: 3 − 1
    full = build_scores(applicants[:1], offers[:1], np.zeros((1, 1)), confirmed={"A-0": "O-1"})
    assert assign(full).places_left(full) == 0


def test_a_place_taken_by_a_better_fit_is_not_blamed_on_the_budget() -> None:
    """The budget is spent, but the one offer is full anyway: the reason says "belegt"."""
    applicants = [make_applicant(id="A-1"), make_applicant(id="A-2")]
    scores = build_scores(applicants, [make_offer(id="O-1")], np.array([[0.9], [0.5]]))
    wien = {"Wien": CityCost(travel_cost=200, weekly_cost=300)}  # 2 weeks: 800 €
    result = assign(scores, funding=Funding(budget=800, city_costs=wien))
    assert [p.applicant_id for p in result.placements] == ["A-1"]
    [unplaced] = result.unplaced
    assert unplaced.reason.startswith("Alle 1 zulässigen Angebote sind mit besser passenden")


def test_groups_without_a_placement_are_counted_as_zero() -> None:
    """An agency or a city nobody was placed in yet has a count of 0, not a missing one."""
    applicants = [
        make_applicant(id="A-1", agency="Amt A"),
        make_applicant(id="A-2", agency="Amt Z"),
    ]
    offers = [make_offer(id="O-1", city="Wien"), make_offer(id="O-2", city="Zürich")]
    scores = build_scores(applicants, offers, np.array([[0.9, -1.0], [0.5, 0.4]]))
    costs = {"Zürich": CityCost(travel_cost=500, weekly_cost=0)}
    funding = Funding(budget=100, agency_quota=5, city_quotas={"Zürich": 5}, city_costs=costs)
    result = assign(scores, funding=funding)
    assert [p.applicant_id for p in result.placements] == ["A-1"]
    [unplaced] = result.unplaced
    assert unplaced.reason.startswith("Budget ausgeschöpft: der Platz in Zürich")


def test_fit_lost_to_the_budget_keeps_the_quotas() -> None:
    """fit_lost compares with the best proposal under the same quotas, only without budget."""
    applicants = [
        make_applicant(id="A-1", agency="Amt A"),
        make_applicant(id="A-2", agency="Amt A"),
    ]
    scores = build_scores(applicants, [make_offer(id="O-1", capacity=2)], np.array([[0.9], [0.5]]))
    wien = {"Wien": CityCost(travel_cost=200, weekly_cost=300)}  # 800 € each
    result = assign(scores, funding=Funding(budget=1_000, agency_quota=1, city_costs=wien))
    assert [p.applicant_id for p in result.placements] == ["A-1"]
    assert result.costs.fit_lost == 0.0  # the quota alone keeps A-2 out as well
