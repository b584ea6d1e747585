"""Budget and quota parameters at the edge: CLI and API input to ``matcher.funding.Funding``,
and the cost figures of an assignment as JSON (the same keys for ``matcher assign --json`` and
a run's result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matcher import Assignment
from matcher.funding import CityCost, Funding
from models.schemas import FundingIn


def funding_of(parameters: FundingIn | Mapping[str, Any] | None, *, time_limit: float) -> Funding:
    """The engine's Funding for validated parameters (None: costs from offers only)."""
    params = FundingIn.model_validate(parameters or {})
    return Funding(
        budget=params.budget,
        agency_quota=params.agency_quota,
        city_quotas=dict(params.city_quotas),
        city_costs={
            city: CityCost(cost.travel_cost, cost.weekly_cost)
            for city, cost in params.city_costs.items()
        },
        time_limit=time_limit,
    )


def cost_json(assignment: Assignment) -> dict[str, Any]:
    """Total cost, budget and what is left, cost per city and agency, fit lost, proven gap."""
    costs = assignment.costs
    left = costs.budget_left
    return {
        "total_cost": round(costs.total_cost, 2),
        "budget": costs.budget,
        "budget_left": None if left is None else round(left, 2),
        "cost_per_city": {city: round(v, 2) for city, v in costs.per_city.items()},
        "cost_per_agency": {agency: round(v, 2) for agency, v in costs.per_agency.items()},
        "fit_lost_to_budget": round(costs.fit_lost, 6),
        "gap": costs.gap,
    }
