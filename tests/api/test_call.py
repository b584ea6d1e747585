"""The call for applications over HTTP: public page, double opt-in, deadline, limits, wishes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from api.call import CallSettings, get_call_settings
from models.tables import Role
from tests.api.conftest import Api, Record

TOKEN_IN_LINK = re.compile(r"#zugang=([A-Za-z0-9_-]+)")


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def open_call(api: Api, round_id: int, days: float = 14) -> Record:
    call: Record = api.ok(
        "PUT", f"/api/rounds/{round_id}/call", json={"applications_until": _in(days)}
    )
    return call


@pytest.fixture
def slug(api: Api, api_round: int) -> str:
    return str(open_call(api, api_round)["slug"])


@pytest.fixture
def application(applicants_data: list[Record]) -> Record:
    """A complete application of the form: a sample one without its id, a fresh address."""
    fields = {k: v for k, v in applicants_data[20].items() if k != "id"}
    return fields | {"email": "neu.bewerbung@example.org", "name": "Kim Neumann"}


def mails(api: Api, kind: str) -> list[Record]:
    """Queued e-mails of ``kind``, oldest first: recipient and body."""
    with api.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT recipient, body FROM outboxmessage WHERE kind = :kind ORDER BY id"),
            {"kind": kind},
        ).all()
    return [{"to": to, "body": body} for to, body in rows]


def token_of(mail: Record) -> str:
    found = TOKEN_IN_LINK.search(mail["body"])
    assert found, mail["body"]
    return found.group(1)


def apply_and_confirm(api: Api, slug: str, application: Record) -> tuple[str, str]:
    """Apply, open the confirmation link; (public id, the applicant's token)."""
    api.ok("POST", f"/api/public/calls/{slug}/applications", 202, json=application)
    token = token_of(mails(api, "address_confirmation")[-1])
    confirmed = api.client.post("/api/public/confirmations", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()["applicant_id"], token


def applicant_ids(api: Api, round_id: int) -> list[str]:
    return [a["id"] for a in api.ok("GET", f"/api/rounds/{round_id}/applicants")]


def test_the_public_page_shows_offers_without_mentors_or_applicants(
    api: Api, api_round: int, slug: str, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    response = api.client.get(f"/api/public/calls/{slug}")  # no token
    assert response.status_code == 200
    page = response.json()
    assert [o["offer_id"] for o in page["offers"]] == [o["id"] for o in offers_data]
    assert page["accepting"] is True and page["round_name"] == "Testrunde"
    body = response.text
    assert "mentor" not in body
    for offer in offers_data:
        for contact in (offer.get("mentor_name"), offer.get("mentor_email")):
            assert not contact or contact not in body
    for applicant in applicants_data[:12]:
        assert applicant["name"] not in body and applicant["id"] not in body


def test_the_link_is_unguessable_and_unknown_links_are_404(api: Api, slug: str) -> None:
    assert len(slug) >= 20 and not slug.isdigit()
    assert api.client.get("/api/public/calls/" + "x" * 22).status_code == 404
    assert api.client.get("/api/public/calls/1").status_code == 422


def test_an_application_counts_only_once_its_address_is_confirmed(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    before = applicant_ids(api, api_round)
    answer = api.client.post(f"/api/public/calls/{slug}/applications", json=application)
    assert answer.status_code == 202 and "bestätigen" in answer.json()["detail"]
    assert "token" not in answer.text
    assert applicant_ids(api, api_round) == before  # pending: no applicant, nothing to match
    assert api.ok("GET", f"/api/rounds/{api_round}/call")["pending"] == 1
    [mail] = mails(api, "address_confirmation")
    assert mail["to"] == application["email"]
    token = token_of(mail)

    confirmed = api.client.post("/api/public/confirmations", json={"token": token})
    assert confirmed.status_code == 200
    assert confirmed.json()["applicant_id"] == "A-013"  # the next free public id
    assert applicant_ids(api, api_round) == [*before, "A-013"]
    assert api.ok("GET", f"/api/rounds/{api_round}/call")["pending"] == 0
    assert [m["to"] for m in mails(api, "application_received")] == [application["email"]]
    # The link stays the personal access: opening it again changes nothing.
    again = api.client.post("/api/public/confirmations", json={"token": token})
    assert again.json()["applicant_id"] == "A-013"
    assert len(applicant_ids(api, api_round)) == len(before) + 1
    mine = api.client.get("/api/me/application", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    assert mine.json()["motivation"] == application["motivation"]
    assert mine.json()["editable"] is True
    suggestions = api.client.get(
        "/api/me/suggestions", headers={"Authorization": f"Bearer {token}"}
    )
    assert suggestions.status_code == 200 and suggestions.json()


def test_an_unknown_or_second_address_is_refused_at_confirmation(
    api: Api, slug: str, application: Record
) -> None:
    unknown = api.client.post("/api/public/confirmations", json={"token": "nicht-echt"})
    assert unknown.status_code == 404 and "abgelaufen" in unknown.json()["detail"]
    apply_and_confirm(api, slug, application)
    api.ok("POST", f"/api/public/calls/{slug}/applications", 202, json=application)
    token = token_of(mails(api, "address_confirmation")[-1])
    twice = api.client.post("/api/public/confirmations", json={"token": token})
    assert twice.status_code == 409 and "schon eine Bewerbung" in twice.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"motivation": ""}, "motivation", "„Motivation“"),
        ({"available_from": "1.4.2027"}, "available_from", "JJJJ-MM-TT"),
        ({"email": "keine-adresse"}, "email", "keine gültige E-Mail-Adresse"),
        ({"wishes": ["H-999"]}, "wishes", "unbekanntes Angebot"),
        ({"wishes": ["H-001", "H-001"]}, "wishes", "mehrfach"),
        ({"wishes": [{"id": "H-001"}]}, "wishes.0", "Wunschangebote"),
        ({"weeks_wanted": 60}, "weeks_wanted", "„Wunschdauer (Wochen)“"),
    ],
)
def test_invalid_fields_get_german_messages_and_nothing_is_stored(
    api: Api, slug: str, application: Record, change: Record, field: str, words: str
) -> None:
    answer = api.client.post(f"/api/public/calls/{slug}/applications", json=application | change)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert field in [e["field"] for e in errors]
    assert any(words in e["message"] for e in errors if e["field"] == field), errors
    assert mails(api, "address_confirmation") == []


def test_a_filled_honeypot_is_answered_like_success_and_stores_nothing(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    answer = api.client.post(
        f"/api/public/calls/{slug}/applications", json=application | {"homepage": "http://spam"}
    )
    assert answer.status_code == 202
    assert api.ok("GET", f"/api/rounds/{api_round}/call")["pending"] == 0
    assert mails(api, "address_confirmation") == []


@pytest.fixture
def strict_limits(api: Api) -> Iterator[None]:
    settings = CallSettings(applications_per_ip=4, applications_per_email=2, suggestions_per_ip=2)
    api.app.dependency_overrides[get_call_settings] = lambda: settings
    yield
    api.app.dependency_overrides.pop(get_call_settings)


@pytest.mark.usefixtures("strict_limits")
def test_applications_are_limited_per_address_and_per_ip(
    api: Api, slug: str, application: Record
) -> None:
    url = f"/api/public/calls/{slug}/applications"
    assert [api.client.post(url, json=application).status_code for _ in range(3)] == [202, 202, 429]
    other = application | {"email": "andere@example.org"}
    assert api.client.post(url, json=other).status_code == 202  # the IP's fourth
    answer = api.client.post(url, json=application | {"email": "dritte@example.org"})
    assert answer.status_code == 429 and "Zu viele" in answer.json()["detail"]
    assert len(mails(api, "address_confirmation")) == 3


@pytest.mark.usefixtures("strict_limits")
def test_suggestions_are_limited_per_ip(api: Api, slug: str, application: Record) -> None:
    url = f"/api/public/calls/{slug}/suggestions"
    codes = [api.client.post(url, json=application).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_suggestions_while_applying_are_worded_without_numbers(
    api: Api, slug: str, application: Record
) -> None:
    draft = {
        k: application[k]
        for k in ("motivation", "languages", "available_from", "available_until", "weeks_wanted")
    }
    answer = api.client.post(f"/api/public/calls/{slug}/suggestions", json=draft)
    assert answer.status_code == 200, answer.text
    suggestions = answer.json()
    assert 1 <= len(suggestions) <= 5
    for suggestion in suggestions:
        assert set(suggestion) == {
            "offer_id", "title", "organisation", "city", "strength", "explanation"
        }  # fmt: skip
        assert suggestion["strength"] in {"sehr gut", "gut", "schwach"}
        assert "Ähnlichkeit" not in suggestion["explanation"]
    assert (
        api.client.post(
            f"/api/public/calls/{slug}/suggestions", json=draft | {"weeks_wanted": 0}
        ).json()["errors"][0]["field"]
        == "weeks_wanted"
    )


def test_wishes_are_saved_editable_and_named_in_the_suggestions(
    api: Api, slug: str, application: Record
) -> None:
    draft = application | {"preferred_cities": []}
    offers = api.client.post(f"/api/public/calls/{slug}/suggestions", json=draft).json()
    wished = [offers[2]["offer_id"], offers[0]["offer_id"]]
    public_id, token = apply_and_confirm(api, slug, draft | {"wishes": wished})
    me = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/me/application", headers=me).json()["wishes"] == wished
    explained = {
        s["offer_id"]: s["explanation"]
        for s in api.client.get("/api/me/suggestions", headers=me).json()
    }
    assert "Wunsch 1 der Bewerbung." in explained[wished[0]]
    assert "Wunsch 2 der Bewerbung." in explained[wished[1]]

    changed = api.client.put(
        "/api/me/application", headers=me, json=draft | {"wishes": [wished[1]]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["wishes"] == [wished[1]] and changed.json()["applicant_id"] == public_id
    assert changed.json()["email"] == application["email"]  # the confirmed address stays


def test_after_the_deadline_the_form_and_edits_are_refused(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    _, token = apply_and_confirm(api, slug, application)
    open_call(api, api_round, days=-1)  # the deadline moved into the past
    late = api.client.post(f"/api/public/calls/{slug}/applications", json=application)
    assert late.status_code == 409 and "Bewerbungsfrist" in late.json()["detail"]
    me = {"Authorization": f"Bearer {token}"}
    edit = api.client.put("/api/me/application", headers=me, json=application)
    assert edit.status_code == 409 and "abgelaufen" in edit.json()["detail"]
    assert api.client.get("/api/me/application", headers=me).json()["editable"] is False
    assert api.client.get(f"/api/public/calls/{slug}").json()["accepting"] is False

    open_call(api, api_round, days=3)
    api.ok("POST", f"/api/rounds/{api_round}/call/close")
    closed = api.client.post(f"/api/public/calls/{slug}/applications", json=application)
    assert closed.status_code == 409 and "geschlossen" in closed.json()["detail"]


def test_withdrawing_deletes_the_application_and_ends_the_access(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    public_id, token = apply_and_confirm(api, slug, application)
    me = {"Authorization": f"Bearer {token}"}
    assert api.client.delete("/api/me/application", headers=me).status_code == 204
    assert public_id not in applicant_ids(api, api_round)
    assert api.client.get("/api/me/application", headers=me).status_code == 401


def test_only_coordinators_open_calls(api: Api, api_round: int) -> None:
    body: dict[str, Any] = {"applications_until": _in(7)}
    assert api.client.put(f"/api/rounds/{api_round}/call", json=body).status_code == 401
    naive = {"applications_until": "2027-03-01T12:00:00"}
    answer = api.request("PUT", f"/api/rounds/{api_round}/call", json=naive)
    assert answer.status_code == 422


def open_offers(api: Api, round_id: int, days: float) -> None:
    body = {"applications_until": _in(14), "offers_until": _in(days)}
    api.ok("PUT", f"/api/rounds/{round_id}/call", json=body)


def test_mentors_update_their_offer_until_the_offers_deadline(
    api: Api, api_round: int, offers_data: list[Record]
) -> None:
    _, token = api.issue(Role.MENTOR, api_round, offer_ids=["H-001"])
    mentor = {"Authorization": f"Bearer {token}"}
    url = "/api/mentor/offers/H-001"
    mine = {k: v for k, v in offers_data[0].items() if k != "id"}
    changed = mine | {"capacity": 4, "description": "Neu beschrieben.", "mentor_email": "x@y.z"}
    refused = api.client.put(url, headers=mentor, json=changed)
    assert refused.status_code == 409 and "nicht online" in refused.json()["detail"]

    open_offers(api, api_round, days=7)
    assert [o["id"] for o in api.client.get("/api/mentor/offers", headers=mentor).json()] == [
        "H-001"
    ]
    assert api.client.put(url, headers=mentor, json=changed).status_code == 200
    stored = api.ok("GET", f"/api/rounds/{api_round}/offers/H-001")
    assert (stored["capacity"], stored["description"]) == (4, "Neu beschrieben.")
    assert stored["mentor_email"] == offers_data[0]["mentor_email"]  # the coordinators' field
    other = api.client.put("/api/mentor/offers/H-002", headers=mentor, json=changed)
    assert other.status_code == 404
    invalid = api.client.put(url, headers=mentor, json=changed | {"min_weeks": 9, "max_weeks": 2})
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.json()["errors"]] == ["max_weeks"]

    open_offers(api, api_round, days=-1)
    late = api.client.put(url, headers=mentor, json=changed | {"capacity": 1})
    assert late.status_code == 409 and "Frist für Angebote" in late.json()["detail"]
    assert api.ok("GET", f"/api/rounds/{api_round}/offers/H-001")["capacity"] == 4


def test_a_closed_round_takes_no_applications(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    api.ok("PATCH", f"/api/rounds/{api_round}", json={"status": "closed", "reject_pending": True})
    answer = api.client.post(f"/api/public/calls/{slug}/applications", json=application)
    assert answer.status_code == 409 and "abgeschlossen" in answer.json()["detail"]
    assert mails(api, "address_confirmation") == []


def test_expired_unconfirmed_applications_stop_counting_and_are_deleted_on_the_next(
    api: Api, api_round: int, slug: str, application: Record
) -> None:
    url = f"/api/public/calls/{slug}/applications"
    api.ok("POST", url, 202, json=application)
    with api.engine.begin() as connection:
        connection.execute(
            text("UPDATE pending_application SET expires_at = :past"),
            {"past": datetime.now(UTC) - timedelta(minutes=1)},
        )
    assert api.ok("GET", f"/api/rounds/{api_round}/call")["pending"] == 0
    api.ok("POST", url, 202, json=application | {"email": "spaeter@example.org"})
    with api.engine.connect() as connection:
        left = connection.execute(text("SELECT email FROM pending_application")).scalars().all()
    assert left == ["spaeter@example.org"]  # nothing of the expired one stays
    assert api.ok("GET", f"/api/rounds/{api_round}/call")["pending"] == 1
    expired = api.client.post(
        "/api/public/confirmations", json={"token": token_of(mails(api, "address_confirmation")[0])}
    )
    assert expired.status_code == 404


def test_a_mentor_token_issued_with_an_address_is_mailed_in_english_while_offers_are_open(
    api: Api, api_round: int
) -> None:
    body = {"role": "mentor", "label": "Dr. Ana Ruiz", "round_id": api_round}
    invite = body | {"offer_ids": ["H-001"], "email": "ana.ruiz@example.org"}
    closed = api.request("POST", "/api/accounts", json=invite)
    assert closed.status_code == 409 and "nicht online" in closed.json()["detail"]
    assert mails(api, "mentor_invitation") == []
    with api.engine.connect() as connection:
        sql = text("SELECT count(*) FROM account WHERE label = 'Dr. Ana Ruiz'")
        assert connection.execute(sql).scalar_one() == 0  # no token without its e-mail

    open_offers(api, api_round, days=7)
    wrong = api.request("POST", "/api/accounts", json=invite | {"email": "x"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "email"
    token = api.ok("POST", "/api/accounts", 201, json=invite)["token"]
    [mail] = mails(api, "mentor_invitation")
    assert mail["to"] == "ana.ruiz@example.org"
    assert f"/static/angebot.html#zugang={token}" in mail["body"]
    assert "Dear Dr. Ana Ruiz" in mail["body"] and "H-001" in mail["body"]
    assert re.search(r"by \d\d\.\d\d\.\d{4} \d\d:\d\d \(Berlin time\)", mail["body"])
    offers = api.client.get("/api/mentor/offers", headers={"Authorization": f"Bearer {token}"})
    assert [o["id"] for o in offers.json()] == ["H-001"]
