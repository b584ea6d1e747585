"""Races against the real server: ``matcher serve`` in a subprocess, many clients at once.

The database is prepared before the server starts (service layer and crud, as an operator's
script would): a race round (one place, 50 feasible applicants, 50 proposals for that place),
an interleaving round (10 offers with two places each, 40 feasible applicants) and the sample
round for concurrent runs. All traffic goes to 127.0.0.1; request counts are bounded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine, text
from sqlmodel import Session

from api import decisions, services
from api.app import create_app
from api.settings import Settings
from models import crud
from models.tables import PlacementCreate, PlacementStatus
from tests.conftest import BACKENDS, Databases
from tests.hardening.conftest import (
    WIDE_APPLICANT,
    WIDE_OFFER,
    App,
    Coordinator,
    HttpResponse,
    Record,
    Server,
    feasible_copy,
    import_round,
    issue_token,
    prepare_database,
)
from tests.support import to_csv

#: The races run against both backends (the arena is one per module and backend).
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True, scope="module")

RACERS = 50
#: Worker threads of the interleaving test: several decisions in flight, still bounded.
INTERLEAVING_WORKERS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class Arena:
    server: Server
    engine: Engine
    token: str
    race_round: int
    race_placements: list[int]
    race_offer_row: int
    interleave_round: int
    interleave_capacity: dict[str, int]
    sample_round: int

    def client(self) -> httpx.Client:
        return self.server.client(limits=httpx.Limits(max_connections=RACERS))


def add_proposals(engine: Engine, round_id: int, offer_id: str) -> tuple[list[int], int]:
    """One proposal on ``offer_id`` for every applicant of the round; ids and offer row id."""
    with Session(engine) as session:
        offer = services.require_offer(session, round_id, offer_id)
        applicants = crud.list_applicants(session=session, round_id=round_id)
        rows = crud.add_placements(
            session=session,
            round_id=round_id,
            placements=[
                PlacementCreate(
                    applicant_id=services.row_id(a.id),
                    offer_id=services.row_id(offer.id),
                    status=PlacementStatus.PROPOSED,
                    score=0.5,
                )
                for a in applicants
            ],
        )
        session.commit()
        return [services.row_id(r.id) for r in rows], services.row_id(offer.id)


@pytest.fixture(scope="module")
def arena(
    tmp_path_factory: pytest.TempPathFactory,
    seed_database: Path,
    sample_offers: list[Record],
    sample_applicants: list[Record],
    backend: str,
    databases: Databases,
) -> Iterator[Arena]:
    folder = tmp_path_factory.mktemp("concurrency")
    url = databases.create(backend, folder, seed=seed_database)
    engine = prepare_database(url)
    # Texts come from the sample, so every embedding is already cached in the seed.
    race_offer = feasible_copy(sample_offers[0], id="O-RACE", capacity=1, **WIDE_OFFER)
    racers = [
        feasible_copy(sample_applicants[i], id=f"R-{i:03d}", **WIDE_APPLICANT)
        for i in range(RACERS)
    ]
    race_round = import_round(engine, "Wettlauf", [race_offer], racers)
    race_placements, race_offer_row = add_proposals(engine, race_round, "O-RACE")
    offers = [
        feasible_copy(o, id=f"O-{i:02d}", capacity=2, **WIDE_OFFER)
        for i, o in enumerate(sample_offers[:10])
    ]
    applicants = [
        feasible_copy(a, id=f"I-{i:03d}", **WIDE_APPLICANT)
        for i, a in enumerate(sample_applicants[:40])
    ]
    interleave_round = import_round(engine, "Verzahnt", offers, applicants)
    sample_round = import_round(engine, "Beispiel", sample_offers, sample_applicants)
    token = issue_token(engine)
    server = Server(url, folder, "concurrency")
    try:
        server.start()
        yield Arena(
            server=server,
            engine=engine,
            token=token,
            race_round=race_round,
            race_placements=race_placements,
            race_offer_row=race_offer_row,
            interleave_round=interleave_round,
            interleave_capacity={o["id"]: o["capacity"] for o in offers},
            sample_round=sample_round,
        )
    finally:
        server.stop()
        engine.dispose()
        databases.drop(url)


def all_at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` for i < count in as many threads, released together by a barrier."""
    barrier = threading.Barrier(count, timeout=60)

    def run(i: int) -> T:
        barrier.wait()
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_confirmations_of_one_place_admit_exactly_one(arena: Arena) -> None:
    base = f"/api/rounds/{arena.race_round}"
    with arena.client() as client:
        coordinator = Coordinator(client, arena.token)

        def confirm(i: int) -> int:
            pid = arena.race_placements[i]
            response = coordinator.request(
                "POST", f"{base}/placements/{pid}/confirm", json={"reason": "Wettlauf"}
            )
            status: int = response.status_code
            return status

        statuses = all_at_once(RACERS, confirm)
        assert Counter(statuses) == {200: 1, 409: RACERS - 1}, Counter(statuses)
        confirmed = coordinator.placements(arena.race_round, "confirmed")
        assert len(confirmed) == 1 and confirmed[0]["offer_id"] == "O-RACE"
        audit = coordinator.ok("GET", f"{base}/audit")
        # The winner fills the place, so the 49 other proposals are superseded with it.
        assert [e["action"] for e in audit] == ["confirm"] + ["supersede"] * (RACERS - 1)
        assert audit[0]["placement_id"] == confirmed[0]["id"]
    with Session(arena.engine) as session:
        assert crud.count_confirmed(session=session, offer_id=arena.race_offer_row) == 1


def assert_consistent(placements: list[Record], capacity: dict[str, int]) -> None:
    """One confirmed place per applicant, no proposal for them, no offer over capacity."""
    confirmed = Counter(p["applicant_id"] for p in placements if p["status"] == "confirmed")
    assert all(n == 1 for n in confirmed.values()), confirmed
    proposed_for_placed = [
        p for p in placements if p["status"] == "proposed" and p["applicant_id"] in confirmed
    ]
    assert not proposed_for_placed, f"proposals for placed applicants: {proposed_for_placed}"
    taken = Counter(p["offer_id"] for p in placements if p["status"] in {"confirmed", "proposed"})
    over = {offer: n for offer, n in taken.items() if n > capacity[offer]}
    assert not over, f"more placements than places: {over}"


def test_batch_run_never_overwrites_confirmations_made_while_it_runs(arena: Arena) -> None:
    round_id = arena.interleave_round
    base = f"/api/rounds/{round_id}"
    with arena.client() as client:
        coordinator = Coordinator(client, arena.token)
        coordinator.run(round_id)
        confirmed_ok: set[int] = set()
        for _ in range(2):  # confirm proposals of one run while the next one runs
            proposals = [p["id"] for p in coordinator.placements(round_id, "proposed")]
            assert proposals, "the previous run proposed nothing"
            # Half of them, so that the next run still has places to fill.
            chosen = proposals[::2]
            third = max(1, len(chosen) // 3)
            started: list[Record] = []

            def task(item: int | None, started: list[Record] = started) -> int:
                if item is None:
                    started.append(coordinator.start_run(round_id))
                    return 202
                response = coordinator.request("POST", f"{base}/placements/{item}/confirm")
                status: int = response.status_code
                if status == 200:
                    confirmed_ok.add(item)
                return status

            tasks: list[int | None] = [*chosen[:third], None, *chosen[third:]]
            with ThreadPoolExecutor(max_workers=INTERLEAVING_WORKERS) as pool:
                statuses = list(pool.map(task, tasks))
            assert set(statuses) <= {200, 202, 404, 409}, Counter(statuses)
            run = coordinator.wait_run(round_id, started[0]["id"])
            assert run["status"] == "done", run
            placements = coordinator.placements(round_id)
            by_id = {p["id"]: p for p in placements}
            lost = [pid for pid in confirmed_ok if by_id.get(pid, {}).get("status") != "confirmed"]
            assert not lost, f"confirmed placements overwritten by the run: {lost}"
            assert_consistent(placements, arena.interleave_capacity)
        assert confirmed_ok, "no confirmation succeeded: the test did not race anything"


def proposal_pairs(coordinator: Coordinator, round_id: int) -> set[tuple[str, str]]:
    return {
        (p["applicant_id"], p["offer_id"]) for p in coordinator.placements(round_id, "proposed")
    }


def test_runs_started_at_once_do_not_interleave(arena: Arena) -> None:
    round_id = arena.sample_round
    with arena.client() as client:
        coordinator = Coordinator(client, arena.token)

        def start(_: int) -> HttpResponse:
            return coordinator.request(
                "POST", f"/api/rounds/{round_id}/runs", json={"mode": "max-placed"}
            )

        responses = all_at_once(3, start)
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {202, 409} and 202 in statuses, statuses
        for refused in (r for r in responses if r.status_code == 409):
            assert refused.json()["detail"]
        accepted = sorted(r.json()["id"] for r in responses if r.status_code == 202)
        runs = [coordinator.wait_run(round_id, run_id) for run_id in accepted]
        assert all(run["status"] == "done" for run in runs), runs
        last = runs[-1]
        concurrent = proposal_pairs(coordinator, round_id)
        with arena.engine.connect() as connection:
            run_ids = connection.execute(
                text(
                    "SELECT DISTINCT run_id FROM placement"
                    " WHERE round_id = :r AND status = 'proposed'"
                ),
                {"r": round_id},
            ).scalars()
            assert set(run_ids) == {last["id"]}, "proposals of more than one run are stored"
        expected = {(p["applicant_id"], p["offer_id"]) for p in last["result"]["proposals"]}
        assert concurrent == expected
        single = coordinator.run(round_id)
        assert proposal_pairs(coordinator, round_id) == concurrent
        assert single["result"]["total_score"] == pytest.approx(last["result"]["total_score"])


def test_duplicate_imports_at_once_store_the_records_once(
    arena: Arena, sample_applicants: list[Record]
) -> None:
    """A double-submitted import: one succeeds, the other is told the ids exist; never a 500."""
    round_id = arena.sample_round
    with arena.client() as client:
        coordinator = Coordinator(client, arena.token)
        before = len(coordinator.ok("GET", f"/api/rounds/{round_id}/applicants"))
        for attempt in range(5):  # bounded: five double submissions of fresh ids
            batch = [
                feasible_copy(a, id=f"D{attempt}-{i:03d}") for i, a in enumerate(sample_applicants)
            ]
            body: dict[str, Any] = {"offers": [], "applicants": batch}

            def submit(_: int, body: dict[str, Any] = body) -> HttpResponse:
                return coordinator.request("POST", f"/api/rounds/{round_id}/import", json=body)

            responses = all_at_once(2, submit)
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [201, 422], [(r.status_code, r.text[:300]) for r in responses]
            refused = next(r for r in responses if r.status_code == 422).json()
            assert {e["record_id"] for e in refused["errors"]} == {a["id"] for a in batch}
            after = len(coordinator.ok("GET", f"/api/rounds/{round_id}/applicants"))
            assert after == before + len(batch) * (attempt + 1)


def test_confirmations_between_solve_and_write_are_respected(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    """Deterministic twin of the race above, in process: the run is held after it solved.

    ``on_stage`` stops the run at its last stage (solved, not yet written); the coordinator
    confirms proposals meanwhile. The run has to notice and solve again on the fresh state.
    """
    offers = [
        feasible_copy(o, id=f"O-{i:02d}", capacity=2, **WIDE_OFFER)
        for i, o in enumerate(sample_offers[:10])
    ]
    applicants = [
        feasible_copy(a, id=f"I-{i:03d}", **WIDE_APPLICANT)
        for i, a in enumerate(sample_applicants[:40])
    ]
    coordinator = started.coordinator
    round_id = coordinator.new_round(offers, applicants)
    coordinator.run(round_id)
    chosen = [p["id"] for p in coordinator.placements(round_id, "proposed")][::2]
    assert chosen
    solved, release = threading.Event(), threading.Event()

    def hold(_: int, stage: str) -> None:
        if stage == "Vorschläge speichern":
            solved.set()
            release.wait(timeout=60)

    started.app.state.runs.on_stage = hold
    try:
        run = coordinator.start_run(round_id)
        assert solved.wait(timeout=60), "the run never reached its last stage"
        for pid in chosen:
            coordinator.ok("POST", f"/api/rounds/{round_id}/placements/{pid}/confirm")
    finally:
        release.set()
    done = coordinator.wait_run(round_id, run["id"])
    assert done["status"] == "done", done
    placements = coordinator.placements(round_id)
    by_id = {p["id"]: p for p in placements}
    assert all(by_id[pid]["status"] == "confirmed" for pid in chosen)
    assert_consistent(placements, {o["id"]: o["capacity"] for o in offers})
    pinned = {(p["applicant_id"], p["offer_id"]) for p in done["result"]["pinned"]}
    assert pinned == {(by_id[pid]["applicant_id"], by_id[pid]["offer_id"]) for pid in chosen}


DOUBLE_SUBMISSIONS = ["json-import", "csv-import", "add-applicant", "add-offer"]


def double_submission(
    kind: str, round_id: int, offer: Record, applicants: list[Record]
) -> tuple[str, dict[str, Any], str]:
    """(url, request arguments, the crud writer to slow down) of one way to add records."""
    base = f"/api/rounds/{round_id}"
    if kind == "json-import":
        return f"{base}/import", {"json": {"applicants": applicants}}, "add_applicants"
    if kind == "csv-import":
        files = {"applicants": ("a.csv", to_csv(applicants), "text/csv")}
        return f"{base}/import/csv", {"files": files}, "add_applicants"
    if kind == "add-applicant":
        return f"{base}/applicants", {"json": applicants[0]}, "add_applicants"
    return f"{base}/offers", {"json": offer}, "add_offers"


@pytest.mark.parametrize("kind", DOUBLE_SUBMISSIONS)
def test_duplicate_check_and_insert_are_atomic(
    started: App,
    sample_offers: list[Record],
    sample_applicants: list[Record],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """Deterministic twin of the double submission: the check-to-insert window is widened.

    Adding records first looks up the ids already in the round, then inserts. Holding every
    insert back by half a second lets two submissions pass the check together unless they are
    serialised; the second must end as an input error (422 naming the id), never as a
    database error (500).
    """
    coordinator = started.coordinator
    round_id = coordinator.new_round(sample_offers[:3], name="Doppelklick")
    offer = feasible_copy(sample_offers[5], id="H-DOPPELT")
    batch = [feasible_copy(a, id=f"K-{i:03d}") for i, a in enumerate(sample_applicants[:10])]
    url, arguments, writer = double_submission(kind, round_id, offer, batch)
    real_writer = getattr(crud, writer)

    def slow_writer(**kwargs: Any) -> Any:
        time.sleep(0.5)
        return real_writer(**kwargs)

    monkeypatch.setattr(f"models.crud.{writer}", slow_writer)
    before = started.counts()

    def submit(_: int) -> int | str:
        try:
            response = coordinator.request("POST", url, **arguments)
        except Exception as error:  # the in-process client re-raises what became a 500
            return f"500 {type(error).__name__}: {str(error)[:200]}"
        status: int = response.status_code
        return status

    outcomes = all_at_once(2, submit)
    assert sorted(outcomes, key=str) == [201, 422], outcomes
    added = started.counts()
    table = "offer" if kind == "add-offer" else "applicant"
    expected = 1 if kind.startswith("add-") else len(batch)
    assert added[table] == before[table] + expected


@pytest.fixture
def two_apps(app_settings: Settings, model: SentenceTransformer) -> Iterator[tuple[App, App]]:
    """Two apps on one database in this process: each has its own thread lock, like two
    server processes, so only the database can keep them apart."""
    with (
        TestClient(create_app(app_settings, model=model)) as first,
        TestClient(create_app(app_settings, model=model)) as second,
    ):
        yield App(first), App(second)


def _proposals_for(app: App, round_id: int, applicant_ids: list[str], offer_id: str) -> list[int]:
    """Store one proposal per applicant for the offer (what two runs' proposals look like)."""
    with Session(app.engine) as session:
        offer = services.require_offer(session, round_id, offer_id)
        rows = crud.add_placements(
            session=session,
            round_id=round_id,
            placements=[
                PlacementCreate(
                    applicant_id=services.row_id(
                        services.require_applicant(session, round_id, applicant_id).id
                    ),
                    offer_id=services.row_id(offer.id),
                    status=PlacementStatus.PROPOSED,
                    score=0.5,
                )
                for applicant_id in applicant_ids
            ],
        )
        session.commit()
        return [services.row_id(row.id) for row in rows]


@pytest.mark.parametrize("kind", ["manual-placement", "confirmation"])
@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "guard-removed"])
def test_the_database_lock_closes_the_check_to_write_window(
    two_apps: tuple[App, App],
    sample_offers: list[Record],
    sample_applicants: list[Record],
    monkeypatch: pytest.MonkeyPatch,
    guarded: bool,
    kind: str,
) -> None:
    """Deterministic twin of the two-process races: every capacity check is held for half a
    second before its write, and two manual placements (or two confirmations of proposals)
    for the last place arrive at once, one through each app.

    With the round's write lock (``crud.lock_round_for_write``) the second check waits for the
    first placement's commit and is refused. The ``guard-removed`` case patches that lock out
    and shows the same requests double-book the place every time: the race is real, and the
    guarded case fails as soon as the guard is gone.
    """
    first, second = two_apps
    offer = feasible_copy(sample_offers[0], id="O-LETZTER", capacity=1, **WIDE_OFFER)
    applicants = [
        feasible_copy(sample_applicants[i], id=f"L-{i}", **WIDE_APPLICANT) for i in range(2)
    ]
    round_id = first.coordinator.new_round([offer], applicants, name="Fenster")
    real_check = decisions._check_placeable

    def slow_check(*args: Any, **kwargs: Any) -> None:
        real_check(*args, **kwargs)
        time.sleep(0.5)  # between the check and the write

    monkeypatch.setattr("api.decisions._check_placeable", slow_check)
    if not guarded:
        monkeypatch.setattr("models.crud.lock_round_for_write", lambda **_: None)

    proposals = (
        _proposals_for(first, round_id, ["L-0", "L-1"], "O-LETZTER")
        if kind == "confirmation"
        else []
    )
    base = f"/api/rounds/{round_id}"
    success = 201 if kind == "manual-placement" else 200

    def place(i: int) -> int:
        app = (first, second)[i]
        if kind == "manual-placement":
            body = {"applicant_id": f"L-{i}", "offer_id": "O-LETZTER"}
            response = app.coordinator.request("POST", f"{base}/placements", json=body)
        else:
            response = app.coordinator.request("POST", f"{base}/placements/{proposals[i]}/confirm")
        status: int = response.status_code
        return status

    outcomes = sorted(all_at_once(2, place))
    confirmed = first.coordinator.placements(round_id, "confirmed")
    if guarded:
        assert outcomes == [success, 409], outcomes
        assert len(confirmed) == 1
    elif kind == "confirmation":
        # Confirmations are kept apart twice: without the lock, the first one still supersedes
        # the other proposal for the full place, and the second's conditional update
        # (``WHERE status = 'proposed'``) changes no row (409), or PostgreSQL aborts the
        # conflicting transaction (503, retry later): never a second guest.
        assert outcomes[0] == success and outcomes[1] in {409, 503}, outcomes
        assert len(confirmed) == 1
    else:
        assert outcomes == [success, success], outcomes
        assert len(confirmed) == 2, "without the lock the window is open: double booking"


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "guard-removed"])
def test_two_processes_importing_the_same_ids_store_them_once(
    two_apps: tuple[App, App],
    sample_applicants: list[Record],
    monkeypatch: pytest.MonkeyPatch,
    guarded: bool,
) -> None:
    """Deterministic window for imports across processes: both apps read the round's ids
    (none taken), then every insert is held back by half a second.

    The process lock cannot keep two apps apart; the round's write lock in the database,
    taken before the id check, makes the second import wait and end as an input error (422
    naming the ids). The ``guard-removed`` case patches that lock out: the second import then
    runs into the unique index (500) every time.
    """
    first, second = two_apps
    round_id = first.coordinator.new_round(name="Doppelimport")
    batch = [feasible_copy(a, id=f"D-{i:03d}") for i, a in enumerate(sample_applicants[:5])]
    real_writer = crud.add_applicants

    def slow_writer(**kwargs: Any) -> Any:
        time.sleep(0.5)  # between the id check and the insert
        return real_writer(**kwargs)

    monkeypatch.setattr("models.crud.add_applicants", slow_writer)
    if not guarded:
        monkeypatch.setattr("models.crud.lock_round_for_write", lambda **_: None)

    def submit(i: int) -> int | str:
        app = (first, second)[i]
        try:
            response = app.coordinator.request(
                "POST", f"/api/rounds/{round_id}/import", json={"applicants": batch}
            )
        except Exception as error:  # the in-process client re-raises what became a 500
            return f"500 {type(error).__name__}"
        status: int = response.status_code
        return status

    outcomes = sorted(all_at_once(2, submit), key=str)
    stored = first.coordinator.ok("GET", f"/api/rounds/{round_id}/applicants")
    assert len(stored) == len(batch)
    if guarded:
        assert outcomes == [201, 422], outcomes
    else:
        assert outcomes[0] == 201 and str(outcomes[1]).startswith("500"), outcomes
