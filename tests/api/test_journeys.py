"""Whole journeys through the HTTP API: coordinator, applicant and mentor."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

import matcher
from api import office
from models.tables import PlacementStatus, Role
from tests.api.conftest import Api, Record, sample_records
from tests.conftest import BACKENDS

#: Journeys and integrity rules hold on both backends.
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def by_id(records: list[Record]) -> dict[str, Record]:
    return {record["id"]: record for record in records}


def keys_anywhere(value: Any) -> set[str]:
    """Every key of every object in a decoded JSON value."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_anywhere(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_anywhere(item)}
    return set()


def assert_within_capacity(api: Api, round_id: int, offers: list[Record]) -> None:
    """Confirmed plus proposed placements of every offer fit its capacity."""
    taken = Counter(
        p["offer_id"] for p in api.placements(round_id) if p["status"] != PlacementStatus.REJECTED
    )
    capacity = {offer["id"]: offer["capacity"] for offer in offers}
    over = {offer: n for offer, n in taken.items() if n > capacity[offer]}
    assert not over, f"more placements than places: {over}"


def test_coordinator_journey(
    api: Api,
    offers_data: list[Record],
    applicants_data: list[Record],
    engine_scorer: matcher.TopicScorer,
) -> None:
    # Create a round and import the whole sample.
    created = api.ok("POST", "/api/rounds", 201, json={"name": "Hospitationen 2027"})
    assert created["status"] == "open"
    assert (created["applicants"], created["offers"], created["places"]) == (0, 0, 0)
    round_id = created["id"]
    imported = api.ok(
        "POST",
        f"/api/rounds/{round_id}/import",
        201,
        json={"offers": offers_data, "applicants": applicants_data},
    )
    assert imported == {"offers": len(offers_data), "applicants": len(applicants_data)}
    summary = api.ok("GET", f"/api/rounds/{round_id}")
    assert summary["applicants"] == len(applicants_data) == 79
    assert summary["offers"] == len(offers_data) == 36
    assert summary["places"] == sum(offer["capacity"] for offer in offers_data)
    assert (summary["placed"], summary["proposed"]) == (0, 0)

    # Shortlists: feasible offers, best first, explained, and exactly what `matcher rank` gives.
    offers, applicants = sample_records(offers_data, applicants_data)
    reference = matcher.score_pairs(engine_scorer, applicants, offers)
    expected = {r.applicant_id: r for r in matcher.rank(reference, top_k=5)}
    for applicant_id in ("A-001", "A-002", "A-040", "A-079"):  # A-079 fits no offer at all
        shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist")
        suggestions = shortlist["suggestions"]
        assert shortlist["applicant_id"] == applicant_id
        assert len(suggestions) == (0 if applicant_id == "A-079" else 5)
        scores = [s["score"] for s in suggestions]
        assert scores == sorted(scores, reverse=True)
        for s in suggestions:
            assert s["feasible"] is True
            assert s["reasons"] == []
            assert "Arbeitssprache" in s["explanation"]
            assert set(s["parts"]) == {"topic_fit", "preference_bonus"}
        engine = expected[applicant_id].suggestions
        assert [s["offer_id"] for s in suggestions] == [e.offer_id for e in engine]
        # One applicant vs all 79 at once: float32 products round differently, and the second
        # model's calibration scale (~6) enlarges that; 1e-5 is still far below any rank gap.
        for s, e in zip(suggestions, engine, strict=True):
            assert s["score"] == pytest.approx(e.score, abs=1e-5)
            assert s["parts"]["topic_fit"] == pytest.approx(e.topic_fit, abs=1e-5)
            assert s["parts"]["preference_bonus"] == pytest.approx(e.preference_bonus, abs=1e-9)
            assert s["explanation"] == replace(e.explanation, strength=s["strength"]).text

    # Candidates of an offer: feasible applicants, best first, the engine's scores.
    offer_id = "H-008"
    candidates = api.ok("GET", f"/api/rounds/{round_id}/offers/{offer_id}/candidates")
    assert candidates["offer_id"] == offer_id
    engine_candidates = matcher.rank_candidates(reference, reference.offer_index[offer_id])
    assert [c["applicant_id"] for c in candidates["candidates"]] == [
        applicant_id for applicant_id, _ in engine_candidates.candidates
    ]
    j = reference.offer_index[offer_id]
    for c, (_, score) in zip(candidates["candidates"], engine_candidates.candidates, strict=True):
        assert c["score"] == pytest.approx(score, abs=1e-5)
        assert reference.feasibility.feasible[reference.applicant_index[c["applicant_id"]], j]

    # Batch run, then the proposals it stored.
    run = api.run(round_id)
    assert run["progress"] == 1.0
    proposals = api.placements(round_id, "proposed")
    assert {p["id"] for p in proposals} == {p["placement_id"] for p in run["result"]["proposals"]}
    assert len(proposals) >= 2
    assert_within_capacity(api, round_id, offers_data)

    # Confirm one proposal and reject another, each with a reason.
    kept, dropped = proposals[0], proposals[1]
    confirmed = api.ok(
        "POST",
        f"/api/rounds/{round_id}/placements/{kept['id']}/confirm",
        json={"reason": "Passt fachlich, Mentorin einverstanden"},
    )
    assert confirmed["status"] == "confirmed"
    assert confirmed["decided_by"] == api.coordinator_actor
    assert confirmed["reason"] == "Passt fachlich, Mentorin einverstanden"
    rejected = api.ok(
        "POST",
        f"/api/rounds/{round_id}/placements/{dropped['id']}/reject",
        json={"reason": "Zeitraum passt nicht zur Elternzeit"},
    )
    assert rejected["status"] == "rejected"
    assert rejected["decided_by"] == api.coordinator_actor
    assert api.ok("GET", f"/api/rounds/{round_id}")["placed"] == 1

    # Re-run: the confirmed placement stays, the rejected pair is never proposed again.
    rerun = api.run(round_id)
    after = {p["id"]: p for p in api.placements(round_id)}
    assert after[kept["id"]] == confirmed
    assert after[dropped["id"]]["status"] == "rejected"
    reproposed = [p for p in after.values() if p["status"] == "proposed"]
    assert not [p for p in reproposed if p["applicant_id"] == kept["applicant_id"]]
    assert not [
        p
        for p in reproposed
        if (p["applicant_id"], p["offer_id"]) == (dropped["applicant_id"], dropped["offer_id"])
    ]
    assert {"applicant_id": kept["applicant_id"], "offer_id": kept["offer_id"]}.items() <= (
        rerun["result"]["pinned"][0].items()
    )
    assert len(rerun["result"]["pinned"]) == 1
    assert_within_capacity(api, round_id, offers_data)

    # The audit log names the coordinator and keeps the reasons.
    audit = api.ok("GET", f"/api/rounds/{round_id}/audit")
    entries = {(e["action"], e["placement_id"]): e for e in audit}
    confirm_entry = entries[("confirm", kept["id"])]
    reject_entry = entries[("reject", dropped["id"])]
    assert confirm_entry["actor"] == reject_entry["actor"] == api.coordinator_actor
    assert confirm_entry["reason"] == "Passt fachlich, Mentorin einverstanden"
    assert reject_entry["reason"] == "Zeitraum passt nicht zur Elternzeit"

    # Export: one row per applicant; the confirmed one with its offer's city and mentor.
    response = api.get(f"/api/rounds/{round_id}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";")
    assert reader.fieldnames == list(office.EXPORT_HEADER)
    rows = list(reader)
    assert [row["Bewerbung"] for row in rows] == [a["id"] for a in applicants_data]
    row = next(row for row in rows if row["Bewerbung"] == kept["applicant_id"])
    offer = by_id(offers_data)[kept["offer_id"]]
    assert row["Status"] == "bestätigt"
    assert row["Angebot"] == offer["id"]
    assert row["Stadt"] == offer["city"]
    assert row["Mentor/in"] == offer["mentor_name"]
    proposed_rows = {r["Bewerbung"]: r["Angebot"] for r in rows if r["Status"] == "vorgeschlagen"}
    assert proposed_rows == {p["applicant_id"]: p["offer_id"] for p in reproposed}


@pytest.fixture
def scarce_round(api: Api, offers_data: list[Record], applicants_data: list[Record]) -> int:
    """H-002 (one place) and two applicants who both fit it."""
    offers = by_id(offers_data)
    applicants = by_id(applicants_data)
    assert offers["H-002"]["capacity"] == 1
    return api.new_round([offers["H-002"]], [applicants["A-001"], applicants["A-002"]])


def confirmed_on(api: Api, round_id: int, offer_id: str) -> int:
    return sum(p["offer_id"] == offer_id for p in api.placements(round_id, "confirmed"))


def test_confirm_gets_409_when_the_place_was_given_by_hand(api: Api, scarce_round: int) -> None:
    """The manual placement fills the offer, so the proposal on it is superseded (issue 12)."""
    run = api.run(scarce_round)
    [proposal] = api.placements(scarce_round, "proposed")
    assert proposal["offer_id"] == "H-002"
    [unplaced] = run["result"]["unplaced"]
    placed = api.post(
        f"/api/rounds/{scarce_round}/placements",
        json={"applicant_id": unplaced["applicant_id"], "offer_id": "H-002"},
    )
    assert placed.status_code == 201, placed.text
    assert confirmed_on(api, scarce_round, "H-002") == 1

    response = api.post(f"/api/rounds/{scarce_round}/placements/{proposal['id']}/confirm")
    assert response.status_code == 409
    assert "superseded" in response.json()["detail"]
    assert confirmed_on(api, scarce_round, "H-002") == 1
    assert api.placements(scarce_round, "proposed") == []
    [superseded] = api.placements(scarce_round, "superseded")
    assert superseded["id"] == proposal["id"]


@pytest.fixture
def last_place(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> tuple[int, list[Record]]:
    """A round whose offer H-001 has two proposals but, since, only one place."""
    offer = by_id(offers_data)["H-001"]
    assert offer["capacity"] == 2
    applicants = by_id(applicants_data)
    round_id = api.new_round([offer], [applicants["A-001"], applicants["A-002"]])
    api.run(round_id)
    proposals = api.placements(round_id, "proposed")
    assert [p["offer_id"] for p in proposals] == ["H-001", "H-001"]
    api.ok("PUT", f"/api/rounds/{round_id}/offers/H-001", json={**offer, "capacity": 1})
    return round_id, proposals


def test_second_of_two_proposals_for_the_last_place_gets_409(
    api: Api, last_place: tuple[int, list[Record]]
) -> None:
    round_id, (first, second) = last_place
    api.ok("POST", f"/api/rounds/{round_id}/placements/{first['id']}/confirm")
    response = api.post(f"/api/rounds/{round_id}/placements/{second['id']}/confirm")
    assert response.status_code == 409
    # The first confirmation filled H-001, which superseded the second proposal at once.
    assert "superseded" in response.json()["detail"]
    assert confirmed_on(api, round_id, "H-001") == 1


def test_bulk_confirm_beyond_capacity_stores_nothing(
    api: Api, last_place: tuple[int, list[Record]]
) -> None:
    round_id, proposals = last_place
    before = api.counts()
    response = api.post(
        f"/api/rounds/{round_id}/decisions",
        json={"decisions": [{"placement_id": p["id"], "decision": "confirm"} for p in proposals]},
    )
    assert response.status_code == 409
    assert "superseded" in response.json()["detail"]
    assert api.placements(round_id) == proposals
    assert api.counts() == before


def test_manual_placement(api: Api, api_round: int) -> None:
    shortlist = api.ok("GET", f"/api/rounds/{api_round}/applicants/A-001/shortlist")
    best, second = shortlist["suggestions"][:2]
    body = {"applicant_id": "A-001", "offer_id": best["offer_id"], "reason": "Wunsch der Leitung"}
    placed = api.post(f"/api/rounds/{api_round}/placements", json=body)
    assert placed.status_code == 201, placed.text
    view = placed.json()
    assert (view["applicant_id"], view["offer_id"], view["status"]) == (
        "A-001",
        best["offer_id"],
        "confirmed",
    )
    assert view["decided_by"] == api.coordinator_actor
    assert view["reason"] == "Wunsch der Leitung"
    assert view["score"] == pytest.approx(best["score"], abs=1e-6)

    # Infeasible: A-002 speaks no French, H-004 works in French only.
    infeasible = api.post(
        f"/api/rounds/{api_round}/placements", json={"applicant_id": "A-002", "offer_id": "H-004"}
    )
    assert infeasible.status_code == 409
    assert "Sprache" in infeasible.json()["detail"]

    # Already confirmed elsewhere.
    twice = api.post(
        f"/api/rounds/{api_round}/placements",
        json={"applicant_id": "A-001", "offer_id": second["offer_id"]},
    )
    assert twice.status_code == 409
    assert "bereits einen bestätigten Platz" in twice.json()["detail"]

    unknown = api.post(
        f"/api/rounds/{api_round}/placements", json={"applicant_id": "A-999", "offer_id": "H-001"}
    )
    assert unknown.status_code == 404
    assert [p["applicant_id"] for p in api.placements(api_round)] == ["A-001"]


def test_bulk_decisions_are_all_or_nothing(api: Api, api_round: int) -> None:
    api.run(api_round)
    first, second, third = api.placements(api_round, "proposed")[:3]
    url = f"/api/rounds/{api_round}/decisions"
    before = api.counts()
    failing = api.post(
        url,
        json={
            "decisions": [
                {"placement_id": first["id"], "decision": "confirm", "reason": "ok"},
                {"placement_id": second["id"], "decision": "reject", "reason": "nein"},
                {"placement_id": first["id"], "decision": "reject"},  # decided a line above
            ]
        },
    )
    assert failing.status_code == 409
    statuses = {p["id"]: p["status"] for p in api.placements(api_round)}
    assert statuses[first["id"]] == statuses[second["id"]] == "proposed"
    audit = api.ok("GET", f"/api/rounds/{api_round}/audit")
    assert [e["action"] for e in audit] == ["run_started", "run_finished"]  # no decision
    assert api.counts() == before

    decided = api.ok(
        "POST",
        url,
        json={
            "decisions": [
                {"placement_id": first["id"], "decision": "confirm"},
                {"placement_id": second["id"], "decision": "reject", "reason": "nein"},
            ]
        },
    )
    assert [(p["id"], p["status"]) for p in decided] == [
        (first["id"], "confirmed"),
        (second["id"], "rejected"),
    ]
    statuses = {p["id"]: p["status"] for p in api.placements(api_round)}
    assert statuses[third["id"]] == "proposed"
    actions = [
        (e["action"], e["placement_id"]) for e in api.ok("GET", f"/api/rounds/{api_round}/audit")
    ]
    assert actions[2:] == [("confirm", first["id"]), ("reject", second["id"])]


def test_round_status_lifecycle(api: Api, api_round: int, offers_data: list[Record]) -> None:
    base = f"/api/rounds/{api_round}"
    api.run(api_round)
    proposal = api.placements(api_round, "proposed")[0]
    assert api.ok("PATCH", base, json={"status": "matching"})["status"] == "matching"
    closing = {"status": "closed", "reject_pending": True}
    assert api.ok("PATCH", base, json=closing)["status"] == "closed"
    before = api.counts()

    new_offer = {**offers_data[0], "id": "H-NEU"}
    refused = {
        "import": api.post(f"{base}/import", json={"offers": [new_offer], "applicants": []}),
        "confirm": api.post(f"{base}/placements/{proposal['id']}/confirm"),
        "reject": api.post(f"{base}/placements/{proposal['id']}/reject"),
        "run": api.post(f"{base}/runs", json={"mode": "max-fit"}),
        "place": api.post(
            f"{base}/placements", json={"applicant_id": "A-001", "offer_id": "H-001"}
        ),
        "add offer": api.post(f"{base}/offers", json=new_offer),
        "delete offer": api.request("DELETE", f"{base}/offers/H-001"),
        "reopen": api.request("PATCH", base, json={"status": "open"}),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 409)
    assert "abgeschlossen" in refused["confirm"].json()["detail"]
    assert api.counts() == before

    for url in (
        base,
        f"{base}/offers",
        f"{base}/applicants/A-001",
        f"{base}/placements",
        f"{base}/applicants/A-001/shortlist",
        f"{base}/runs",
        f"{base}/audit",
        f"{base}/export.csv",
    ):
        assert api.get(url).status_code == 200, url
    assert api.ok("GET", base)["status"] == "closed"


def test_applicant_sees_own_suggestions_only(
    api: Api, api_round: int, applicants_data: list[Record], offers_data: list[Record]
) -> None:
    api.run(api_round)
    proposal = api.placements(api_round, "proposed")[0]
    me = proposal["applicant_id"]
    _, token = api.issue(Role.APPLICANT, api_round, applicant_id=me)

    response = api.get("/api/me/suggestions", token=token)
    assert response.status_code == 200, response.text
    suggestions = response.json()
    assert suggestions[0]["offer_id"] == proposal["offer_id"]
    assert suggestions[0]["status"] == "vorgeschlagen"
    offers = by_id(offers_data)
    for s in suggestions:
        assert set(s) == {
            "offer_id",
            "title",
            "organisation",
            "city",
            "mentor_name",
            "strength",
            "explanation",
            "explanation_language",
            "status",
            "stay_from",
            "stay_until",
        }
        offer = offers[s["offer_id"]]
        held = s["status"] == "vorgeschlagen"
        start = max(by_id(applicants_data)[me]["available_from"], offer["available_from"])
        assert s["stay_from"] == (start if held else None), s
        assert (s["city"], s["mentor_name"]) == (offer["city"], offer["mentor_name"])
        assert "Arbeitssprache" in s["explanation"]
    assert "score" not in keys_anywhere(suggestions)
    others = [a for a in applicants_data if a["id"] != me]
    for other in others:
        for value in (other["id"], other["name"], other["email"]):
            assert value not in response.text

    api.ok("POST", f"/api/rounds/{api_round}/placements/{proposal['id']}/confirm")
    again = api.ok("GET", "/api/me/suggestions", token=token)
    assert again[0]["offer_id"] == proposal["offer_id"]
    assert again[0]["status"] == "bestätigt"


def test_mentor_journey(api: Api, api_round: int) -> None:
    api.run(api_round)
    proposals = api.placements(api_round, "proposed")
    first_per_offer = {p["offer_id"]: p for p in reversed(proposals)}
    assert len(first_per_offer) >= 4, "the round should spread over at least four offers"
    mine_confirmed, mine_proposed, mine_rejected, foreign = list(first_per_offer.values())[:4]
    base = f"/api/rounds/{api_round}/placements"
    api.ok("POST", f"{base}/{mine_confirmed['id']}/confirm")
    api.ok("POST", f"{base}/{mine_rejected['id']}/reject")
    api.ok("POST", f"{base}/{foreign['id']}/confirm")
    my_offers = [p["offer_id"] for p in (mine_confirmed, mine_proposed, mine_rejected)]
    mentor_id, token = api.issue(Role.MENTOR, api_round, offer_ids=my_offers)

    guests = api.ok("GET", "/api/mentor/guests", token=token)
    expected = {
        p["id"]: (p["offer_id"], p["status"])
        for p in api.placements(api_round)
        if p["offer_id"] in my_offers and p["status"] != "rejected"
    }
    assert {g["placement_id"]: (g["offer_id"], g["status"]) for g in guests} == expected
    assert mine_confirmed["id"] in expected
    assert mine_proposed["id"] in expected

    accepted = api.ok(
        "POST",
        f"/api/mentor/guests/{mine_confirmed['id']}/accept",
        token=token,
        json={"reason": "Herzlich willkommen"},
    )
    assert accepted["mentor_decision"] == "accepted"
    assert accepted["mentor_reason"] == "Herzlich willkommen"
    assert accepted["status"] == "confirmed"
    audit = api.ok("GET", f"/api/rounds/{api_round}/audit")
    [entry] = [e for e in audit if e["action"] == "mentor_accepted"]
    assert entry["actor"] == f"mentor:{mentor_id}"
    assert entry["placement_id"] == mine_confirmed["id"]
    assert entry["reason"] == "Herzlich willkommen"

    proposed = api.post(f"/api/mentor/guests/{mine_proposed['id']}/accept", token=token)
    assert proposed.status_code == 409
    not_mine = api.post(f"/api/mentor/guests/{foreign['id']}/accept", token=token)
    assert not_mine.status_code == 404
    missing = api.post("/api/mentor/guests/999999/decline", token=token)
    assert missing.status_code == 404
    statuses = {p["id"]: p for p in api.placements(api_round)}
    assert statuses[foreign["id"]]["mentor_decision"] is None
    assert statuses[mine_proposed["id"]]["mentor_decision"] is None
