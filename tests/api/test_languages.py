"""Incoming rounds: direction, stored applicant language, explanations in the reader's language."""

from __future__ import annotations

import json
from pathlib import Path

from models.tables import Role
from tests.api.conftest import Api

INCOMING = Path(__file__).resolve().parents[2] / "fixtures" / "incoming"


def incoming_records(kind: str, ids: set[str]) -> list[dict[str, object]]:
    records = json.loads((INCOMING / f"{kind}.json").read_text("utf-8"))
    return [record for record in records if record["id"] in ids]


def test_incoming_round_stores_direction_language_and_explains_in_english(api: Api) -> None:
    offers = incoming_records("offers", {"B-016", "B-017", "B-021"})
    finnish = {"G-025", "G-026"}  # G-025 has no "language": detected at import
    round_id = api.ok("POST", "/api/rounds", 201, json={"name": "Gäste", "direction": "incoming"})[
        "id"
    ]
    body = {"offers": offers, "applicants": incoming_records("applicants", finnish)}
    api.ok("POST", f"/api/rounds/{round_id}/import", 201, json=body)
    assert api.ok("GET", f"/api/rounds/{round_id}")["direction"] == "incoming"
    assert api.ok("POST", "/api/rounds", 201, json={"name": "Aus"})["direction"] == "outgoing"
    stored = api.ok("GET", f"/api/rounds/{round_id}/applicants/G-025")
    assert stored["language"] == "fi"

    _, token = api.issue(Role.APPLICANT, round_id, applicant_id="G-025")  # German B2
    _, other = api.issue(Role.APPLICANT, round_id, applicant_id="G-026")  # no German
    english = api.ok("GET", "/api/me/suggestions", token=other)
    assert english and {s["explanation_language"] for s in english} == {"en"}
    assert english[0]["explanation"].startswith("Topic: “")
    assert english[0]["offer_id"] == "B-017"  # open data, the topic of G-026
    german = api.ok("GET", "/api/me/suggestions", token=token)
    assert german[0]["explanation"].startswith("Thema: „")

    api.ok("PUT", "/api/me/explanation-language", json={"language": "en"}, token=token)
    chosen = api.ok("GET", "/api/me/suggestions", token=token)
    assert chosen[0]["explanation_language"] == "en"
    quoted = chosen[0]["explanation"].split("”")[0].removeprefix("Topic: “")
    assert quoted in str(incoming_records("applicants", {"G-025"})[0]["motivation"]) + (
        str(incoming_records("applicants", {"G-025"})[0]["position"])
    )
    response = api.request(
        "PUT", "/api/me/explanation-language", json={"language": "fi"}, token=token
    )
    assert response.status_code == 422
