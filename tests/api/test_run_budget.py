"""A run with a budget and quotas: parameters in the request, costs and reasons in the result."""

from __future__ import annotations

from collections import Counter

from tests.api.conftest import Api, Record


def test_run_keeps_budget_and_quotas_and_reports_costs(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:20])
    free = api.run(round_id)["result"]
    assert free["budget"] is None and free["total_cost"] > 0
    budget = round(0.6 * free["total_cost"])
    body = {"mode": "max-placed", "budget": budget, "agency_quota": 2, "city_quotas": {"Wien": 1}}
    started = api.ok("POST", f"/api/rounds/{round_id}/runs", 202, json=body)
    run = api.wait_run(round_id, started["id"])
    assert run["status"] == "done", run
    result = run["result"]

    proposals = result["proposals"]
    assert result["budget"] == budget
    assert result["total_cost"] == sum(p["cost"] for p in proposals) <= budget
    assert result["budget_left"] == budget - result["total_cost"]
    assert sum(result["cost_per_city"].values()) == result["total_cost"]
    assert result["gap"] <= 1e-6 and result["fit_lost_to_budget"] >= 0
    city = {o["id"]: o["city"] for o in offers_data}
    assert Counter(city[p["offer_id"]] for p in proposals)["Wien"] <= 1
    agency = {a["id"]: a["home_organisation"].split(" – ")[0] for a in applicants_data}
    assert max(Counter(agency[p["applicant_id"]] for p in proposals).values()) <= 2
    reasons = " ".join(u["reason"] for u in result["unplaced"])
    assert "Quote für" in reasons


def test_negative_budget_is_refused_with_the_field(api: Api, api_round: int) -> None:
    response = api.post(f"/api/rounds/{api_round}/runs", json={"budget": -1})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("budget")
    response = api.post(f"/api/rounds/{api_round}/runs", json={"city_quotas": {"Wien": -2}})
    assert response.status_code == 422
