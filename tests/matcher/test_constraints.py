"""The four hard constraints at their exact boundaries, and against a plain re-statement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from matcher import Applicant, Offer, check_feasibility
from matcher.constraints import last_day
from tests.matcher import strategies
from tests.matcher.conftest import make_applicant, make_offer

START = strategies.START
CEFR = strategies.CEFR


def _feasible(applicant: Applicant, offer: Offer, confirmed: int = 0) -> bool:
    return bool(check_feasibility([applicant], [offer], [confirmed]).feasible[0, 0])


@pytest.mark.parametrize("weeks", [1, 2, 5])
def test_overlap_of_exactly_seven_days_per_week_is_feasible(weeks: int) -> None:
    days = 7 * weeks
    applicant = make_applicant(
        weeks_wanted=weeks, available_from=START, available_until=START + timedelta(days=200)
    )
    exact = make_offer(available_from=START, available_until=START + timedelta(days=days - 1))
    short = make_offer(available_from=START, available_until=START + timedelta(days=days - 2))
    assert _feasible(applicant, exact)
    assert not _feasible(applicant, short)


def test_overlap_is_the_intersection_of_both_windows() -> None:
    # Applicant 10.–30.3., offer 20.3.–30.4.: 11 shared days, enough for 1 week, not for 2.
    offer = make_offer(available_from=date(2027, 3, 20), available_until=date(2027, 4, 30))
    one = make_applicant(
        available_from=date(2027, 3, 10), available_until=date(2027, 3, 30), weeks_wanted=1
    )
    two = make_applicant(
        available_from=date(2027, 3, 10), available_until=date(2027, 3, 30), weeks_wanted=2
    )
    assert _feasible(one, offer)
    assert not _feasible(two, offer)


def test_disjoint_windows_are_infeasible() -> None:
    applicant = make_applicant(available_from=date(2027, 1, 1), available_until=date(2027, 2, 28))
    offer = make_offer(available_from=date(2027, 3, 1), available_until=date(2027, 12, 31))
    feasibility = check_feasibility([applicant], [offer])
    assert not feasibility.feasible[0, 0]
    [reason] = feasibility.reasons(0, 0)
    assert reason.startswith("Zeitraum") and "überschneiden sich nicht" in reason


@pytest.mark.parametrize(
    ("spoken", "required", "feasible"),
    [
        ("B1", "B1", True),
        ("A2", "B1", False),
        ("C2", "B1", True),
        ("B2", "C1", False),
        ("A1", "A1", True),
        ("C2", "C2", True),
        ("C1", "C2", False),
    ],
)
def test_language_level_must_reach_the_minimum(spoken: str, required: str, feasible: bool) -> None:
    applicant = make_applicant(languages={"fr": spoken})
    offer = make_offer(working_languages=["fr"], min_language_level=required)
    assert _feasible(applicant, offer) is feasible


def test_unlisted_language_is_not_spoken() -> None:
    applicant = make_applicant(languages={"de": "C2", "en": "C2"})
    offer = make_offer(working_languages=["pl"], min_language_level="A1")
    assert not _feasible(applicant, offer)


def test_one_working_language_at_the_level_suffices() -> None:
    applicant = make_applicant(languages={"de": "A1", "en": "B2"})
    offer = make_offer(working_languages=["de", "en"], min_language_level="B2")
    assert _feasible(applicant, offer)
    assert not _feasible(
        applicant, make_offer(working_languages=["de", "en"], min_language_level="C1")
    )


@pytest.mark.parametrize(
    ("weeks", "feasible"), [(2, False), (3, True), (4, True), (6, True), (7, False)]
)
def test_weeks_wanted_must_lie_within_min_and_max(weeks: int, feasible: bool) -> None:
    offer = make_offer(
        min_weeks=3, max_weeks=6, available_from=START, available_until=date(2027, 12, 31)
    )
    applicant = make_applicant(
        weeks_wanted=weeks, available_from=START, available_until=date(2027, 12, 31)
    )
    assert _feasible(applicant, offer) is feasible


def test_capacity_zero_is_infeasible() -> None:
    assert not _feasible(make_applicant(), make_offer(capacity=0))
    assert _feasible(make_applicant(), make_offer(capacity=1))


@pytest.mark.parametrize(
    ("capacity", "confirmed", "feasible"), [(2, 1, True), (2, 2, False), (1, 3, False)]
)
def test_confirmed_placements_use_up_capacity(
    capacity: int, confirmed: int, feasible: bool
) -> None:
    feasibility = check_feasibility(
        [make_applicant()], [make_offer(capacity=capacity)], [confirmed]
    )
    assert feasibility.free_places.tolist() == [capacity - confirmed]
    assert bool(feasibility.feasible[0, 0]) is feasible


def test_confirmed_count_is_per_offer() -> None:
    offers = [make_offer(id="O-1", capacity=1), make_offer(id="O-2", capacity=1)]
    feasibility = check_feasibility([make_applicant()], offers, [1, 0])
    assert feasibility.feasible.tolist() == [[False, True]]


def test_feasible_pair_has_no_reasons() -> None:
    feasibility = check_feasibility([make_applicant()], [make_offer()])
    assert feasibility.feasible[0, 0]
    assert feasibility.reasons(0, 0) == []


@pytest.mark.parametrize(
    ("applicant_overrides", "offer_overrides", "rule", "detail"),
    [
        ({"languages": {"de": "A2"}}, {"min_language_level": "B2"}, "Sprache", "Deutsch A2"),
        ({"languages": {"en": "C1"}}, {"working_languages": ["pl"]}, "Sprache", "Polnisch"),
        ({"weeks_wanted": 9}, {"max_weeks": 8}, "Dauer", "9 Wochen"),
        (
            {"available_until": date(2027, 3, 10), "weeks_wanted": 2},
            {},
            "Zeitraum",
            "nur 10 gemeinsame Tage",
        ),
        ({}, {"capacity": 0}, "Kapazität", "keinen freien Platz"),
    ],
    ids=["level", "language", "weeks", "dates", "capacity"],
)
def test_reason_names_the_failing_rule_in_german(
    applicant_overrides: dict[str, object],
    offer_overrides: dict[str, object],
    rule: str,
    detail: str,
) -> None:
    feasibility = check_feasibility(
        [make_applicant(**applicant_overrides)], [make_offer(**offer_overrides)]
    )
    assert not feasibility.feasible[0, 0]
    [reason] = feasibility.reasons(0, 0)
    assert reason.startswith(f"{rule}:")
    assert detail in reason


def test_every_failing_rule_gets_a_reason() -> None:
    applicant = make_applicant(
        languages={"en": "A1"}, weeks_wanted=10, available_until=date(2027, 3, 5)
    )
    offer = make_offer(capacity=0, max_weeks=4)
    reasons = check_feasibility([applicant], [offer]).reasons(0, 0)
    assert [reason.split(":")[0] for reason in reasons] == [
        "Sprache",
        "Dauer",
        "Zeitraum",
        "Kapazität",
    ]


def test_empty_inputs_give_empty_matrices() -> None:
    assert check_feasibility([], [make_offer()]).feasible.shape == (0, 1)
    assert check_feasibility([make_applicant()], []).feasible.shape == (1, 0)


# --- property: the vectorised check equals a plain statement of DATA_FORMAT.md -------------


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[Applicant], list[Offer], list[int]]:
    n, m = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    applicants = [draw(strategies.applicants(i)) for i in range(n)]
    offers = [draw(strategies.offers(j)) for j in range(m)]
    confirmed = draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))
    return applicants, offers, confirmed


def plain_feasible(applicant: Applicant, offer: Offer, confirmed: int) -> bool:
    """The four rules of DATA_FORMAT.md, one pair at a time."""
    language = any(
        code in applicant.languages
        and CEFR.index(applicant.languages[code]) >= CEFR.index(offer.min_language_level)
        for code in offer.working_languages
    )
    duration = offer.min_weeks <= applicant.weeks_wanted <= offer.max_weeks
    overlap_days = (
        min(applicant.available_until, offer.available_until)
        - max(applicant.available_from, offer.available_from)
    ).days + 1
    dates = overlap_days >= 7 * applicant.weeks_wanted
    capacity = offer.capacity - confirmed >= 1
    return language and duration and dates and capacity


@strategies.thorough(200)
@given(rounds())
def test_vectorised_feasibility_equals_plain_rules(
    round_: tuple[list[Applicant], list[Offer], list[int]],
) -> None:
    applicants, offers, confirmed = round_
    feasibility = check_feasibility(applicants, offers, confirmed)
    expected = [
        [plain_feasible(a, o, confirmed[j]) for j, o in enumerate(offers)] for a in applicants
    ]
    assert feasibility.feasible.shape == (len(applicants), len(offers))
    assert feasibility.feasible.tolist() == expected
    for i in range(len(applicants)):
        for j in range(len(offers)):
            assert (feasibility.reasons(i, j) == []) is expected[i][j]


# --- property: the same, with every rule on or beside its boundary ---------------------------


@strategies.thorough(300)
@given(strategies.boundary_pairs())
def test_feasibility_at_the_boundaries_equals_plain_rules(
    pair: tuple[Applicant, Offer, int],
) -> None:
    applicant, offer, confirmed = pair
    feasibility = check_feasibility([applicant], [offer], [confirmed])
    expected = plain_feasible(applicant, offer, confirmed)
    assert bool(feasibility.feasible[0, 0]) is expected
    assert (feasibility.reasons(0, 0) == []) is expected


def _overlap_minus_needed(applicant: Applicant, offer: Offer) -> int:
    overlap = (
        min(applicant.available_until, offer.available_until)
        - max(applicant.available_from, offer.available_from)
    ).days + 1
    return overlap - 7 * applicant.weeks_wanted


def _level_step(applicant: Applicant, offer: Offer) -> int:
    [level] = applicant.languages.values()
    return CEFR.index(level) - CEFR.index(offer.min_language_level)


BOUNDARIES: dict[str, Callable[[Applicant, Offer, int], bool]] = {
    "overlap exactly 7 × weeks": lambda a, o, _: _overlap_minus_needed(a, o) == 0,
    "overlap one day short": lambda a, o, _: _overlap_minus_needed(a, o) == -1,
    "weeks exactly min_weeks": lambda a, o, _: a.weeks_wanted == o.min_weeks < o.max_weeks,
    "weeks exactly max_weeks": lambda a, o, _: a.weeks_wanted == o.max_weeks > o.min_weeks,
    "weeks one above max_weeks": lambda a, o, _: a.weeks_wanted == o.max_weeks + 1,
    "weeks one below min_weeks": lambda a, o, _: a.weeks_wanted == o.min_weeks - 1,
    "level exactly the minimum": lambda a, o, _: _level_step(a, o) == 0,
    "level one below the minimum": lambda a, o, _: _level_step(a, o) == -1,
    "last free place": lambda _a, o, confirmed: o.capacity - confirmed == 1,
    "no free place": lambda _a, o, confirmed: o.capacity >= 1 and o.capacity == confirmed,
}


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_boundary_strategy_reaches_the_boundary(boundary: str) -> None:
    """Guards the strategy itself: each exact boundary is drawn, not only its neighbourhood."""
    applicant, offer, confirmed = find(
        strategies.boundary_pairs(),
        lambda pair: BOUNDARIES[boundary](*pair),
        settings=settings(max_examples=2000, database=None),
    )
    assert BOUNDARIES[boundary](applicant, offer, confirmed)


# --- the reasons' wording, exactly (coordinators read them; mutation testing found them loose) --


def test_language_reason_names_every_working_language_and_the_best_spoken_one() -> None:
    # Alphabetical and level order disagree here (de < en, but C1 > A2): the best level wins.
    applicant = make_applicant(languages={"de": "C1", "en": "A2"})
    offer = make_offer(working_languages=["de", "en"], min_language_level="C2")
    [reason] = check_feasibility([applicant], [offer]).reasons(0, 0)
    assert reason == (
        "Sprache: Deutsch oder Englisch mindestens auf C2 nötig (vorhanden: Deutsch C1)."
    )


def test_language_reason_says_when_no_working_language_is_spoken() -> None:
    applicant = make_applicant(languages={"de": "C2"})
    offer = make_offer(working_languages=["pl", "mt"], min_language_level="A1")
    [reason] = check_feasibility([applicant], [offer]).reasons(0, 0)
    # An unknown code is shown as it is, not dropped.
    assert reason == "Sprache: Polnisch oder mt mindestens auf A1 nötig (keine davon angegeben)."


def test_dates_reason_for_one_shared_day_counts_it() -> None:
    applicant = make_applicant(
        available_from=date(2027, 3, 1), available_until=date(2027, 3, 10), weeks_wanted=2
    )
    offer = make_offer(available_from=date(2027, 3, 10), available_until=date(2027, 6, 30))
    [reason] = check_feasibility([applicant], [offer]).reasons(0, 0)
    assert reason == (
        "Zeitraum: nur 1 gemeinsame Tage (10.03.2027–10.03.2027), für 2 Wochen sind 14 nötig."
    )


def test_last_day_of_a_stay_is_inclusive() -> None:
    assert last_day(date(2027, 3, 1), 1) == date(2027, 3, 7)
    assert last_day(date(2027, 3, 1), 2) == date(2027, 3, 14)


def test_obstacles_count_each_constraint_most_frequent_first() -> None:
    """The unplaced reason's summary: offers ruled out per constraint, zero counts left out."""
    applicant = make_applicant(languages={"de": "C2"}, weeks_wanted=2)
    offers = [
        make_offer(id="O-1", working_languages=["fr"]),
        make_offer(id="O-2", working_languages=["fr"], min_weeks=3),
        make_offer(id="O-3", min_weeks=3, capacity=1),
        make_offer(id="O-4", working_languages=["pl"]),
        make_offer(id="O-5", available_from="2027-09-01", available_until="2027-12-31"),
    ]
    feasibility = check_feasibility([applicant], offers, [0, 0, 1, 0, 0])
    assert feasibility.obstacles(0) == (
        "von 5 Angeboten scheitern Sprache bei 3, Dauer bei 2, Zeitraum bei 1, Kapazität bei 1."
    )


def test_every_spoken_language_counts_not_only_the_last() -> None:
    applicant = make_applicant(languages={"de": "C2", "fr": "C2", "pl": "C2"})
    offers = [make_offer(id=f"O-{code}", working_languages=[code]) for code in ("de", "fr", "pl")]
    assert check_feasibility([applicant], offers, [0, 0, 0]).language[0].tolist() == [True] * 3
