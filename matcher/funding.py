"""The central fund and the quotas of a round: costs per pair, limits as arrays, the cost report.

The encoder between records and :mod:`matcher.budget`'s arrays (habit 11): a placement costs the
offer's ``travel_cost + weekly_cost × weeks_wanted``, or what the round's table says for the
offer's city, else 0. Confirmed placements are paid and counted already, so they shrink the
budget and the quotas before the solver sees them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.budget import NO_LIMIT, Limits
from matcher.records import Applicant, Offer


@dataclass(frozen=True)
class CityCost:
    """Typical costs of a stay in one city, for offers that state none."""

    travel_cost: float = 0.0
    weekly_cost: float = 0.0


@dataclass(frozen=True)
class Funding:
    """Budget (EUR), quotas and the round's cost table; all optional.

    ``time_limit`` (seconds) stops the exact solver with its best solution and proven gap.
    """

    budget: float | None = None
    agency_quota: int | None = None
    city_quotas: Mapping[str, int] = field(default_factory=dict)
    city_costs: Mapping[str, CityCost] = field(default_factory=dict)
    time_limit: float = 60.0

    @property
    def limits_anything(self) -> bool:
        """Whether the assignment needs more than capacities (else the fast matching stays)."""
        return self.budget is not None or self.agency_quota is not None or bool(self.city_quotas)


def cost_matrix(
    applicants: Sequence[Applicant], offers: Sequence[Offer], city_costs: Mapping[str, CityCost]
) -> np.ndarray:
    """(n, m) EUR: ``cost[i, j]`` is what placing applicants[i] on offers[j] costs the fund."""
    travel = np.zeros(len(offers))
    weekly = np.zeros(len(offers))
    for j, offer in enumerate(offers):
        fallback = city_costs.get(offer.city, CityCost())
        if offer.has_costs:
            travel[j], weekly[j] = offer.travel_cost or 0.0, offer.weekly_cost or 0.0
        else:
            travel[j], weekly[j] = fallback.travel_cost, fallback.weekly_cost
    weeks = np.array([a.weeks_wanted for a in applicants], dtype=np.float64)
    return (travel[None, :] + weekly[None, :] * weeks[:, None]).reshape(len(weeks), len(offers))


@dataclass(frozen=True)
class Groups:
    """Agencies of the applicants and cities of the offers, as indices into name lists."""

    agencies: list[str]
    applicant_agency: np.ndarray
    cities: list[str]
    offer_city: np.ndarray

    @classmethod
    def of(cls, applicants: Sequence[Applicant], offers: Sequence[Offer]) -> Groups:
        agencies: dict[str, int] = {}
        cities: dict[str, int] = {}
        applicant_agency = [agencies.setdefault(a.quota_agency, len(agencies)) for a in applicants]
        offer_city = [cities.setdefault(o.city, len(cities)) for o in offers]
        return cls(
            list(agencies),
            np.array(applicant_agency, dtype=np.intp),
            list(cities),
            np.array(offer_city, dtype=np.intp),
        )


def limits_for(
    funding: Funding,
    cost: np.ndarray,
    groups: Groups,
    pinned: Sequence[tuple[int, int]],
    *,
    with_budget: bool = True,
) -> Limits:
    """The solver's limits after the ``pinned`` (row, column) placements took their share."""
    rows = np.array([i for i, _ in pinned], dtype=np.intp)
    cols = np.array([j for _, j in pinned], dtype=np.intp)
    agency_used = np.bincount(groups.applicant_agency[rows], minlength=len(groups.agencies))
    city_used = np.bincount(groups.offer_city[cols], minlength=len(groups.cities))
    agency_cap = np.full(len(groups.agencies), NO_LIMIT, dtype=np.int64)
    if funding.agency_quota is not None:
        agency_cap[:] = np.maximum(funding.agency_quota - agency_used, 0)
    city_cap = np.full(len(groups.cities), NO_LIMIT, dtype=np.int64)
    for k, city in enumerate(groups.cities):
        if city in funding.city_quotas:
            city_cap[k] = max(funding.city_quotas[city] - int(city_used[k]), 0)
    budget = None
    if with_budget and funding.budget is not None:
        budget = max(funding.budget - float(cost[rows, cols].sum()), 0.0)
    return Limits(cost, budget, groups.applicant_agency, agency_cap, groups.offer_city, city_cap)


@dataclass(frozen=True)
class CostReport:
    """What the proposal costs the fund, and what the limits cost in fit.

    ``fit_lost`` is the total score without the budget minus the total score with it (quotas
    apply to both); ``gap`` is the relative optimality gap the solver proved (0: optimal).
    """

    total_cost: float
    budget: float | None
    per_city: Mapping[str, float]
    per_agency: Mapping[str, float]
    fit_lost: float
    gap: float
    bound: float
    solver_seconds: float

    @property
    def budget_left(self) -> float | None:
        return None if self.budget is None else self.budget - self.total_cost


def cost_report(
    placed: Sequence[tuple[int, int]],
    cost: np.ndarray,
    groups: Groups,
    funding: Funding,
    *,
    fit_lost: float,
    gap: float,
    bound: float,
    seconds: float,
) -> CostReport:
    """Totals over every placement of the round, confirmed ones included."""
    per_city: dict[str, float] = {}
    per_agency: dict[str, float] = {}
    for i, j in placed:
        city, agency = (
            groups.cities[groups.offer_city[j]],
            groups.agencies[groups.applicant_agency[i]],
        )
        per_city[city] = per_city.get(city, 0.0) + float(cost[i, j])
        per_agency[agency] = per_agency.get(agency, 0.0) + float(cost[i, j])
    return CostReport(
        total_cost=float(sum(cost[i, j] for i, j in placed)),
        budget=funding.budget,
        per_city=dict(sorted(per_city.items())),
        per_agency=dict(sorted(per_agency.items())),
        fit_lost=fit_lost,
        gap=gap,
        bound=bound,
        solver_seconds=seconds,
    )


def euros(amount: float) -> str:
    """German amount: 3400 → „3 400 €“ (narrow no-break space between thousands)."""
    return f"{amount:,.0f}".replace(",", "\u202f") + " €"
