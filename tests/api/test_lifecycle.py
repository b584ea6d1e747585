"""Issue 12's decision lifecycle through the HTTP API, on SQLite and PostgreSQL.

Drop-outs, host declines and releases free the place at once and the next run fills it from the
alternates; closing needs every proposal decided; a closed round can be reopened; a manual
placement supersedes the proposals it makes impossible; edits that break confirmed placements
are refused unless forced, and forced ones land in the coordinator's to-do list.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from models.tables import AuditEntry, Role
from tests.api.conftest import Api, Record
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def by_id(records: list[Record]) -> dict[str, Record]:
    return {record["id"]: record for record in records}


@pytest.fixture
def scarce(api: Api, offers_data: list[Record], applicants_data: list[Record]) -> int:
    """H-002 (one place) and A-001, A-002, who both fit it: one is proposed, one is runner-up."""
    offers, applicants = by_id(offers_data), by_id(applicants_data)
    assert offers["H-002"]["capacity"] == 1
    return api.new_round([offers["H-002"]], [applicants["A-001"], applicants["A-002"]])


def confirmed_guest(api: Api, round_id: int) -> tuple[Record, str]:
    """Run, confirm the one proposal; (the confirmed placement, the runner-up's id)."""
    run = api.run(round_id)
    [proposal] = api.placements(round_id, "proposed")
    assert run["result"]["alternates"]["H-002"], run["result"]
    [runner_up] = [a for a in ("A-001", "A-002") if a != proposal["applicant_id"]]
    placement = api.ok("POST", f"/api/rounds/{round_id}/placements/{proposal['id']}/confirm")
    assert placement["status"] == "confirmed"
    return placement, runner_up


def audit_rows(api: Api, round_id: int) -> list[tuple[str, str | None, str | None]]:
    """(action, applicant public id, offer public id) of the round's audit log, in order."""
    with Session(api.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.round_id == round_id).order_by(col(AuditEntry.id))
        ).all()
        return [(e.action, e.applicant_public_id, e.offer_public_id) for e in entries]


def assert_place_refilled(api: Api, round_id: int, freed: Record, runner_up: str) -> None:
    """The freed place is in the to-do list with the runner-up; the next run proposes them."""
    todo = api.ok("GET", f"/api/rounds/{round_id}/todo")
    [entry] = todo["freed"]
    assert entry["placement"]["id"] == freed["id"]
    assert entry["alternates"] == [runner_up]
    run = api.run(round_id)
    proposals = [(p["applicant_id"], p["offer_id"]) for p in run["result"]["proposals"]]
    assert proposals == [(runner_up, "H-002")], run["result"]
    assert run["result"]["pinned"] == []  # the ended placement is not pinned again
    replacement = run["result"]["proposals"][0]["placement_id"]
    api.ok("POST", f"/api/rounds/{round_id}/placements/{replacement}/confirm")
    assert api.ok("GET", f"/api/rounds/{round_id}/todo")["freed"] == []  # filled again


def test_mentor_decline_frees_the_place_and_the_next_run_fills_it(api: Api, scarce: int) -> None:
    placement, runner_up = confirmed_guest(api, scarce)
    guest = placement["applicant_id"]
    _, mentor = api.issue(Role.MENTOR, scarce, offer_ids=["H-002"])
    _, applicant = api.issue(Role.APPLICANT, scarce, applicant_id=guest)

    declined = api.ok(
        "POST",
        f"/api/mentor/guests/{placement['id']}/decline",
        json={"reason": "Mentorin im Zeitraum krank"},
        token=mentor,
    )
    assert (declined["status"], declined["mentor_decision"]) == ("declined_by_host", "declined")
    assert api.placements(scarce, "confirmed") == []
    mine = api.ok("GET", "/api/me/suggestions", token=applicant)
    assert {s["offer_id"]: s["status"] for s in mine}["H-002"] == "abgesagt"
    again = api.request(
        "POST", f"/api/mentor/guests/{placement['id']}/accept", json={}, token=mentor
    )
    assert again.status_code == 409  # a decision applies only to the state it was made on
    assert_place_refilled(api, scarce, placement, runner_up)
    assert ("mentor_declined", guest, "H-002") in audit_rows(api, scarce)


@pytest.mark.parametrize("event", ["withdraw", "release"])
def test_withdraw_and_release_free_the_place(api: Api, scarce: int, event: str) -> None:
    placement, runner_up = confirmed_guest(api, scarce)
    _, applicant = api.issue(Role.APPLICANT, scarce, applicant_id=placement["applicant_id"])
    base = f"/api/rounds/{scarce}/placements/{placement['id']}"
    missing_reason = api.post(f"{base}/{event}", json={})
    assert missing_reason.status_code == 422
    ended = api.ok("POST", f"{base}/{event}", json={"reason": "Abgesprochen am Telefon"})
    assert ended["status"] == {"withdraw": "withdrawn", "release": "released"}[event]
    assert ended["reason"] == "Abgesprochen am Telefon"
    twice = api.post(f"{base}/{event}", json={"reason": "noch einmal"})
    assert twice.status_code == 409
    assert ended["status"] in twice.json()["detail"]
    mine = api.ok("GET", "/api/me/suggestions", token=applicant)
    said = {"withdraw": "zurückgezogen", "release": "aufgehoben"}[event]
    assert {s["offer_id"]: s["status"] for s in mine}["H-002"] == said
    assert_place_refilled(api, scarce, placement, runner_up)
    assert (event, placement["applicant_id"], "H-002") in audit_rows(api, scarce)


def test_transitions_outside_the_table_are_refused(api: Api, scarce: int) -> None:
    api.run(scarce)
    [proposal] = api.placements(scarce, "proposed")
    base = f"/api/rounds/{scarce}/placements/{proposal['id']}"
    for event in ("withdraw", "release"):  # only a confirmed placement can end
        refused = api.post(f"{base}/{event}", json={"reason": "x"})
        assert refused.status_code == 409, refused.text
        assert "proposed" in refused.json()["detail"]
    api.ok("POST", f"{base}/reject")
    assert api.post(f"{base}/confirm").status_code == 409
    assert api.post(f"{base}/reject").status_code == 409


def test_closing_needs_every_proposal_decided_and_a_closed_round_can_reopen(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data[:6], applicants_data[:10])
    base = f"/api/rounds/{round_id}"
    api.run(round_id)
    proposals = api.placements(round_id, "proposed")
    assert len(proposals) >= 3
    api.ok("POST", f"{base}/placements/{proposals[0]['id']}/confirm")
    pending = len(proposals) - 1
    api.ok("PATCH", base, json={"status": "matching"})

    refused = api.request("PATCH", base, json={"status": "closed"})
    assert refused.status_code == 409
    assert f"{pending} unentschiedene" in refused.json()["detail"]
    assert api.ok("GET", base)["status"] == "matching"

    closed = api.ok("PATCH", base, json={"status": "closed", "reject_pending": True})
    assert (closed["status"], closed["proposed"], closed["placed"]) == ("closed", 0, 1)
    rejected = api.placements(round_id, "rejected")
    assert {p["id"] for p in rejected} == {p["id"] for p in proposals[1:]}
    assert all(p["reason"] == "Runde abgeschlossen" for p in rejected)
    assert api.post(f"{base}/runs", json={}).status_code == 409
    assert api.request("PATCH", base, json={"status": "open"}).status_code == 409

    reopened = api.ok("PATCH", base, json={"status": "matching"})
    assert reopened["status"] == "matching"
    run = api.run(round_id)  # runs are possible again; the rejected pairs stay excluded
    rejected_pairs = {(p["applicant_id"], p["offer_id"]) for p in rejected}
    proposed = {(p["applicant_id"], p["offer_id"]) for p in run["result"]["proposals"]}
    assert not proposed & rejected_pairs
    rows = audit_rows(api, round_id)
    actions = [row[0] for row in rows]
    assert actions.count("reject") == pending
    assert {(a, o) for action, a, o in rows if action == "reject"} == {
        (p["applicant_id"], p["offer_id"]) for p in rejected
    }  # public ids (A-…, H-…), not row numbers
    assert [a for a in actions if a.startswith("round_")] == [
        "round_matching",
        "round_close",
        "round_reopen",
    ]


def test_manual_placement_supersedes_conflicting_proposals(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:12])
    api.run(round_id)
    proposals = api.placements(round_id, "proposed")
    target = proposals[0]
    applicant_id = target["applicant_id"]
    shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist")
    other = next(
        s["offer_id"]
        for s in shortlist["suggestions"]
        if s["feasible"] and s["offer_id"] != target["offer_id"]
    )
    placed = api.ok(
        "POST",
        f"/api/rounds/{round_id}/placements",
        201,
        json={"applicant_id": applicant_id, "offer_id": other, "reason": "Wunsch der Leitung"},
    )
    assert placed["status"] == "confirmed"
    statuses = {p["id"]: p["status"] for p in api.placements(round_id)}
    assert statuses[target["id"]] == "superseded"
    assert not [
        p for p in api.placements(round_id, "proposed") if p["applicant_id"] == applicant_id
    ]
    refused = api.post(f"/api/rounds/{round_id}/placements/{target['id']}/confirm")
    assert refused.status_code == 409 and "superseded" in refused.json()["detail"]
    rows = audit_rows(api, round_id)
    assert ("place", applicant_id, other) in rows
    assert ("supersede", applicant_id, target["offer_id"]) in rows


def edited(record: Record, **changes: Any) -> Record:
    return {**record, **changes}


def test_edits_that_break_confirmed_placements_need_force(
    api: Api, scarce: int, offers_data: list[Record]
) -> None:
    placement, _ = confirmed_guest(api, scarce)
    offer = by_id(offers_data)["H-002"]
    url = f"/api/rounds/{scarce}/offers/H-002"
    label = f"Platzierung {placement['id']} ({placement['applicant_id']} → H-002)"

    refused = api.request("PUT", url, json=edited(offer, capacity=0))
    assert refused.status_code == 409
    assert label in refused.json()["detail"] and "Kapazität" in refused.json()["detail"]
    late = edited(offer, available_from="2031-01-01", available_until="2031-12-31")
    refused = api.request("PUT", url, json=late)
    assert refused.status_code == 409
    assert label in refused.json()["detail"]
    assert api.ok("GET", url)["capacity"] == 1  # nothing stored
    assert api.ok("GET", f"/api/rounds/{scarce}/todo")["review"] == []

    api.ok("PUT", url, json=edited(offer, capacity=0), params={"force": "true"})
    [review] = api.ok("GET", f"/api/rounds/{scarce}/todo")["review"]
    assert review["id"] == placement["id"] and review["needs_review"]
    assert "H-002" in review["review_reason"]
    assert api.run(scarce)["result"]["places_left"] == 0  # not -1
    assert ("review", placement["applicant_id"], "H-002") in audit_rows(api, scarce)


def test_applicant_edit_that_breaks_the_placement_needs_force(
    api: Api, scarce: int, applicants_data: list[Record]
) -> None:
    placement, _ = confirmed_guest(api, scarce)
    guest = by_id(applicants_data)[placement["applicant_id"]]
    url = f"/api/rounds/{scarce}/applicants/{guest['id']}"
    no_german = edited(guest, languages={"fi": "C1"})
    refused = api.request("PUT", url, json=no_german)
    assert refused.status_code == 409, refused.text
    assert f"Platzierung {placement['id']}" in refused.json()["detail"]
    harmless = edited(guest, position=guest["position"] + " (geändert)")
    api.ok("PUT", url, json=harmless)
    api.ok("PUT", url, json=no_german, params={"force": "true"})
    [review] = api.ok("GET", f"/api/rounds/{scarce}/todo")["review"]
    assert review["id"] == placement["id"]


def test_placements_store_the_strength_label_of_their_pair(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    """Run proposals and a manual placement carry the label the shortlist shows for the pair."""
    round_id = api.new_round(offers_data, applicants_data[:12], min_strength="gut")
    api.run(round_id)
    proposals = api.placements(round_id, "proposed")
    assert proposals

    def shortlist(applicant_id: str) -> list[Record]:
        url = f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist"
        params = {"top_k": 100, "topic_only": "true"}  # every offer, feasible or not
        found: list[Record] = api.ok("GET", url, params=params)["suggestions"]
        assert len(found) == len(offers_data)
        return found

    for proposal in proposals:
        labels = {s["offer_id"]: s["strength"] for s in shortlist(proposal["applicant_id"])}
        assert proposal["strength"] == labels[proposal["offer_id"]]
        assert proposal["strength"] in {"gut", "sehr gut"}  # the round's minimum: gut
    applicant_id = proposals[0]["applicant_id"]
    weakest = {"schwach": 0, "gut": 1, "sehr gut": 2}
    other = min(
        (
            s
            for s in shortlist(applicant_id)
            if s["feasible"] and s["offer_id"] != proposals[0]["offer_id"]
        ),
        key=lambda s: weakest[s["strength"]],
    )
    placed = api.ok(
        "POST",
        f"/api/rounds/{round_id}/placements",
        201,
        json={"applicant_id": applicant_id, "offer_id": other["offer_id"]},
    )
    assert placed["strength"] == other["strength"]


def test_placing_a_rejected_pair_by_hand_needs_the_override(api: Api, scarce: int) -> None:
    api.run(scarce)
    [proposal] = api.placements(scarce, "proposed")
    pair = {"applicant_id": proposal["applicant_id"], "offer_id": "H-002"}
    base = f"/api/rounds/{scarce}"
    api.ok("POST", f"{base}/placements/{proposal['id']}/reject", json={"reason": "Zu früh"})
    shortlist = api.ok("GET", f"{base}/applicants/{pair['applicant_id']}/shortlist")
    [marked] = [s for s in shortlist["suggestions"] if s["offer_id"] == "H-002"]
    assert marked["placement_status"] == "rejected"

    refused = api.post(f"{base}/placements", json=pair)
    assert refused.status_code == 409, refused.text
    assert "abgelehnt" in refused.json()["detail"] and "„Zu früh“" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "override_rejection"
    assert api.placements(scarce, "confirmed") == []
    not_a_switch = api.post(f"{base}/placements", json={**pair, "override_rejection": "yes"})
    assert not_a_switch.status_code == 422

    placed = api.ok(
        "POST", f"{base}/placements", 201, json={**pair, "override_rejection": True, "reason": "OK"}
    )
    assert placed["status"] == "confirmed"
    rows = audit_rows(api, scarce)
    assert ("place", pair["applicant_id"], "H-002") in rows
    assert ("override_rejection", pair["applicant_id"], "H-002") in rows
    [entry] = api.ok("GET", f"{base}/audit", params={"kind": "override_rejection"})
    assert f"Platzierung {proposal['id']}" in entry["detail"] and entry["offer_id"] == "H-002"
