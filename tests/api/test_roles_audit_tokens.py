"""Role views without numbers, the audit log with public ids, tokens, the minimum strength."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

import matcher
from api import services, shortlists
from api.auth import authenticate
from api.cli import app as cli
from matcher.rerank import MIN_DECISIONS_PER_CLASS
from matcher.strength import Strength, load_thresholds
from models.db import make_engine
from models.tables import PlacementStatus, Role
from tests.api.conftest import Api, Record, sample_records
from tests.hardening.test_messages_de import english_words
from tests.support import bearer

#: Keys applicants and mentors never receive: the coordinators' numbers and internal fields.
INTERNAL_KEYS = {"score", "reason", "decided_by", "decided_at", "parts", "topic_fit", "token"}
#: A similarity or score as text: "0.69", "0,69" (never a date like 01.03.2027).
SCORE_TEXT = re.compile(r"(?<![\d.,])0[.,]\d{2}")


def walk(
    value: Any, path: str = "$", key: str | None = None
) -> Iterator[tuple[str, str | None, Any]]:
    """Every (path, key, value) of a JSON document: each dict key once, each leaf once."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield f"{path}.{name}", name, None
            yield from walk(item, f"{path}.{name}", name)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from walk(item, f"{path}[{k}]", key)
    else:
        yield path, key, value


def score_numbers(api: Api, round_id: int, applicant_ids: list[str]) -> set[float]:
    """Every score-like number the coordinator sees for these applicants, rounded as shown."""
    numbers: set[float] = set()
    for placement in api.placements(round_id):
        numbers.add(placement["score"])
    for applicant_id in applicant_ids:
        shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist")
        for s in shortlist["suggestions"]:
            numbers |= {s["score"], s["parts"]["topic_fit"]}
    return {round(n, k) for n in numbers for k in (2, 3, 6)} - {0.0}


def assert_no_numbers(document: Any, numbers: set[float]) -> None:
    for path, key, leaf in walk(document):
        assert key not in INTERNAL_KEYS, f"{path}: internal field"
        if isinstance(leaf, float):
            assert all(round(leaf, k) not in numbers for k in (2, 3, 6)), f"{path}: {leaf}"
        if isinstance(leaf, str):
            assert "Ähnlichkeit" not in leaf and not SCORE_TEXT.search(leaf), f"{path}: {leaf}"


def test_applicants_and_mentors_see_no_score_numbers(api: Api, api_round: int) -> None:
    """Walk every JSON value of every applicant and mentor endpoint."""
    base = f"/api/rounds/{api_round}"
    api.ok("PATCH", f"{base}/settings", json={"min_strength": None})
    run = api.run(api_round)
    proposals = run["result"]["proposals"]
    assert len(proposals) >= 2
    confirmed, proposed = proposals[0], proposals[1]
    api.ok("POST", f"{base}/placements/{confirmed['placement_id']}/confirm", json={"reason": "ok"})
    _, applicant_token = api.issue(
        Role.APPLICANT, api_round, applicant_id=confirmed["applicant_id"]
    )
    _, mentor_token = api.issue(
        Role.MENTOR, api_round, offer_ids=sorted({confirmed["offer_id"], proposed["offer_id"]})
    )
    numbers = score_numbers(api, api_round, [confirmed["applicant_id"], proposed["applicant_id"]])
    as_applicant, as_mentor = bearer(applicant_token), bearer(mentor_token)

    mine = api.ok("GET", "/api/me/suggestions", headers=as_applicant)
    assert mine[0]["status"] == "bestätigt" and {s["strength"] for s in mine} <= set(Strength)
    guests = api.ok("GET", "/api/mentor/guests", headers=as_mentor)
    assert {g["applicant_id"] for g in guests} >= {confirmed["applicant_id"]}
    guest = next(g for g in guests if g["placement_id"] == confirmed["placement_id"])
    assert guest["available_from"] and guest["position"] and guest["motivation_summary"]
    accepted = api.ok(
        "POST",
        f"/api/mentor/guests/{confirmed['placement_id']}/accept",
        headers=as_mentor,
        json={"reason": "Willkommen"},
    )
    assert accepted["mentor_decision"] == "accepted"
    documents = [
        mine,
        guests,
        accepted,
        api.ok("GET", "/api/accounts/me", headers=as_applicant),
        api.ok("GET", "/api/accounts/me", headers=as_mentor),
    ]
    for document in documents:
        assert_no_numbers(document, numbers)


def test_the_walker_finds_a_leaked_score() -> None:
    with pytest.raises(AssertionError):
        assert_no_numbers([{"x": {"y": 0.734512}}], {0.73})
    with pytest.raises(AssertionError):
        assert_no_numbers({"explanation": "passt (Ähnlichkeit 0.69)."}, set())
    with pytest.raises(AssertionError):
        assert_no_numbers({"guest": {"decided_by": "coordinator:1"}}, set())
    assert_no_numbers({"available_from": "2027-03-01", "text": "am 01.03.2027"}, {0.5})


def test_suggestions_carry_labels_worded_in_the_explanation(api: Api, api_round: int) -> None:
    shortlist = api.ok("GET", f"/api/rounds/{api_round}/applicants/A-001/shortlist")
    words = {"sehr gut": "passt gut zu", "gut": "berührt", "schwach": "kein klarer"}
    for suggestion in shortlist["suggestions"]:
        assert words[suggestion["strength"]] in suggestion["explanation"]
        assert "Ähnlichkeit" not in suggestion["explanation"]


# --- audit log ------------------------------------------------------------------------------


def test_audit_log_shows_public_ids_filters_and_exports(
    api: Api, api_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    base = f"/api/rounds/{api_round}"
    placement = api.add_placement(api_round, "A-001", "H-001", PlacementStatus.PROPOSED)
    api.ok(
        "POST",
        f"{base}/placements/{placement}/reject",
        json={"reason": '=HYPERLINK("http://x")'},
    )
    changed = {**offers_data[1], "title": "Neuer Titel"}
    api.ok("PUT", f"{base}/offers/{changed['id']}", json=changed)
    new_offer = {**offers_data[0], "id": "H-NEU"}
    api.ok("POST", f"{base}/offers", 201, json=new_offer)
    assert api.request("DELETE", f"{base}/offers/H-NEU").status_code == 204
    api.ok("PATCH", f"{base}/settings", json={"min_strength": "sehr gut"})
    account_id, _ = api.issue(Role.APPLICANT, api_round, applicant_id="A-002")
    api.ok("POST", f"/api/accounts/{account_id}/revoke")

    entries = api.ok("GET", f"{base}/audit")
    kinds = [e["action"] for e in entries]
    for kind in (
        "reject",
        "offer_changed",
        "offer_added",
        "offer_deleted",
        "round_settings",
        "token_issued",
        "token_revoked",
    ):
        assert kind in kinds, kind
    reject = next(e for e in entries if e["action"] == "reject")
    assert (reject["applicant_id"], reject["offer_id"]) == ("A-001", "H-001")
    assert next(e for e in entries if e["action"] == "offer_deleted")["offer_id"] == "H-NEU"
    for entry in entries:
        for field in ("applicant_id", "offer_id"):
            assert entry[field] is None or isinstance(entry[field], str)
        assert entry["actor"] == api.coordinator_actor
    assert {e["action"] for e in api.ok("GET", f"{base}/audit", params={"kind": "reject"})} == {
        "reject"
    }
    for_a002 = api.ok("GET", f"{base}/audit", params={"applicant_id": "A-002"})
    assert [e["action"] for e in for_a002] == ["token_issued", "token_revoked"]
    assert all(
        e["offer_id"] == "H-001"
        for e in api.ok("GET", f"{base}/audit", params={"offer_id": "H-001"})
    )

    response = api.request("GET", f"{base}/audit.csv")
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["Zeitpunkt (UTC)", "Wer", "Vorgang", "Bewerbung", "Angebot"]
    assert len(rows) == len(entries) + 1
    reject_row = next(row for row in rows if row[2] == "reject")
    assert reject_row[3:5] == ["A-001", "H-001"]
    assert reject_row[7].startswith("'=HYPERLINK")


def test_erased_applicant_keeps_only_a_pseudonym_in_the_log(api: Api, api_round: int) -> None:
    base = f"/api/rounds/{api_round}"
    placement = api.add_placement(api_round, "A-003", "H-002", PlacementStatus.PROPOSED)
    api.ok("POST", f"{base}/placements/{placement}/reject")
    before = api.ok("GET", f"{base}/audit")
    assert api.request("DELETE", f"{base}/applicants/A-003").status_code == 204
    after = api.ok("GET", f"{base}/audit")
    assert len(after) == len(before) + 1  # the erasure itself is logged
    erased = [e for e in after if e["action"] in {"reject", "delete_applicant"}]
    assert len(erased) == 2 and all(e["applicant_id"] == "gelöscht" for e in erased)
    assert "A-003" not in str(after)


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_list_revoke_reissue_and_expire(api: Api, api_round: int) -> None:
    base = f"/api/rounds/{api_round}"
    account_id, token = api.issue(Role.APPLICANT, api_round, applicant_id="A-001")
    api.ok("GET", "/api/me/suggestions", headers=bearer(token))

    listed = api.ok("GET", "/api/accounts", params={"round_id": api_round})
    mine = next(t for t in listed if t["id"] == account_id)
    assert (mine["role"], mine["applicant_id"], mine["round_id"]) == (
        "applicant",
        "A-001",
        api_round,
    )
    assert mine["state"] == "aktiv" and mine["last_used_at"] is not None
    assert mine["expires_at"] is not None
    listing = api.request("GET", "/api/accounts").text
    assert token not in listing and services.hash_token(token) not in listing
    coordinator = next(t for t in api.ok("GET", "/api/accounts") if t["role"] == "coordinator")
    assert coordinator["round_id"] is None
    second_id, _ = api.issue(Role.COORDINATOR)
    roundless = api.ok("GET", "/api/audit", params={"kind": "token_issued"})
    assert [e["detail"].split(" (")[0] for e in roundless][-1] == f"Zugang {second_id}"

    api.ok("POST", f"/api/accounts/{account_id}/revoke")
    refused = api.request("GET", "/api/me/suggestions", headers=bearer(token))
    assert refused.status_code == 401 and "widerrufen" in refused.json()["detail"]
    assert api.request("POST", f"/api/accounts/{account_id}/revoke").status_code == 409

    reissued = api.ok("POST", f"/api/accounts/{account_id}/reissue")
    assert reissued["id"] == account_id and reissued["token"] != token
    assert api.request("GET", "/api/me/suggestions", headers=bearer(token)).status_code == 401
    api.ok("GET", "/api/me/suggestions", headers=bearer(reissued["token"]))

    # A round closed long ago: a token re-issued now expires 90 days after its closing day.
    api.ok("PATCH", f"{base}/settings", json={"closes_on": "2020-01-10"})
    expired = api.ok("POST", f"/api/accounts/{account_id}/reissue")
    listed = api.ok("GET", "/api/accounts", params={"round_id": api_round})
    again = next(t for t in listed if t["id"] == account_id)
    assert again["expires_at"].startswith(str(date(2020, 1, 10) + timedelta(days=91)))
    assert again["state"] == "abgelaufen"
    refused = api.request("GET", "/api/me/suggestions", headers=bearer(expired["token"]))
    assert refused.status_code == 401 and "abgelaufen" in refused.json()["detail"]
    kinds = [e["action"] for e in api.ok("GET", f"{base}/audit", params={"applicant_id": "A-001"})]
    assert kinds == ["token_issued", "token_revoked", "token_reissued", "token_reissued"]


def test_rounds_default_to_gut_and_refuse_unknown_labels(api: Api) -> None:
    round_id = api.ok("POST", "/api/rounds", 201, json={"name": "Neu"})["id"]
    base = f"/api/rounds/{round_id}"
    assert api.ok("GET", base)["min_strength"] == "gut"
    response = api.request("PATCH", f"{base}/settings", json={"min_strength": "prima"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("min_strength")
    assert api.ok("GET", base)["min_strength"] == "gut"


# --- minimum strength -----------------------------------------------------------------------


def test_runs_propose_nothing_below_the_minimum_strength(
    api: Api,
    api_round: int,
    offers_data: list[Record],
    applicants_data: list[Record],
    engine_scorer: matcher.TopicScorer,
) -> None:
    base = f"/api/rounds/{api_round}"
    api.ok("PATCH", f"{base}/settings", json={"min_strength": None})
    anything = api.run(api_round)["result"]
    api.ok("PATCH", f"{base}/settings", json={"min_strength": "sehr gut"})
    strict = api.run(api_round)["result"]

    offers, applicants = sample_records(offers_data, applicants_data[:12])
    scores = matcher.score_pairs(engine_scorer, applicants, offers)
    thresholds = load_thresholds(engine_scorer.embedder.model_id)
    levels = thresholds.levels(scores.topic.fit)

    def level(pair: Record) -> int:
        i, j = scores.applicant_index[pair["applicant_id"]], scores.offer_index[pair["offer_id"]]
        return int(levels[i, j])

    assert len(strict["proposals"]) < len(anything["proposals"])
    assert all(level(p) == 2 for p in strict["proposals"])
    assert any(level(p) < 2 for p in anything["proposals"])
    newly_unplaced = {u["applicant_id"]: u["reason"] for u in strict["unplaced"]}
    assert newly_unplaced
    told = [r for r in newly_unplaced.values() if "scheitert nur an" in r]
    assert told, newly_unplaced
    pattern = re.compile(r"A-\d+ passt am besten zu H-\d+ \(.+\), scheitert nur an: ")
    assert all(pattern.match(reason) for reason in told)


def test_cli_lists_and_revokes_tokens(runner: CliRunner, database_url: str) -> None:
    created = runner.invoke(cli, ["users", "create", "--role", "coordinator", "--label", "K"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "aktiv" in listed.stdout
    assert token not in listed.stdout
    revoked = runner.invoke(cli, ["users", "revoke", "1"])
    assert revoked.exit_code == 0, revoked.output
    assert "widerrufen" in runner.invoke(cli, ["users", "list"]).stdout
    with Session(make_engine(database_url)) as session:
        assert authenticate(session, token) is None
    again = runner.invoke(cli, ["users", "revoke", "1"])
    assert again.exit_code != 0 and "bereits widerrufen" in again.output


def test_learning_a_ranker_is_audited(
    api: Api, api_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    pairs = [(a["id"], o["id"]) for a in applicants_data[:12] for o in offers_data[:6]]
    # One confirmed place per applicant (a unique index): confirm newly imported people.
    extra = [
        {**applicants_data[i % 12], "id": f"L-{i:03d}"} for i in range(MIN_DECISIONS_PER_CLASS)
    ]
    api.ok("POST", f"/api/rounds/{api_round}/import", 201, json={"applicants": extra})
    confirmed = [(a["id"], offers_data[i % 6]["id"]) for i, a in enumerate(extra)]
    api.add_placements(api_round, confirmed, PlacementStatus.CONFIRMED)
    api.add_placements(api_round, pairs[-MIN_DECISIONS_PER_CLASS:], PlacementStatus.REJECTED)
    learned = api.ok("POST", f"/api/rounds/{api_round}/ranker/learn", 201)
    [entry] = api.ok("GET", f"/api/rounds/{api_round}/audit", params={"kind": "ranker_learned"})
    assert entry["actor"] == api.coordinator_actor
    assert learned["version"] in entry["detail"]


def test_runs_are_audited_with_who_mode_parameters_and_counts(api: Api, api_round: int) -> None:
    """Started (who, mode, budget) and finished (counts); run_failed and run_cancelled:
    ``test_runs.py``, failure by an expired lease: ``test_crash_safety.py``."""
    base = f"/api/rounds/{api_round}"
    started = api.ok("POST", f"{base}/runs", 202, json={"mode": "max-fit", "budget": 25000})
    run = api.wait_run(api_round, started["id"])
    assert run["status"] == "done"
    [begun] = api.ok("GET", f"{base}/audit", params={"kind": "run_started"})
    assert begun["actor"] == api.coordinator_actor
    assert begun["detail"].startswith(f"Lauf {run['id']} (max-fit): ")
    assert "budget 25000" in begun["detail"]
    [finished] = api.ok("GET", f"{base}/audit", params={"kind": "run_finished"})
    result = run["result"]
    assert finished["actor"] == "system"
    assert finished["detail"] == (
        f"Lauf {run['id']} (max-fit): {len(result['proposals'])} Vorschläge, "
        f"{len(result['unplaced'])} ohne Platz, {len(result['pinned'])} bestätigte beibehalten"
    )
    kinds = [e["action"] for e in api.ok("GET", f"{base}/audit")]
    assert kinds.index("run_started") < kinds.index("run_finished")


def test_applicants_read_every_placement_state_in_german() -> None:
    """„Meine Vorschläge“ names each state in German words (no internal status value)."""
    assert set(shortlists.STATUS_LABELS) == set(PlacementStatus)
    for status, label in shortlists.STATUS_LABELS.items():
        assert label != status.value and english_words(label) == [], label
    assert shortlists.STATUS_LABELS[PlacementStatus.DECLINED_BY_HOST] == "abgesagt"
