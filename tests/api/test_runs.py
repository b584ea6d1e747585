"""Background batch runs: cancel, failure, one at a time, restart, progress and result.

``app.state.runs.on_stage`` is called between a run's stages; the tests use it to cancel a run,
make it fail or hold it halfway.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import matcher
from api import services
from api.settings import Settings
from models import crud
from models.db import init_db, make_engine
from models.tables import MatchingRun, Placement, RunStatus, utc_now
from tests.api.conftest import Api, Record, sample_records

STAGES = [
    "Runde laden",
    "Texte einbetten und bewerten",
    "Zuordnung berechnen",
    "Vorschläge speichern",
]
Hook = Callable[[int, str], None]


def placement_rows(api: Api) -> list[dict[str, Any]]:
    """Every placement row of the database, every column."""
    with api.session() as session:
        rows = session.exec(select(Placement).order_by(col(Placement.id))).all()
        return [row.model_dump() for row in rows]


@pytest.fixture
def set_hook(api: Api) -> Iterator[Callable[[Hook | None], None]]:
    """Install an ``on_stage`` hook for this test; removed afterwards."""

    def install(hook: Hook | None) -> None:
        api.app.state.runs.on_stage = hook

    yield install
    install(None)


@pytest.fixture
def proposed_round(api: Api, api_round: int) -> int:
    """The small round after one finished run: it has proposals to keep."""
    api.run(api_round)
    assert api.placements(api_round, "proposed")
    return api_round


def one_more_run(counts: dict[str, int]) -> dict[str, int]:
    """Table counts after one run that stored nothing: its row and its two audit entries."""
    return {
        **counts,
        "matchingrun": counts["matchingrun"] + 1,
        "auditentry": counts["auditentry"] + 2,
    }


def run_events(api: Api, round_id: int, run_id: int) -> list[str]:
    """Kinds of the round's audit entries about one run, oldest first."""
    entries = api.ok("GET", f"/api/rounds/{round_id}/audit")
    return [e["action"] for e in entries if (e["detail"] or "").startswith(f"Lauf {run_id} ")]


@pytest.mark.parametrize("stage", ["Zuordnung berechnen", STAGES[0], STAGES[-1]])
def test_cancel_halfway_leaves_everything_as_before(
    api: Api, proposed_round: int, set_hook: Callable[[Hook | None], None], stage: str
) -> None:
    rows_before, counts_before = placement_rows(api), api.counts()
    answers: list[httpx.Response] = []

    def cancel_at(run_id: int, reached: str) -> None:
        if reached == stage:
            answers.append(api.post(f"/api/rounds/{proposed_round}/runs/{run_id}/cancel"))

    set_hook(cancel_at)
    run = api.wait_run(proposed_round, api.start_run(proposed_round)["id"])

    assert [a.status_code for a in answers] == [200], [a.text for a in answers]
    assert run["status"] == "cancelled"
    assert run["stage"] == "abgebrochen"
    assert 0.0 <= run["progress"] < 1.0
    assert run["result"] is None
    assert run["finished_at"] is not None
    assert placement_rows(api) == rows_before
    assert api.counts() == one_more_run(counts_before)
    assert run_events(api, proposed_round, run["id"]) == ["run_started", "run_cancelled"]
    again = api.post(f"/api/rounds/{proposed_round}/runs/{run['id']}/cancel")
    assert again.status_code == 409


def fail_in_hook(monkeypatch: pytest.MonkeyPatch) -> Hook:
    def hook(run_id: int, stage: str) -> None:
        if stage == "Vorschläge speichern":
            raise RuntimeError("Platte voll")

    return hook


def fail_after_storing(monkeypatch: pytest.MonkeyPatch) -> Hook:
    """``store_proposals`` writes its rows, then the run dies."""
    original = services.store_proposals

    def store_then_fail(*args: Any, **kwargs: Any) -> dict[str, int]:
        stored = original(*args, **kwargs)
        assert stored, "the failure should come after rows were written"
        raise RuntimeError("Platte voll")

    monkeypatch.setattr(services, "store_proposals", store_then_fail)
    return lambda run_id, stage: None


@pytest.mark.parametrize("failure", [fail_in_hook, fail_after_storing], ids=["hook", "store"])
def test_failure_halfway_leaves_no_partial_proposals(
    api: Api,
    proposed_round: int,
    set_hook: Callable[[Hook | None], None],
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[pytest.MonkeyPatch], Hook],
) -> None:
    rows_before, counts_before = placement_rows(api), api.counts()
    set_hook(failure(monkeypatch))
    run = api.wait_run(proposed_round, api.start_run(proposed_round)["id"])

    assert run["status"] == "failed"
    assert "RuntimeError" in run["error"]
    assert "Platte voll" in run["error"]
    assert run["result"] is None
    assert placement_rows(api) == rows_before
    assert api.counts() == one_more_run(counts_before)
    assert run_events(api, proposed_round, run["id"]) == ["run_started", "run_failed"]

    monkeypatch.undo()
    set_hook(None)
    assert api.run(proposed_round)["status"] == "done"  # a failed run blocks nothing


def test_one_run_per_round_at_a_time(
    api: Api,
    api_round: int,
    offers_data: list[Record],
    applicants_data: list[Record],
    set_hook: Callable[[Hook | None], None],
) -> None:
    other_round = api.new_round(offers_data[:2], applicants_data[:2], name="Andere Runde")
    started, release = threading.Event(), threading.Event()

    def hold(run_id: int, stage: str) -> None:
        if stage == "Runde laden":
            started.set()
            release.wait(timeout=30)

    set_hook(hold)
    try:
        first = api.start_run(api_round)
        assert started.wait(timeout=30)
        assert api.ok("GET", f"/api/rounds/{api_round}/runs/{first['id']}")["status"] == "running"
        second = api.post(f"/api/rounds/{api_round}/runs", json={"mode": "max-fit"})
        assert second.status_code == 409
        assert "läuft bereits" in second.json()["detail"]
        elsewhere = api.start_run(other_round)  # another round may queue its own run
        assert elsewhere["status"] == "queued"
    finally:
        release.set()
    assert api.wait_run(api_round, first["id"])["status"] == "done"
    assert api.wait_run(other_round, elsewhere["id"])["status"] == "done"
    runs = api.ok("GET", f"/api/rounds/{api_round}/runs")
    assert [r["id"] for r in runs] == [first["id"]]

    queued = api.add_run(api_round, RunStatus.QUEUED)  # e.g. waiting for the worker
    assert api.post(f"/api/rounds/{api_round}/runs", json={}).status_code == 409
    cancelled = api.ok("POST", f"/api/rounds/{api_round}/runs/{queued}/cancel")
    assert cancelled["status"] == "cancelled"
    assert api.run(api_round)["status"] == "done"


def test_runs_of_a_dead_process_are_failed_at_start(api_settings: Settings, app: FastAPI) -> None:
    """Runs whose lease ran out (or that never had one) are failed; a live lease is kept."""
    engine = make_engine(api_settings.database_url)
    init_db(engine)
    expired = utc_now() - timedelta(seconds=1)
    kinds = {
        "running, lease expired": (RunStatus.RUNNING, expired),
        "queued, no lease": (RunStatus.QUEUED, None),
        "done": (RunStatus.DONE, None),
        "running, lease alive": (RunStatus.RUNNING, utc_now() + timedelta(hours=1)),
    }
    with Session(engine) as session:
        rounds, runs = {}, {}
        for kind, (status, lease_until) in kinds.items():  # one round each: one active run
            round_id = services.row_id(crud.create_round(session=session, name=kind).id)
            rounds[kind] = round_id
            runs[kind] = MatchingRun(
                round_id=round_id,
                mode="max-placed",
                status=status,
                created_by="coordinator:1",
                owner="gestorbener-prozess",
                lease_until=lease_until,
                stage=STAGES[2],
                progress=0.7,
            )
        session.add_all(runs.values())
        session.commit()
        ids = {kind: services.row_id(run.id) for kind, run in runs.items()}
    engine.dispose()

    with TestClient(app) as client:
        api = Api(client)
        shown = {k: api.ok("GET", f"/api/rounds/{rounds[k]}/runs/{i}") for k, i in ids.items()}
        for kind in ("running, lease expired", "queued, no lease"):
            assert shown[kind]["status"] == "failed", kind
            assert "Lease abgelaufen" in shown[kind]["error"]
            assert shown[kind]["finished_at"] is not None
        assert shown["done"]["status"] == "done"
        assert shown["running, lease alive"]["status"] == "running"
        alive = rounds["running, lease alive"]
        assert api.post(f"/api/rounds/{alive}/runs", json={}).status_code == 409
        round_id = rounds["running, lease expired"]
        assert api.run(round_id)["status"] == "done"  # the dead runs block nothing


def test_progress_rises_through_the_stages_to_one(
    api: Api, api_round: int, set_hook: Callable[[Hook | None], None]
) -> None:
    seen: list[tuple[str, RunStatus, float]] = []

    def record(run_id: int, stage: str) -> None:
        with api.session() as session:
            run = session.get(MatchingRun, run_id)
            assert run is not None
            seen.append((stage, run.status, run.progress))

    set_hook(record)
    run = api.run(api_round)
    assert [stage for stage, _, _ in seen] == STAGES
    assert {status for _, status, _ in seen} == {RunStatus.RUNNING}
    progress = [p for _, _, p in seen]
    assert all(0.0 < p < 1.0 for p in progress)
    assert progress == sorted(set(progress))
    assert run["progress"] == 1.0
    assert run["stage"] == "fertig"
    assert run["error"] is None
    assert datetime.fromisoformat(run["finished_at"]) >= datetime.fromisoformat(run["created_at"])


@pytest.fixture
def crowded_round(api: Api, offers_data: list[Record], applicants_data: list[Record]) -> int:
    """12 applicants for the 7 places of four offers (H-004 needs French: nobody fits)."""
    return api.new_round(offers_data[:4], applicants_data[:12], name="Zu wenig Plätze")


def test_done_result_lists_proposals_unplaced_and_alternates(
    api: Api, crowded_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    offers, applicants = sample_records(offers_data[:4], applicants_data[:12])
    feasible = matcher.check_feasibility(applicants, offers, [0] * len(offers)).feasible
    can = {
        (a.id, o.id)
        for i, a in enumerate(applicants)
        for j, o in enumerate(offers)
        if feasible[i, j]
    }
    capacity = {o.id: o.capacity for o in offers}
    result = api.run(crowded_round)["result"]

    proposals = result["proposals"]
    stored = {p["id"]: p for p in api.placements(crowded_round, "proposed")}
    assert sorted(stored) == sorted(p["placement_id"] for p in proposals)
    for p in proposals:
        row = stored[p["placement_id"]]
        assert (row["applicant_id"], row["offer_id"]) == (p["applicant_id"], p["offer_id"])
        assert row["score"] == pytest.approx(p["score"], abs=1e-6)
        assert (p["applicant_id"], p["offer_id"]) in can
    assert all(n <= capacity[o] for o, n in Counter(p["offer_id"] for p in proposals).items())
    assert result["places_left"] == sum(capacity.values()) - len(proposals)
    assert result["pinned"] == []

    placed = [p["applicant_id"] for p in proposals]
    unplaced = [u["applicant_id"] for u in result["unplaced"]]
    assert len(unplaced) >= 5
    assert sorted(placed + unplaced) == sorted(a.id for a in applicants)
    for u in result["unplaced"]:
        assert isinstance(u["reason"], str)
        assert len(u["reason"]) > 20

    assert set(result["alternates"]) == set(capacity)
    for offer_id, alternates in result["alternates"].items():
        assert len(alternates) <= 3
        assert len(set(alternates)) == len(alternates)
        assert all((a, offer_id) in can for a in alternates)
        proposed_here = {p["applicant_id"] for p in proposals if p["offer_id"] == offer_id}
        assert not proposed_here & set(alternates)
        flags = [a in unplaced for a in alternates]
        assert flags == sorted(flags, reverse=True), "unplaced applicants come first"
    assert result["alternates"]["H-004"] == []
    assert len(result["alternates"]["H-001"]) == 3

    fit = api.run(crowded_round, "max-fit")["result"]
    assert len(fit["proposals"]) <= len(proposals)
    assert fit["total_score"] >= result["total_score"] - 1e-6


def test_run_with_an_unknown_mode_is_refused(api: Api, api_round: int) -> None:
    response = api.post(f"/api/rounds/{api_round}/runs", json={"mode": "best-guess"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("mode")
    assert api.ok("GET", f"/api/rounds/{api_round}/runs") == []
    assert api.post("/api/rounds/999/runs", json={}).status_code == 404
    assert api.get(f"/api/rounds/{api_round}/runs/999").status_code == 404


def test_decisions_taken_during_a_run_are_respected(
    api: Api,
    proposed_round: int,
    offers_data: list[Record],
    set_hook: Callable[[Hook | None], None],
) -> None:
    base = f"/api/rounds/{proposed_round}"
    kept, dropped = api.placements(proposed_round, "proposed")[:2]
    answers: list[httpx.Response] = []

    def decide_meanwhile(run_id: int, stage: str) -> None:
        if stage == "Zuordnung berechnen":  # the run has loaded and scored the old state
            answers.append(api.post(f"{base}/placements/{kept['id']}/confirm"))
            answers.append(api.post(f"{base}/placements/{dropped['id']}/reject"))

    set_hook(decide_meanwhile)
    run = api.run(proposed_round)
    assert [a.status_code for a in answers] == [200, 200]
    after = api.placements(proposed_round)
    proposed = [(p["applicant_id"], p["offer_id"]) for p in after if p["status"] == "proposed"]
    assert [p["status"] for p in after if p["id"] == kept["id"]] == ["confirmed"]
    assert kept["applicant_id"] not in {a for a, _ in proposed}
    assert (dropped["applicant_id"], dropped["offer_id"]) not in proposed
    [pinned] = run["result"]["pinned"]
    assert (pinned["applicant_id"], pinned["offer_id"]) == (kept["applicant_id"], kept["offer_id"])
    assert pinned["score"] == pytest.approx(kept["score"], abs=1e-6)
    capacity = {o["id"]: o["capacity"] for o in offers_data}
    taken = Counter(p["offer_id"] for p in after if p["status"] != "rejected")
    assert all(n <= capacity[o] for o, n in taken.items())


def test_capacity_cut_during_a_run_is_respected(
    api: Api,
    proposed_round: int,
    offers_data: list[Record],
    set_hook: Callable[[Hook | None], None],
) -> None:
    offer_id = api.placements(proposed_round, "proposed")[0]["offer_id"]
    offer = next(o for o in offers_data if o["id"] == offer_id)
    answers: list[httpx.Response] = []

    def cut_meanwhile(run_id: int, stage: str) -> None:
        if stage == "Zuordnung berechnen":
            url = f"/api/rounds/{proposed_round}/offers/{offer_id}"
            answers.append(api.request("PUT", url, json={**offer, "capacity": 0}))

    set_hook(cut_meanwhile)
    run = api.wait_run(proposed_round, api.start_run(proposed_round)["id"])
    assert [a.status_code for a in answers] == [200]
    if run["status"] == "done":  # done means: solved on the round as it is now
        proposed_there = [p for p in run["result"]["proposals"] if p["offer_id"] == offer_id]
        assert proposed_there == [], f"{offer_id} has no place left since the run began"
        assert [p for p in api.placements(proposed_round) if p["offer_id"] == offer_id] == []
    else:  # or the run notices the change and gives up
        assert run["status"] == "failed", run


def test_closing_the_round_during_a_run_stores_no_proposals(
    api: Api, proposed_round: int, set_hook: Callable[[Hook | None], None]
) -> None:
    rows_before = placement_rows(api)
    answers: list[httpx.Response] = []

    def close_meanwhile(run_id: int, stage: str) -> None:
        if stage == "Zuordnung berechnen":
            url = f"/api/rounds/{proposed_round}"
            answers.append(api.request("PATCH", url, json={"status": "closed"}))

    set_hook(close_meanwhile)
    run = api.wait_run(proposed_round, api.start_run(proposed_round)["id"])
    [answer] = answers
    if answer.status_code == 200:  # closing was allowed: the closed round must stay as it was
        assert run["status"] != "done", "the run stored proposals in a closed round"
        assert placement_rows(api) == rows_before
    else:  # or closing waits for no run
        assert answer.status_code == 409


def test_a_rerun_never_reuses_the_ids_of_the_proposals_it_replaced(
    api: Api, proposed_round: int
) -> None:
    base = f"/api/rounds/{proposed_round}/placements"
    proposals = api.placements(proposed_round, "proposed")
    api.ok("POST", f"{base}/{proposals[0]['id']}/reject")  # the re-run has to change
    replaced = {p["id"]: (p["applicant_id"], p["offer_id"]) for p in proposals[1:]}
    run = api.run(proposed_round)
    now = {
        p["placement_id"]: (p["applicant_id"], p["offer_id"]) for p in run["result"]["proposals"]
    }
    changed = [i for i in replaced if i in now and now[i] != replaced[i]]
    stale_id = changed[0] if changed else next(iter(replaced))
    # A coordinator still looking at the old list must not confirm someone else's proposal.
    response = api.post(f"{base}/{stale_id}/confirm")
    assert response.status_code == 404, (
        f"placement {stale_id} was {replaced[stale_id]} before the re-run; confirming it "
        f"now gives {response.status_code} for {now.get(stale_id)}"
    )
    assert not set(now) & set(replaced), "ids of replaced proposals were given out again"
