"""Two real server processes on one database: the rules hold because the database keeps them.

Each test module run (one per backend: SQLite file, PostgreSQL server) starts two ``matcher
serve`` subprocesses on the same database. Every race sends the two competing requests of a
pair to different processes at the same moment (one barrier for all requests), so the
process-local lock of either server cannot help: 40 single-place offers, two confirmations per
offer; the same with manual placements; one applicant placed on two offers; and mentors who
accept and decline the same guest while the place is being confirmed again. Afterwards: no offer
over capacity, no applicant with two confirmed places, and every loser got 409.

Runs: two processes asked to start a run for the same round at once give exactly one 202; a
process killed (SIGKILL) while it executes a run loses the run to ``failed`` within the lease,
and the other process keeps serving and can run the round again.
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
from sqlalchemy import Engine, text
from sqlmodel import Session

from api import services
from models import crud
from models.tables import PlacementCreate, PlacementStatus, Role
from tests.conftest import BACKENDS, Databases
from tests.hardening.conftest import (
    WIDE_APPLICANT,
    WIDE_OFFER,
    Coordinator,
    Record,
    Server,
    feasible_copy,
    import_round,
    issue_token,
    prepare_database,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True, scope="module")

OFFERS = 40
#: Lease of the server processes here: short, so a killed owner's run fails within seconds.
LEASE_SECONDS = 3.0
T = TypeVar("T")


@dataclass(frozen=True)
class Pair:
    """Two servers on one database, its engine and a coordinator token."""

    first: Server
    second: Server
    engine: Engine
    token: str
    url: str
    folder: Path

    def clients(self) -> tuple[httpx.Client, httpx.Client]:
        """Clients with room for every request of a race at once; generous timeouts, since all
        writes of one round queue for the same database lock on a shared, loaded machine."""
        limits = httpx.Limits(max_connections=3 * OFFERS + 8)
        return (
            self.first.client(timeout=180.0, limits=limits),
            self.second.client(timeout=180.0, limits=limits),
        )


def start_servers(servers: list[Server]) -> None:
    """Start the servers side by side (each loads the model first)."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        list(pool.map(lambda server: server.start(), servers))


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    seed_database: Path,
    backend: str,
    databases: Databases,
) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("two-processes")
    url = databases.create(backend, folder, seed=seed_database)
    engine = prepare_database(url)
    env = {"MATCHER_RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
    servers = [Server(url, folder, name, env) for name in ("first", "second")]
    try:
        start_servers(servers)
        yield Pair(servers[0], servers[1], engine, issue_token(engine), url, folder)
    finally:
        for server in servers:
            server.stop()
        engine.dispose()
        databases.drop(url)


def race_round(
    engine: Engine,
    name: str,
    sample_offers: list[Record],
    sample_applicants: list[Record],
    *,
    offers: int = OFFERS,
    applicants: int = 2 * OFFERS,
) -> int:
    """``offers`` single-place offers and ``applicants`` applicants who fit every one of them.

    Texts are the sample's (cycled), so the seed already holds every embedding.
    """
    offer_rows = [
        feasible_copy(
            sample_offers[j % len(sample_offers)], id=f"O-{j:02d}", capacity=1, **WIDE_OFFER
        )
        for j in range(offers)
    ]
    applicant_rows = [
        feasible_copy(
            sample_applicants[i % len(sample_applicants)], id=f"R-{i:03d}", **WIDE_APPLICANT
        )
        for i in range(applicants)
    ]
    return import_round(engine, name, offer_rows, applicant_rows)


def add_placements(
    engine: Engine, round_id: int, pairs: list[tuple[str, str]], status: PlacementStatus
) -> list[int]:
    """Store placements of (applicant id, offer id) pairs directly; their ids, in order."""
    with Session(engine) as session:
        rows = crud.add_placements(
            session=session,
            round_id=round_id,
            placements=[
                PlacementCreate(
                    applicant_id=services.row_id(
                        services.require_applicant(session, round_id, a).id
                    ),
                    offer_id=services.row_id(services.require_offer(session, round_id, o).id),
                    status=status,
                    score=0.5,
                )
                for a, o in pairs
            ],
        )
        session.commit()
        return [services.row_id(row.id) for row in rows]


def all_at_once(actions: list[Callable[[], T]]) -> list[T]:
    """Run every action in its own thread, released together by one barrier."""
    barrier = threading.Barrier(len(actions), timeout=120)

    def run(action: Callable[[], T]) -> T:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return list(pool.map(run, actions))


def post(
    client: httpx.Client, url: str, token: str, body: Record | None = None
) -> Callable[[], int]:
    def send() -> int:
        response = client.post(url, json=body or {}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in {200, 201, 409}, (url, response.status_code, response.text)
        if response.status_code == 409:
            assert response.json()["detail"], response.text
        status: int = response.status_code
        return status

    return send


def database_counts(engine: Engine, round_id: int) -> tuple[Counter[str], Counter[str]]:
    """(confirmed per offer, confirmed per applicant) of a round, read from the database."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT a.external_id, o.external_id FROM placement p"
                " JOIN applicant a ON a.id = p.applicant_id JOIN offer o ON o.id = p.offer_id"
                " WHERE p.round_id = :r AND p.status = 'confirmed'"
            ),
            {"r": round_id},
        ).all()
    return Counter(o for _, o in rows), Counter(a for a, _ in rows)


def assert_no_double_booking(engine: Engine, round_id: int) -> tuple[Counter[str], Counter[str]]:
    per_offer, per_applicant = database_counts(engine, round_id)
    assert max(per_offer.values(), default=0) <= 1, {o: n for o, n in per_offer.items() if n > 1}
    assert max(per_applicant.values(), default=0) <= 1, per_applicant.most_common(3)
    return per_offer, per_applicant


def test_two_confirmations_per_offer_on_two_processes(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    round_id = race_round(
        pair.engine, "Zwei Prozesse: bestätigen", sample_offers, sample_applicants
    )
    pairs = [(f"R-{2 * j + k:03d}", f"O-{j:02d}") for j in range(OFFERS) for k in (0, 1)]
    ids = add_placements(pair.engine, round_id, pairs, PlacementStatus.PROPOSED)
    first, second = pair.clients()
    with first, second:
        base = f"/api/rounds/{round_id}/placements"
        actions = [
            post(first if k % 2 == 0 else second, f"{base}/{pid}/confirm", pair.token)
            for k, pid in enumerate(ids)
        ]
        statuses = all_at_once(actions)
    per_pair = [tuple(sorted(statuses[2 * j : 2 * j + 2])) for j in range(OFFERS)]
    assert Counter(per_pair) == {(200, 409): OFFERS}, Counter(per_pair)
    per_offer, _ = assert_no_double_booking(pair.engine, round_id)
    assert sum(per_offer.values()) == OFFERS


def race_manual_placements(
    pair: Pair, round_id: int, bodies: list[Record]
) -> tuple[Counter[str], Counter[str]]:
    """Post manual placements two at a time, one of each two through each process: every two
    must end as one 201 and one 409. The database's (confirmed per offer, per applicant)."""
    first, second = pair.clients()
    with first, second:
        url = f"/api/rounds/{round_id}/placements"
        actions = [
            post(first if k % 2 == 0 else second, url, pair.token, body)
            for k, body in enumerate(bodies)
        ]
        statuses = all_at_once(actions)
    races = len(bodies) // 2
    per_pair = [tuple(sorted(statuses[2 * i : 2 * i + 2])) for i in range(races)]
    assert Counter(per_pair) == {(201, 409): races}, Counter(per_pair)
    return assert_no_double_booking(pair.engine, round_id)


def test_two_manual_placements_per_offer_on_two_processes(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    round_id = race_round(pair.engine, "Zwei Prozesse: von Hand", sample_offers, sample_applicants)
    bodies = [
        {"applicant_id": f"R-{2 * j + k:03d}", "offer_id": f"O-{j:02d}"}
        for j in range(OFFERS)
        for k in (0, 1)
    ]
    per_offer, _ = race_manual_placements(pair, round_id, bodies)
    assert sum(per_offer.values()) == OFFERS


def test_one_applicant_placed_on_two_offers_by_two_processes(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    round_id = race_round(
        pair.engine,
        "Zwei Prozesse: eine Person",
        sample_offers,
        sample_applicants,
        offers=2 * OFFERS,
        applicants=OFFERS,
    )
    bodies = [
        {"applicant_id": f"R-{i:03d}", "offer_id": f"O-{2 * i + k:02d}"}
        for i in range(OFFERS)
        for k in (0, 1)
    ]
    _, per_applicant = race_manual_placements(pair, round_id, bodies)
    assert sum(per_applicant.values()) == OFFERS


def test_mentor_decisions_and_confirmations_on_two_processes(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    """Per offer, at once: its confirmed guest is accepted by the mentor on one process and
    declined on the other, while a proposal for the same place is confirmed (on either)."""
    round_id = race_round(pair.engine, "Zwei Prozesse: Mentoring", sample_offers, sample_applicants)
    offers = [f"O-{j:02d}" for j in range(OFFERS)]
    guests = add_placements(
        pair.engine,
        round_id,
        [(f"R-{2 * j:03d}", o) for j, o in enumerate(offers)],
        PlacementStatus.CONFIRMED,
    )
    proposals = add_placements(
        pair.engine,
        round_id,
        [(f"R-{2 * j + 1:03d}", o) for j, o in enumerate(offers)],
        PlacementStatus.PROPOSED,
    )
    with Session(pair.engine) as session:
        _, mentor = services.issue_account(
            session, role=Role.MENTOR, label="Mentoring", round_id=round_id, offer_ids=offers
        )
        session.commit()
    first, second = pair.clients()
    with first, second:
        base = f"/api/rounds/{round_id}/placements"
        actions = []
        for j, guest in enumerate(guests):
            actions += [
                post(first, f"/api/mentor/guests/{guest}/accept", mentor),
                post(second, f"/api/mentor/guests/{guest}/decline", mentor, {"reason": "krank"}),
                post((first, second)[j % 2], f"{base}/{proposals[j]}/confirm", pair.token),
            ]
        statuses = all_at_once(actions)
    per_offer, _ = assert_no_double_booking(pair.engine, round_id)
    outcomes: Counter[str] = Counter()
    for j, offer in enumerate(offers):
        accept, decline, confirm = statuses[3 * j : 3 * j + 3]
        assert sorted([accept, decline]) == [200, 409], (offer, statuses[3 * j : 3 * j + 3])
        if accept == 200:  # the guest stays: the place was never free
            assert (confirm, per_offer[offer]) == (409, 1), offer
            outcomes["accepted"] += 1
        else:  # the guest left; the proposal took the place if it came after the decline
            assert per_offer[offer] == (1 if confirm == 200 else 0), offer
            outcomes["declined, refilled" if confirm == 200 else "declined, empty"] += 1
    assert sum(outcomes.values()) == OFFERS, outcomes
    with pair.engine.connect() as connection:
        accepted_over = connection.execute(
            text(
                "SELECT offer_id, count(*) FROM placement WHERE round_id = :r"
                " AND status = 'confirmed' AND mentor_decision = 'accepted'"
                " GROUP BY offer_id HAVING count(*) > 1"
            ),
            {"r": round_id},
        ).all()
    assert accepted_over == []


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_runs_started_on_two_processes_at_once_one_wins(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    round_id = import_round(pair.engine, "Zwei Prozesse: Läufe", sample_offers, sample_applicants)
    first, second = pair.clients()
    with first, second:
        coordinator = Coordinator(first, pair.token)
        url = f"/api/rounds/{round_id}/runs"
        for _ in range(3):
            responses = all_at_once(
                [
                    lambda client=client: client.post(
                        url,
                        json={"mode": "max-placed"},
                        headers={"Authorization": f"Bearer {pair.token}"},
                    )
                    for client in (first, second)
                ]
            )
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [202, 409], [r.text for r in responses]
            [accepted] = [r.json() for r in responses if r.status_code == 202]
            assert coordinator.wait_run(round_id, accepted["id"])["status"] == "done"


def test_a_killed_owner_loses_its_run_and_the_other_process_carries_on(
    pair: Pair, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    # Fresh texts: nothing is cached, so embedding keeps the run busy long enough to kill it.
    stamp = f"{time.time_ns()}"
    applicants = [
        feasible_copy(a, motivation=f"{a['motivation']} (Fassung {stamp}-{i})")
        for i, a in enumerate(sample_applicants)
    ]
    offers = [
        feasible_copy(o, description=f"{o['description']} (Fassung {stamp}-{j})")
        for j, o in enumerate(sample_offers)
    ]
    round_id = import_round(pair.engine, "Zwei Prozesse: Absturz", offers, applicants)
    victim = Server(
        pair.url, pair.folder, "victim", {"MATCHER_RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
    )
    victim.start()
    try:
        with victim.client() as doomed, pair.second.client() as survivor:
            run = Coordinator(doomed, pair.token).start_run(round_id)
            watcher = Coordinator(survivor, pair.token)
            url = f"/api/rounds/{round_id}/runs/{run['id']}"
            wait_for(
                lambda: watcher.ok("GET", url)["stage"] == "Texte einbetten und bewerten",
                60,
                "the run started embedding",
            )
            refused = survivor.post(
                f"/api/rounds/{round_id}/runs",
                json={},
                headers={"Authorization": f"Bearer {pair.token}"},
            )
            assert refused.status_code == 409  # the owner is alive: its run is not taken over
            victim.kill()
            killed_at = time.monotonic()
            failed = wait_for(
                lambda: (state := watcher.ok("GET", url))["status"] == "failed" and state,
                3 * LEASE_SECONDS + 10,
                "the dead owner's run failed",
            )
            took = time.monotonic() - killed_at
            assert "Lease abgelaufen" in failed["error"], failed
            assert took <= 2 * LEASE_SECONDS + 5, took
            assert watcher.placements(round_id, "proposed") == []
            assert watcher.run(round_id)["status"] == "done"  # the survivor serves on
    finally:
        victim.stop()
