"""Learning from decisions through the API: threshold, learning, use in runs and shortlists."""

from __future__ import annotations

from models.tables import PlacementStatus
from tests.api.conftest import Api, Record

PLANTED_CITY = "Wien"


def test_learning_needs_enough_decisions_and_base_ranking_stands(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:12])
    refused = api.post(f"/api/rounds/{round_id}/ranker/learn", headers=api.coordinator)
    assert refused.status_code == 409
    assert "Zu wenige Entscheidungen" in refused.json()["detail"]
    status = api.ok("GET", f"/api/rounds/{round_id}/ranker")
    assert (status["active"], status["version"]) == ("basis", None)
    shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/A-001/shortlist")
    assert shortlist["ranker"] == "basis"
    assert api.run(round_id)["result"]["ranker"] == "basis"


def test_planted_rejections_are_learned_used_and_can_be_switched_off(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data)
    planted = [o["id"] for o in offers_data if o["city"] == PLANTED_CITY]
    elsewhere = [o["id"] for o in offers_data if o["city"] != PLANTED_CITY]
    applicants = [a["id"] for a in applicants_data[:40]]
    api.add_placements(
        round_id,
        [(a, planted[k % len(planted)]) for k, a in enumerate(applicants)],
        PlacementStatus.REJECTED,
    )
    api.add_placements(
        round_id,
        [(a, elsewhere[k % len(elsewhere)]) for k, a in enumerate(applicants)],
        PlacementStatus.CONFIRMED,
    )

    learned = api.ok("POST", f"/api/rounds/{round_id}/ranker/learn", 201)
    assert (learned["confirmed"], learned["rejected"]) == (40, 40)
    assert learned["active"] == f"rerank:{learned['version']}"

    shortlist = api.ok(
        "GET",
        f"/api/rounds/{round_id}/applicants/{applicants_data[60]['id']}/shortlist",
        params={"top_k": 36},
    )
    assert shortlist["ranker"] == learned["active"]
    ranked = [s["offer_id"] for s in shortlist["suggestions"]]
    in_city = [k for k, offer_id in enumerate(ranked) if offer_id in planted]
    assert in_city and min(in_city) >= len(ranked) - len(in_city) - 2, "Wien sinks to the end"
    demoted = shortlist["suggestions"][in_city[0]]
    assert f"Stadt {PLANTED_CITY} −" in demoted["rerank_explanation"]
    assert api.run(round_id)["result"]["ranker"] == learned["active"]

    switched = api.ok("PATCH", f"/api/rounds/{round_id}/ranker", json={"enabled": False})
    assert (switched["enabled"], switched["active"]) == (False, "basis")
    shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/A-001/shortlist")
    assert shortlist["ranker"] == "basis"
    assert all(s["rerank_explanation"] is None for s in shortlist["suggestions"])
