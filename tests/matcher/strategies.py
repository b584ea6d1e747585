"""Hypothesis strategies for small rounds of valid applicants and offers."""

from __future__ import annotations

import os
from datetime import date, timedelta

from hypothesis import settings
from hypothesis import strategies as st

from matcher import Applicant, Offer
from tests.matcher.conftest import make_applicant, make_offer

START = date(2027, 3, 1)
CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")
LANGUAGES = ("de", "en", "fr", "pl")
CITIES = ("Wien", "Paris", "Prag", "Warschau")

levels = st.sampled_from(CEFR)

#: ``make mutate`` (tests/mutation_report.py) sets this: it runs the covering tests once per
#: mutant, so property tests draw a few fixed examples there; the worked examples and the exact
#: tests carry the rest.
MUTATION_RUN = os.environ.get("MATCHER_MUTATION_RUN") == "1"


def thorough(max_examples: int) -> settings:
    """``max_examples`` random examples, or 25 derandomized ones in a mutation run."""
    if MUTATION_RUN:
        return settings(
            max_examples=min(max_examples, 25), deadline=None, derandomize=True, database=None
        )
    return settings(max_examples=max_examples, deadline=None)


def _windows(
    max_offset: int, min_length: int, max_length: int
) -> st.SearchStrategy[tuple[date, date]]:
    return st.tuples(st.integers(0, max_offset), st.integers(min_length, max_length)).map(
        lambda pair: (START + timedelta(days=pair[0]), START + timedelta(days=sum(pair)))
    )


#: Windows near START; short ones make the date rule bite at its boundary.
windows = _windows(40, 0, 60)
#: Long, overlapping windows: most pairs pass the date rule (``lenient`` rounds).
wide_windows = _windows(14, 35, 120)


@st.composite
def applicants(
    draw: st.DrawFn, index: int, max_weeks: int = 9, *, lenient: bool = False
) -> Applicant:
    """One applicant with id ``A-<index>``; ``lenient`` makes most offers feasible."""
    start, end = draw(wide_windows if lenient else windows)
    languages = draw(st.dictionaries(st.sampled_from(LANGUAGES), levels, min_size=1, max_size=3))
    if lenient:
        languages["de"] = draw(st.sampled_from(["B2", "C1", "C2"]))
    return make_applicant(
        id=f"A-{index}",
        languages=languages,
        preferred_cities=draw(st.lists(st.sampled_from(CITIES), max_size=3, unique=True)),
        available_from=start,
        available_until=end,
        weeks_wanted=draw(st.integers(1, 3 if lenient else max_weeks)),
    )


@st.composite
def offers(draw: st.DrawFn, index: int, max_weeks: int = 9, *, lenient: bool = False) -> Offer:
    """One offer with id ``O-<index>``; ``lenient`` makes most applicants feasible."""
    start, end = draw(wide_windows if lenient else windows)
    low = draw(st.integers(1, 1 if lenient else max_weeks))
    working = draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True))
    if lenient and draw(st.integers(0, 3)) > 0:
        working = ["de", *(code for code in working if code != "de")]
    return make_offer(
        id=f"O-{index}",
        city=draw(st.sampled_from(CITIES)),
        working_languages=working,
        min_language_level=draw(levels),
        capacity=draw(st.integers(1 if lenient else 0, 3)),
        available_from=start,
        available_until=end,
        min_weeks=low,
        max_weeks=draw(st.integers(max(low, max_weeks if lenient else low), max_weeks)),
    )


@st.composite
def boundary_pairs(draw: st.DrawFn) -> tuple[Applicant, Offer, int]:
    """One applicant-offer pair with every rule placed on, or one step beside, its boundary.

    Random windows almost never produce an overlap of exactly 7 × weeks days, weeks equal to
    ``min_weeks`` or ``max_weeks``, or a level equal to the minimum, so an off-by-one in any rule
    would survive :func:`applicants`/:func:`offers`. Here each rule draws its distance to the
    boundary from {-1, 0, +1} (on the failing, exact and passing side) and builds the records
    around it; the third element is the number of confirmed placements on the offer.
    """
    min_weeks = draw(st.integers(1, 9))
    max_weeks = draw(st.integers(min_weeks, 9))
    weeks_at = draw(st.sampled_from(["below_min", "min", "max", "above_max"]))
    weeks = {
        "below_min": min_weeks - 1,
        "min": min_weeks,
        "max": max_weeks,
        "above_max": max_weeks + 1,
    }[weeks_at]
    weeks = max(1, weeks)
    overlap_delta = draw(st.sampled_from([-1, 0, 1]))
    overlap_days = 7 * weeks + overlap_delta
    shift = draw(st.integers(0, 10))
    applicant_first = draw(st.booleans())
    shared_start = START + timedelta(days=shift)
    shared_end = shared_start + timedelta(days=overlap_days - 1)
    # One side starts earlier, the other ends later: the overlap is exactly the shared window.
    wide = (shared_start - timedelta(days=draw(st.integers(0, 5))), shared_end)
    late = (shared_start, shared_end + timedelta(days=draw(st.integers(0, 5))))
    applicant_window, offer_window = (wide, late) if applicant_first else (late, wide)
    required = draw(st.integers(0, len(CEFR) - 1))
    level_step = draw(st.sampled_from([-1, 0, 1]))
    spoken = CEFR[min(max(required + level_step, 0), len(CEFR) - 1)]
    language = draw(st.sampled_from(LANGUAGES))
    capacity = draw(st.integers(0, 3))
    confirmed = max(0, capacity - draw(st.sampled_from([0, 1])))
    applicant = make_applicant(
        languages={language: spoken},
        available_from=applicant_window[0],
        available_until=applicant_window[1],
        weeks_wanted=weeks,
    )
    offer = make_offer(
        working_languages=[language],
        min_language_level=CEFR[required],
        capacity=capacity,
        available_from=offer_window[0],
        available_until=offer_window[1],
        min_weeks=min_weeks,
        max_weeks=max_weeks,
    )
    return applicant, offer, confirmed
