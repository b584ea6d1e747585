"""Importing a round (JSON and CSV, all or nothing) and editing its offers and applicants."""

from __future__ import annotations

from typing import Any

import pytest

import matcher
from matcher.language import applicant_language
from models.tables import PlacementStatus
from tests.api.conftest import Api, Record
from tests.support import to_csv


def problems(response: Any) -> set[tuple[str | None, str]]:
    """(record id, field) of every problem a 422 lists."""
    return {(e.get("record_id"), e["field"]) for e in response.json()["errors"]}


def normalised(kind: type[matcher.Offer] | type[matcher.Applicant], record: Record) -> Record:
    """A record as the API returns it: validated, every field present, language detected."""
    validated = kind.model_validate(record)
    if isinstance(validated, matcher.Applicant):
        validated = validated.model_copy(update={"language": applicant_language(validated)})
    return validated.model_dump(mode="json")


@pytest.fixture
def empty_round(api: Api) -> int:
    return api.new_round(name="Leere Runde")


def test_json_import_is_all_or_nothing(
    api: Api, empty_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    bad_offer = {**offers_data[2], "capacity": -1, "working_languages": []}
    bad_applicant = {**applicants_data[3], "languages": {"de": "Z9"}}
    del bad_applicant["motivation"]
    body = {
        "offers": [offers_data[0], offers_data[1], bad_offer],
        "applicants": [applicants_data[0], bad_applicant, applicants_data[4]],
    }
    before = api.counts()
    response = api.post(f"/api/rounds/{empty_round}/import", json=body)
    assert response.status_code == 422
    assert "nichts gespeichert" in response.json()["detail"]
    assert problems(response) == {
        (bad_offer["id"], "capacity"),
        (bad_offer["id"], "working_languages"),
        (bad_applicant["id"], "languages.de"),
        (bad_applicant["id"], "motivation"),
    }
    for error in response.json()["errors"]:
        assert error["message"]
        assert error["index"] == (2 if error["source"] == "offers" else 1)
    assert api.counts() == before
    summary = api.ok("GET", f"/api/rounds/{empty_round}")
    assert (summary["offers"], summary["applicants"]) == (0, 0)


def test_ids_already_in_the_round_or_twice_in_the_file_are_refused(
    api: Api, empty_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    url = f"/api/rounds/{empty_round}/import"
    api.ok("POST", url, 201, json={"offers": offers_data[:2], "applicants": applicants_data[:1]})
    before = api.counts()

    again = api.post(url, json={"offers": [offers_data[3], offers_data[1]], "applicants": []})
    assert again.status_code == 422
    assert problems(again) == {(offers_data[1]["id"], "id")}
    assert again.json()["errors"][0]["index"] == 1

    twice = api.post(url, json={"offers": [], "applicants": [applicants_data[5]] * 2})
    assert twice.status_code == 422
    assert problems(twice) == {(applicants_data[5]["id"], "id")}

    direct = api.post(f"/api/rounds/{empty_round}/applicants", json=applicants_data[0])
    assert direct.status_code == 422
    assert problems(direct) == {(applicants_data[0]["id"], "id")}
    assert api.counts() == before

    # Ids are unique per round: another round takes the same records.
    other = api.new_round(offers_data[:2], applicants_data[:1], name="Andere Runde")
    assert api.ok("GET", f"/api/rounds/{other}")["offers"] == 2
    missing_round = api.post("/api/rounds/999/import", json={"offers": offers_data[4:5]})
    assert missing_round.status_code == 404


def test_csv_import(
    api: Api, empty_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    offers, applicants = offers_data[:3], applicants_data[:4]
    csv_offers, csv_applicants = to_csv(offers), to_csv(applicants)
    assert b"de:C2;en:C1" in csv_applicants  # the CSV conventions are really exercised
    assert b"Kopenhagen;Amsterdam" in csv_applicants
    response = api.post(
        f"/api/rounds/{empty_round}/import/csv",
        files={
            "offers": ("offers.csv", csv_offers, "text/csv"),
            "applicants": ("applicants.csv", csv_applicants, "text/csv"),
        },
    )
    assert response.status_code == 201, response.text
    assert (response.json()["offers"], response.json()["applicants"]) == (3, 4)
    assert [
        (f["source"], f["format"], f["encoding"], f["delimiter"]) for f in response.json()["files"]
    ] == [
        ("offers.csv", "csv", "UTF-8", ","),
        ("applicants.csv", "csv", "UTF-8", ","),
    ]
    summary = api.ok("GET", f"/api/rounds/{empty_round}")
    assert (summary["offers"], summary["applicants"]) == (3, 4)
    assert summary["places"] == sum(o["capacity"] for o in offers)
    assert api.ok("GET", f"/api/rounds/{empty_round}/offers") == [
        normalised(matcher.Offer, o) for o in offers
    ]
    assert api.ok("GET", f"/api/rounds/{empty_round}/applicants") == [
        normalised(matcher.Applicant, a) for a in applicants
    ]

    # Only one of the two files is fine too.
    more = api.post(
        f"/api/rounds/{empty_round}/import/csv",
        files={"applicants": ("applicants.csv", to_csv(applicants_data[4:6]), "text/csv")},
    )
    assert more.status_code == 201, more.text
    assert (more.json()["offers"], more.json()["applicants"]) == (0, 2)


def test_bad_csv_files_are_refused(
    api: Api, empty_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    url = f"/api/rounds/{empty_round}/import/csv"
    before = api.counts()

    without_capacity = [{k: v for k, v in o.items() if k != "capacity"} for o in offers_data[:2]]
    missing = api.post(
        url,
        files={
            "offers": ("offers.csv", to_csv(without_capacity), "text/csv"),
            "applicants": ("applicants.csv", to_csv(applicants_data[:2]), "text/csv"),
        },
    )
    assert missing.status_code == 422
    assert [(e["field"], e["message"]) for e in missing.json()["errors"]] == [
        ("capacity", "Spalte „Plätze“ (capacity) fehlt.")
    ]

    # Bytes that are neither UTF-8 nor Windows-1252 (0x81 is unassigned in both).
    undecodable = to_csv(applicants_data[:2]).replace("ü".encode(), b"\x81")
    encoding = api.post(url, files={"applicants": ("applicants.csv", undecodable, "text/csv")})
    assert encoding.status_code == 422
    assert "weder UTF-8 noch Windows-1252" in encoding.json()["errors"][0]["message"]

    bad_value = [{**offers_data[0], "capacity": "zwei"}]
    value = api.post(url, files={"offers": ("offers.csv", to_csv(bad_value), "text/csv")})
    assert value.status_code == 422
    assert problems(value) == {(offers_data[0]["id"], "capacity")}
    assert api.counts() == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"offers: []", "application/json"),
        (b'{"offers": [', "application/json"),
        (b"[]", "application/json"),
        (b'{"offers": "keine Liste"}', "application/json"),
        (b'{"offers": [42], "applicants": ["A-001"]}', "application/json"),
        (b"id,city\nH-1,Wien\n", "text/csv"),
    ],
)
def test_a_body_that_is_not_an_import_gives_422(
    api: Api, empty_round: int, content: bytes, content_type: str
) -> None:
    before = api.counts()
    response = api.post(
        f"/api/rounds/{empty_round}/import",
        content=content,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert api.counts() == before


def test_offer_crud(
    api: Api, api_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    base = f"/api/rounds/{api_round}/offers"
    new = {**offers_data[0], "id": "H-900", "title": "Neue Hospitation", "capacity": 1}
    created = api.post(base, json=new)
    assert created.status_code == 201, created.text
    assert created.json() == normalised(matcher.Offer, new)
    assert api.ok("GET", f"{base}/H-900") == normalised(matcher.Offer, new)
    assert [o["id"] for o in api.ok("GET", base)][-1] == "H-900"
    assert api.ok("GET", f"/api/rounds/{api_round}")["offers"] == len(offers_data) + 1

    invalid = api.post(base, json={**new, "id": "H-901", "capacity": -1})
    assert invalid.status_code == 422
    assert any("capacity" in e["field"] for e in invalid.json()["errors"])

    changed = {**new, "capacity": 3, "tags": ["Abfall"]}
    assert api.ok("PUT", f"{base}/H-900", json=changed) == normalised(matcher.Offer, changed)
    assert api.ok("GET", f"{base}/H-900")["capacity"] == 3
    mismatch = api.request("PUT", f"{base}/H-900", json={**changed, "id": "H-901"})
    assert mismatch.status_code == 422
    assert [e["field"] for e in mismatch.json()["errors"]] == ["id"]
    assert api.ok("GET", f"{base}/H-900") == normalised(matcher.Offer, changed)
    assert api.request("PUT", f"{base}/H-999", json={**changed, "id": "H-999"}).status_code == 404
    assert api.get(f"{base}/H-999").status_code == 404

    # An offer with a confirmed placement stays; one with proposals only goes, with them.
    api.ok(
        "POST",
        f"/api/rounds/{api_round}/placements",
        201,
        json={
            "applicant_id": "A-001",
            "offer_id": "H-001",
        },
    )
    refused = api.request("DELETE", f"{base}/H-001")
    assert refused.status_code == 409
    assert api.get(f"{base}/H-001").status_code == 200
    api.add_placement(api_round, "A-002", "H-002", PlacementStatus.PROPOSED)
    placements = api.counts()["placement"]
    assert api.request("DELETE", f"{base}/H-002").status_code == 204
    assert api.get(f"{base}/H-002").status_code == 404
    assert api.counts()["placement"] == placements - 1
    assert [p["offer_id"] for p in api.placements(api_round)] == ["H-001"]
    assert api.request("DELETE", f"{base}/H-002").status_code == 404


def test_applicant_crud(api: Api, api_round: int, applicants_data: list[Record]) -> None:
    base = f"/api/rounds/{api_round}/applicants"
    new = {**applicants_data[0], "id": "A-900", "weeks_wanted": 3}
    created = api.post(base, json=new)
    assert created.status_code == 201, created.text
    assert api.ok("GET", f"{base}/A-900") == normalised(matcher.Applicant, new)

    changed = {**new, "preferred_cities": ["Wien"], "languages": {"de": "C2", "fr": "B2"}}
    assert api.ok("PUT", f"{base}/A-900", json=changed) == normalised(matcher.Applicant, changed)
    assert api.ok("GET", f"{base}/A-900")["languages"] == {"de": "C2", "fr": "B2"}
    mismatch = api.request("PUT", f"{base}/A-900", json={**changed, "id": "A-001"})
    assert mismatch.status_code == 422
    assert [e["field"] for e in mismatch.json()["errors"]] == ["id"]
    assert api.ok("GET", f"{base}/A-001") == normalised(matcher.Applicant, applicants_data[0])

    # Deleting an applicant removes their placements (confirmed or not), nobody else's.
    api.ok(
        "POST",
        f"/api/rounds/{api_round}/placements",
        201,
        json={
            "applicant_id": "A-001",
            "offer_id": "H-001",
        },
    )
    api.add_placement(api_round, "A-001", "H-002", PlacementStatus.REJECTED)
    api.add_placement(api_round, "A-002", "H-002", PlacementStatus.PROPOSED)
    placements = api.counts()["placement"]
    assert api.request("DELETE", f"{base}/A-001").status_code == 204
    assert api.get(f"{base}/A-001").status_code == 404
    assert api.counts()["placement"] == placements - 2
    assert [p["applicant_id"] for p in api.placements(api_round)] == ["A-002"]
    assert api.ok("GET", f"/api/rounds/{api_round}")["placed"] == 0
    audit = api.ok("GET", f"/api/rounds/{api_round}/audit")
    assert [e["action"] for e in audit][-1] == "delete_applicant"
    # Its place is free again: the offer has no confirmed placement left and can go.
    assert api.request("DELETE", f"/api/rounds/{api_round}/offers/H-001").status_code == 204


def test_offer_edits_show_in_the_next_shortlist(
    api: Api, api_round: int, offers_data: list[Record]
) -> None:
    url = f"/api/rounds/{api_round}/applicants/A-001/shortlist?top_k=100"

    def shortlist() -> dict[str, float]:
        return {s["offer_id"]: s["score"] for s in api.ok("GET", url)["suggestions"]}

    first = shortlist()
    best, other = list(first)[:2]
    offer = next(o for o in offers_data if o["id"] == best)
    base = f"/api/rounds/{api_round}/offers"

    finnish_only = {**offer, "working_languages": ["fi"], "min_language_level": "C1"}
    api.ok("PUT", f"{base}/{best}", json=finnish_only)
    assert best not in shortlist()
    api.ok("PUT", f"{base}/{best}", json=offer)
    assert shortlist() == first

    assert api.request("DELETE", f"{base}/{other}").status_code == 204
    api.ok("POST", base, 201, json={**offer, "id": "H-900"})
    now = shortlist()
    assert other not in now
    assert now["H-900"] == pytest.approx(first[best], abs=1e-6)
