"""Personal data of public employees: erasure, access requests, logs and token comparison.

Names, e-mails and motivations are personal data (DATA_FORMAT.md: "never logged"). Deleting an
applicant has to remove the profile, placements, tokens and cached embeddings of their texts
while the audit log keeps ids only; an access request returns that person's data and nobody
else's; and no journey through the service writes personal data to any log.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

import matcher
from api.auth import authenticate, hash_token
from matcher.text import applicant_texts
from models.tables import PlacementCreate, PlacementStatus, Role
from tests.hardening.conftest import (
    App,
    Coordinator,
    HttpClient,
    Record,
    Server,
    issue_token,
    leaks,
    personal_strings,
    prepare_database,
)
from tests.support import copy_seed

TARGET = "A-003"


def applicant_row_id(engine: Engine, round_id: int, external_id: str) -> int | None:
    with engine.connect() as connection:
        found: int | None = connection.execute(
            text("SELECT id FROM applicant WHERE round_id = :r AND external_id = :e"),
            {"r": round_id, "e": external_id},
        ).scalar_one_or_none()
    return found


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as connection:
        value: int = connection.execute(text(sql), params).scalar_one()
    return value


def cached_keys(engine: Engine, keys: list[str]) -> set[str]:
    """Those of ``keys`` that have a row in the embedding cache."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT text_key FROM embedding")).scalars()
        return set(rows) & set(keys)


def embedding_keys(started: App, applicant: Record) -> list[str]:
    """Cache keys of every text of the applicant, with and without the model's query prompt."""
    texts = applicant_texts(matcher.Applicant.model_validate(applicant))
    embedder = started.app.state.scorer.embedder
    return [
        *embedder.keys_for(texts, prompt_name="query"),
        *embedder.keys_for(texts),
    ]


def feasible_offer(
    coordinator: Coordinator, round_id: int, applicant_id: str, rank: int = 0
) -> str:
    shortlist = coordinator.ok(
        "GET", f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist", params={"top_k": 5}
    )
    offer_id: str = shortlist["suggestions"][rank]["offer_id"]
    return offer_id


def add_placement(
    engine: Engine, round_id: int, applicant_id: str, offer_id: str, status: PlacementStatus
) -> int:
    """A placement stored directly (set-up without a run)."""
    with engine.connect() as connection:
        applicant_row = connection.execute(
            text("SELECT id FROM applicant WHERE round_id = :r AND external_id = :e"),
            {"r": round_id, "e": applicant_id},
        ).scalar_one()
        offer_row = connection.execute(
            text("SELECT id FROM offer WHERE round_id = :r AND external_id = :e"),
            {"r": round_id, "e": offer_id},
        ).scalar_one()
    from models import crud  # local: only this set-up helper writes rows directly

    with Session(engine) as session:
        row = crud.add_placements(
            session=session,
            round_id=round_id,
            placements=[
                PlacementCreate(
                    applicant_id=applicant_row, offer_id=offer_row, status=status, score=0.5
                )
            ],
        )[0]
        session.commit()
        assert row.id is not None
        return row.id


@pytest.fixture
def privacy_round(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> tuple[int, list[Record]]:
    applicants = sample_applicants[:12]
    return started.coordinator.new_round(sample_offers, applicants, name="Datenschutz"), applicants


def test_deleting_an_applicant_erases_profile_placements_tokens_and_embeddings(
    started: App, privacy_round: tuple[int, list[Record]]
) -> None:
    round_id, applicants = privacy_round
    coordinator, engine = started.coordinator, started.engine
    target = next(a for a in applicants if a["id"] == TARGET)
    base = f"/api/rounds/{round_id}"
    token = coordinator.issue(Role.APPLICANT, round_id, applicant_id=TARGET)
    assert coordinator.request("GET", "/api/me/suggestions", token=token).status_code == 200
    first, second = feasible_offer(coordinator, round_id, TARGET), "H-030"
    placed = coordinator.ok(
        "POST", f"{base}/placements", 201, json={"applicant_id": TARGET, "offer_id": first}
    )
    add_placement(engine, round_id, TARGET, second, PlacementStatus.REJECTED)
    row_id = applicant_row_id(engine, round_id, TARGET)
    keys = embedding_keys(started, target)
    assert cached_keys(engine, keys), "test set-up: the applicant's texts were never embedded"
    audit_before = coordinator.ok("GET", f"{base}/audit")
    counts_before = started.counts()

    coordinator.ok("DELETE", f"{base}/applicants/{TARGET}", 204)

    assert coordinator.request("GET", f"{base}/applicants/{TARGET}").status_code == 404
    assert applicant_row_id(engine, round_id, TARGET) is None
    assert count(engine, "SELECT count(*) FROM placement WHERE applicant_id = :a", a=row_id) == 0
    assert count(engine, "SELECT count(*) FROM account WHERE applicant_id = :a", a=row_id) == 0
    for url in ("/api/me/suggestions", "/api/accounts/me"):
        assert coordinator.request("GET", url, token=token).status_code == 401, url
    assert cached_keys(engine, keys) == set(), "embeddings of the erased texts remain cached"
    counts_after = started.counts()
    assert counts_after["applicant"] == counts_before["applicant"] - 1
    assert counts_after["placement"] == counts_before["placement"] - 2
    assert counts_after["account"] == counts_before["account"] - 1
    # The audit log keeps every entry, the person only as a pseudonym, and logs the erasure.
    audit_after = coordinator.ok("GET", f"{base}/audit")
    kept = audit_after[: len(audit_before)]
    assert [(e["id"], e["action"]) for e in kept] == [(e["id"], e["action"]) for e in audit_before]
    assert TARGET not in json.dumps(audit_after)
    assert all(e["applicant_id"] in {None, "gelöscht"} for e in audit_after)
    assert [e["action"] for e in audit_after[len(audit_before) :]] == ["delete_applicant"]
    assert any(e["placement_id"] == placed["id"] for e in audit_after)
    with engine.connect() as connection:
        stored_audit = json.dumps(
            [list(row) for row in connection.execute(text("SELECT * FROM auditentry"))],
            default=str,
            ensure_ascii=False,
        )
    secrets = personal_strings([target])
    assert leaks(stored_audit, secrets) == []
    assert leaks(json.dumps(audit_after, ensure_ascii=False), secrets) == []


def test_erasure_also_forgets_embeddings_of_earlier_versions_of_the_texts(
    started: App, privacy_round: tuple[int, list[Record]]
) -> None:
    """Vectors of a replaced motivation are personal data too: no erasure may leave them."""
    round_id, applicants = privacy_round
    coordinator, engine = started.coordinator, started.engine
    base = f"/api/rounds/{round_id}"
    original = next(a for a in applicants if a["id"] == TARGET)
    corrected = {
        **original,
        "motivation": original["motivation"] + " Nachtrag: Ich spreche zudem etwas Finnisch.",
    }
    old_keys = set(embedding_keys(started, original)) - set(embedding_keys(started, corrected))
    feasible_offer(coordinator, round_id, TARGET)  # embeds the original texts
    assert cached_keys(engine, sorted(old_keys)), "test set-up: the original was never embedded"
    coordinator.ok("PUT", f"{base}/applicants/{TARGET}", json=corrected)
    feasible_offer(coordinator, round_id, TARGET)  # embeds the corrected texts
    assert cached_keys(engine, sorted(old_keys)) == set(), "replaced texts stay cached"

    coordinator.ok("DELETE", f"{base}/applicants/{TARGET}", 204)

    assert cached_keys(engine, embedding_keys(started, corrected)) == set()
    remaining = cached_keys(engine, sorted(old_keys))
    assert remaining == set(), f"{len(remaining)} vectors of the erased person's earlier texts"


def test_personal_data_request_returns_that_person_only(
    started: App, privacy_round: tuple[int, list[Record]]
) -> None:
    round_id, applicants = privacy_round
    coordinator, engine = started.coordinator, started.engine
    base = f"/api/rounds/{round_id}"
    other_id = "A-004"
    placed: dict[str, int] = {}
    for applicant_id in (TARGET, other_id):
        offer_id = feasible_offer(coordinator, round_id, applicant_id)
        placed[applicant_id] = coordinator.ok(
            "POST",
            f"{base}/placements",
            201,
            json={"applicant_id": applicant_id, "offer_id": offer_id, "reason": "Passt"},
        )["id"]
        coordinator.issue(Role.APPLICANT, round_id, applicant_id=applicant_id)
    proposal = add_placement(engine, round_id, other_id, "H-030", PlacementStatus.PROPOSED)
    coordinator.ok("POST", f"{base}/placements/{proposal}/reject", json={"reason": "Zu spät"})

    data = coordinator.ok("GET", f"{base}/applicants/{TARGET}/personal-data")

    target = next(a for a in applicants if a["id"] == TARGET)
    assert data["applicant"]["id"] == TARGET
    assert (data["applicant"]["name"], data["applicant"]["email"]) == (
        target["name"],
        target["email"],
    )
    assert data["applicant"]["motivation"] == target["motivation"]
    assert [p["id"] for p in data["placements"]] == [placed[TARGET]]
    assert {p["applicant_id"] for p in data["placements"]} == {TARGET}
    row_id = applicant_row_id(engine, round_id, TARGET)
    with engine.connect() as connection:
        own_accounts = set(
            connection.execute(
                text("SELECT id FROM account WHERE applicant_id = :a"), {"a": row_id}
            ).scalars()
        )
    assert {a["id"] for a in data["accounts"]} == own_accounts and len(own_accounts) == 1
    assert all(a["role"] == "applicant" for a in data["accounts"])
    assert [(e["action"], e["placement_id"]) for e in data["audit"]] == [("place", placed[TARGET])]
    dumped = json.dumps(data, ensure_ascii=False)
    other = next(a for a in applicants if a["id"] == other_id)
    assert leaks(dumped, personal_strings([other])) == []
    assert other_id not in dumped
    other_placements = {placed[other_id], proposal}
    assert not other_placements & {e["placement_id"] for e in data["audit"]}


def test_personal_data_of_a_new_applicant_holds_nothing_of_an_erased_one(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    """Audit entries keep the row id of an erased applicant; a later applicant may get that id."""
    coordinator, engine = started.coordinator, started.engine
    round_id = coordinator.new_round(sample_offers, sample_applicants[:5])
    base = f"/api/rounds/{round_id}"
    erased = sample_applicants[4]["id"]  # imported last: the highest row id
    offer_id = feasible_offer(coordinator, round_id, erased)
    coordinator.ok(
        "POST",
        f"{base}/placements",
        201,
        json={"applicant_id": erased, "offer_id": offer_id, "reason": "vertraulich: Elternzeit"},
    )
    coordinator.ok("DELETE", f"{base}/applicants/{erased}", 204)
    newcomer = {**sample_applicants[10], "id": "A-NEU"}
    coordinator.ok("POST", f"{base}/applicants", 201, json=newcomer)

    data = coordinator.ok("GET", f"{base}/applicants/A-NEU/personal-data")

    assert data["placements"] == [] and len(data["accounts"]) == 0
    assert data["audit"] == [], (
        f"the access request of A-NEU (row id {applicant_row_id(engine, round_id, 'A-NEU')}) "
        f"returns the erased applicant's audit entries: {data['audit']}"
    )


# --- tokens -------------------------------------------------------------------------------------


def test_tokens_are_compared_in_constant_time(
    started: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("api.auth.hmac.compare_digest", spy)
    token = started.coordinator.token
    response = started.coordinator.request("GET", "/api/accounts/me")
    assert response.status_code == 200
    assert (hash_token(token), hash_token(token)) in calls, calls
    calls.clear()
    with Session(started.engine) as session:
        assert authenticate(session, token) is not None
        assert calls == [(hash_token(token), hash_token(token))]
        assert authenticate(session, token + "x") is None

    # The comparison decides: if it says "different", the token is refused.
    monkeypatch.setattr("api.auth.hmac.compare_digest", lambda a, b: False)
    assert started.coordinator.request("GET", "/api/accounts/me").status_code == 401


# --- logs ---------------------------------------------------------------------------------------


def journey(client: HttpClient, token: str, offers: list[Record], applicants: list[Record]) -> None:
    """Import, shortlist, run, confirm, applicant and mentor views, export, erasure."""
    coordinator = Coordinator(client, token)
    round_id = coordinator.new_round(name="Journey")
    base = f"/api/rounds/{round_id}"
    coordinator.ok("POST", f"{base}/import", 201, json={"offers": offers, "applicants": applicants})
    invalid = {**applicants[0], "id": "A-KAPUTT", "weeks_wanted": 0}
    refused = coordinator.request("POST", f"{base}/import", json={"applicants": [invalid]})
    assert refused.status_code == 422
    for applicant in applicants[:3]:
        coordinator.ok("GET", f"{base}/applicants/{applicant['id']}/shortlist")
    coordinator.ok("GET", f"{base}/offers/{offers[0]['id']}/candidates")
    run = coordinator.run(round_id)
    proposal = run["result"]["proposals"][0]
    confirmed = coordinator.ok(
        "POST", f"{base}/placements/{proposal['placement_id']}/confirm", json={"reason": "passt"}
    )
    guest = confirmed["applicant_id"]
    applicant_token = coordinator.issue(Role.APPLICANT, round_id, applicant_id=guest)
    coordinator.ok("GET", "/api/me/suggestions", token=applicant_token)
    mentor_token = coordinator.issue(Role.MENTOR, round_id, offer_ids=[confirmed["offer_id"]])
    guests = coordinator.ok("GET", "/api/mentor/guests", token=mentor_token)
    assert any(g["applicant_id"] == guest for g in guests)
    coordinator.ok(
        "POST", f"/api/mentor/guests/{confirmed['id']}/accept", token=mentor_token, json={}
    )
    coordinator.ok("GET", f"{base}/export.csv")
    coordinator.ok("GET", f"{base}/applicants/{guest}/personal-data")
    coordinator.ok("GET", f"{base}/audit")
    coordinator.ok("DELETE", f"{base}/applicants/{guest}", 204)
    assert (
        coordinator.request("GET", "/api/me/suggestions", token=applicant_token).status_code == 401
    )


def test_no_personal_data_in_logs_of_a_journey_in_process(
    started: App,
    sample_offers: list[Record],
    sample_applicants: list[Record],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Every logger at DEBUG, except SQLAlchemy's: its DEBUG/INFO level is the SQL echo switch,
    # which prints statements with their parameters and rows by design (a developer's tool).
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        if not name.startswith("sqlalchemy"):
            caplog.set_level(logging.DEBUG, logger=name)
    applicants = sample_applicants[:15]
    journey(started.client, started.coordinator.token, sample_offers, applicants)
    secrets = personal_strings(applicants)
    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged: the capture is not working"
    assert leaks(logged, secrets) == []
    out, err = capfd.readouterr()
    assert leaks(out + err, secrets) == []


@pytest.fixture(scope="module")
def log_server(tmp_path_factory: pytest.TempPathFactory, seed_database: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("privacy-server")
    url = copy_seed(seed_database, folder / "api.db")
    engine = prepare_database(url)
    with engine.begin() as connection:  # a database that refuses some writes, see below
        connection.execute(
            text(
                "CREATE TRIGGER refuse_write BEFORE INSERT ON applicant"
                " WHEN NEW.external_id LIKE 'FAIL-%'"
                " BEGIN SELECT RAISE(ABORT, 'simulierter Schreibfehler'); END"
            )
        )
    engine.dispose()
    with Server(url, folder, "privacy") as server:
        yield server


def server_token(server: Server) -> str:
    engine = prepare_database(server.database_url)
    try:
        return issue_token(engine)
    finally:
        engine.dispose()


def test_no_personal_data_in_server_output_of_a_journey(
    log_server: Server, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    applicants = sample_applicants[:15]
    with log_server.client() as client:
        journey(client, server_token(log_server), sample_offers, applicants)
    output = log_server.output
    assert "/api/rounds" in output, "the access log is missing: output not captured"
    assert leaks(output, personal_strings(applicants)) == []


def test_no_personal_data_in_server_output_when_a_write_fails(
    log_server: Server, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    """The database refuses an insert (as on a full disk or a constraint race): no names logged.

    The refusal comes from the trigger ``log_server`` installs for ids starting ``FAIL-``; the
    request may fail in any way, but the server's output must not carry the records it held.
    """
    already = len(log_server.output)
    applicants = [{**a, "id": f"FAIL-{a['id']}"} for a in sample_applicants[:10]]
    with log_server.client() as client:
        coordinator = Coordinator(client, server_token(log_server))
        round_id = coordinator.new_round(sample_offers[:3], name="Schreibfehler")
        response = coordinator.request(
            "POST", f"/api/rounds/{round_id}/import", json={"applicants": applicants}
        )
        assert response.status_code != 201, "the injected write failure did not happen"
        assert leaks(response.text, personal_strings(applicants)) == []
    time.sleep(0.2)  # let the server flush its log
    output = log_server.output[already:]
    found = leaks(output, personal_strings(applicants))
    assert found == [], (
        f"status {response.status_code}; the server log holds {len(found)} personal data items, "
        f"e.g. {found[:4]}"
    )


def apply_online(client: HttpClient, slug: str, applicant: Record, email: str) -> None:
    """An application on the public form that nobody confirms."""
    fields = {k: v for k, v in applicant.items() if k != "id"} | {"email": email}
    answer = client.post(f"/api/public/calls/{slug}/applications", json=fields)
    assert answer.status_code == 202, answer.text


def pending_of(engine: Engine, email: str) -> int:
    sql = "SELECT count(*) FROM pending_application WHERE lower(email) = :e"
    return count(engine, sql, e=email.lower())


def test_unconfirmed_applications_are_disclosed_and_erased_with_their_address(
    started: App, privacy_round: tuple[int, list[Record]]
) -> None:
    round_id, applicants = privacy_round
    coordinator, engine = started.coordinator, started.engine
    base = f"/api/rounds/{round_id}"
    until = (datetime.now(UTC) + timedelta(days=14)).isoformat()
    slug = coordinator.ok("PUT", f"{base}/call", json={"applications_until": until})["slug"]
    target = next(a for a in applicants if a["id"] == TARGET)
    stranger = "noch.unbestaetigt@example.org"
    apply_online(coordinator.client, slug, target, target["email"].upper())  # same address
    apply_online(coordinator.client, slug, applicants[5], stranger)  # nobody's applicant yet

    data = coordinator.ok("GET", f"{base}/applicants/{TARGET}/personal-data")
    [pending] = data["pending_applications"]
    assert pending["email"].lower() == target["email"].lower()
    assert pending["record"]["motivation"] == target["motivation"]
    assert stranger not in json.dumps(data)
    address = {"email": stranger.upper()}
    alone = coordinator.ok("POST", f"{base}/call/pending/personal-data", json=address)
    assert [p["email"] for p in alone["pending_applications"]] == [stranger]
    assert target["email"] not in json.dumps(alone)

    coordinator.ok("DELETE", f"{base}/applicants/{TARGET}", 204)
    assert pending_of(engine, target["email"]) == 0
    assert pending_of(engine, stranger) == 1  # somebody else's stays

    erased = coordinator.ok("POST", f"{base}/call/pending/erase", json=address)
    assert erased == {"erased": 1} and pending_of(engine, stranger) == 0
    again = coordinator.ok("POST", f"{base}/call/pending/personal-data", json=address)
    assert again == {"pending_applications": []}
    sql = "SELECT count(*) FROM auditentry WHERE action = 'delete_pending' AND detail LIKE '1 %'"
    assert count(engine, sql) == 1
    assert count(engine, "SELECT count(*) FROM auditentry WHERE detail LIKE '%example.org%'") == 0
