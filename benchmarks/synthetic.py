"""Synthetic rounds and assignment problems, seeded, built from the fixture texts."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

import matcher
from matcher import Applicant, Offer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CITIES = (
    "Wien", "Paris", "Warschau", "Prag", "Budapest", "Amsterdam", "Helsinki", "Brüssel",
    "Kopenhagen", "Stockholm", "Lissabon", "Madrid", "Rom", "Tallinn", "Ljubljana", "Krakau",
    "Lyon", "Rotterdam", "Brünn", "Zürich", "Graz", "Oslo", "Dublin", "Barcelona",
)  # fmt: skip
SEASON_START = date(2027, 2, 1)


def fixture_records() -> tuple[list[Offer], list[Applicant]]:
    """The sample round of ``fixtures/`` as engine records."""
    offers = matcher.load_offers((FIXTURES / "offers.json").read_bytes(), source="offers.json")
    applicants = matcher.load_applicants(
        (FIXTURES / "applicants.json").read_bytes(), source="applicants.json"
    )
    return offers, applicants


def synthetic_offers(templates: list[Offer], count: int, *, seed: int = 0) -> list[Offer]:
    """``count`` offers reusing the texts of ``templates`` with varied ids, cities and dates.

    Texts repeat (offer k reads like template k mod len), so embedding them is cheap, but every
    offer is its own row, record and column: matrix sizes are those of ``count`` distinct offers.
    """
    rng = np.random.default_rng(seed)
    offers = []
    for k in range(count):
        template = templates[k % len(templates)]
        start = SEASON_START + timedelta(days=int(rng.integers(0, 150)))
        min_weeks = int(rng.integers(1, 5))
        offers.append(
            template.model_copy(
                update={
                    "id": f"S-{k:05d}",
                    "city": CITIES[int(rng.integers(len(CITIES)))],
                    "capacity": int(rng.integers(1, 4)),
                    "available_from": start,
                    "available_until": start + timedelta(days=int(rng.integers(42, 240))),
                    "min_weeks": min_weeks,
                    "max_weeks": min_weeks + int(rng.integers(0, 9)),
                }
            )
        )
    return offers


def synthetic_applicants(
    templates: list[Applicant], count: int, *, seed: int = 0
) -> list[Applicant]:
    """``count`` applicants reusing the texts of ``templates`` with varied ids, cities, dates.

    As :func:`synthetic_offers`: texts repeat (embedding them is cheap), every applicant is its
    own row and its own shortlist.
    """
    rng = np.random.default_rng(seed)
    applicants = []
    for k in range(count):
        template = templates[k % len(templates)]
        start = SEASON_START + timedelta(days=int(rng.integers(0, 120)))
        weeks = int(rng.integers(1, 5))
        cities = [CITIES[int(c)] for c in rng.choice(len(CITIES), int(rng.integers(0, 4)), False)]
        applicants.append(
            template.model_copy(
                update={
                    "id": f"B-{k:05d}",
                    "preferred_cities": cities,
                    "available_from": start,
                    "available_until": start + timedelta(days=7 * weeks + int(rng.integers(0, 90))),
                    "weeks_wanted": weeks,
                }
            )
        )
    return applicants
