"""A run that dies halfway leaves nothing behind; what was decided before survives.

The real-server test kills ``matcher serve`` with SIGKILL while a run embeds the sample round
into a cold cache (a fresh database, so embedding takes seconds), then starts a new server on
the same file, which fails the dead server's run once its lease has run out. The in-process
tests inject failures at every stage of a run and inside the write of its proposals.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from api import services
from tests.hardening.conftest import (
    App,
    Coordinator,
    Record,
    Server,
    import_round,
    issue_token,
    prepare_database,
)

#: Lease of the servers here: the killed server's run is failed this long after its last beat.
LEASE_SECONDS = 3.0
#: The sample pair the README places by hand (feasible: A-001 → H-013, Kopenhagen).
MANUAL = {"applicant_id": "A-001", "offer_id": "H-013", "reason": "Vorab bestätigt"}
STAGES = (
    "Runde laden",
    "Texte einbetten und bewerten",
    "Zuordnung berechnen",
    "Vorschläge speichern",
)


def placements_of_run(database: Path, run_id: int) -> int:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT count(*) FROM placement WHERE run_id = ?", (run_id,))
        count: int = row.fetchone()[0]
    return count


def test_server_killed_during_a_run_loses_the_run_and_nothing_else(
    tmp_path: Path, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    database = tmp_path / "crash.db"
    url = f"sqlite:///{database}"
    engine = prepare_database(url)  # fresh: no embedding is cached
    round_id = import_round(engine, "Absturz", sample_offers, sample_applicants)
    token = issue_token(engine)
    engine.dispose()
    base = f"/api/rounds/{round_id}"

    lease = {"MATCHER_RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
    with Server(url, tmp_path, "before-crash", lease) as server, server.client() as client:
        coordinator = Coordinator(client, token)
        placed = coordinator.ok("POST", f"{base}/placements", 201, json=MANUAL)
        assert placed["status"] == "confirmed"
        run = coordinator.start_run(round_id)
        deadline = time.monotonic() + 60
        seen: list[str] = []
        while True:
            state = coordinator.ok("GET", f"{base}/runs/{run['id']}")
            seen.append(f"{state['status']}:{state['stage']}")
            if state["status"] == "running" and state["stage"] == STAGES[1]:
                server.kill()
                break
            assert state["status"] not in {"done", "failed", "cancelled"}, (
                f"the run ended before it could be killed: {seen[-5:]}"
            )
            assert time.monotonic() < deadline, f"the run never started embedding: {seen[-5:]}"
            time.sleep(0.01)
        assert server.process is not None and server.process.returncode == -9

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    with Server(url, tmp_path, "after-crash", lease) as server, server.client() as client:
        coordinator = Coordinator(client, token)
        deadline = time.monotonic() + 3 * LEASE_SECONDS + 10  # failed once the lease ran out
        while (after := coordinator.ok("GET", f"{base}/runs/{run['id']}"))["status"] != "failed":
            assert time.monotonic() < deadline, after
            time.sleep(0.1)
        assert after["error"] and after["finished_at"], after
        assert coordinator.placements(round_id, "proposed") == []
        assert placements_of_run(database, run["id"]) == 0
        confirmed = coordinator.placements(round_id, "confirmed")
        assert [(p["id"], p["applicant_id"], p["offer_id"]) for p in confirmed] == [
            (placed["id"], "A-001", "H-013")
        ]
        assert confirmed[0]["decided_by"] == placed["decided_by"]
        assert confirmed[0]["reason"] == MANUAL["reason"]
        audit = coordinator.ok("GET", f"{base}/audit")
        assert [(e["action"], e["placement_id"], e["reason"]) for e in audit] == [
            ("place", placed["id"], MANUAL["reason"]),
            ("run_started", None, None),
            ("run_failed", None, None),  # failed by the next process, its lease having run out
        ]
        summary = coordinator.ok("GET", base)
        assert (summary["placed"], summary["proposed"]) == (1, 0)
        # Nothing is left "active": a new run starts and finishes on the recovered database.
        again = coordinator.run(round_id)
        assert {"applicant_id": "A-001", "offer_id": "H-013"}.items() <= next(
            p for p in again["result"]["pinned"] if p["applicant_id"] == "A-001"
        ).items()
        assert all(p["applicant_id"] != "A-001" for p in again["result"]["proposals"])

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- in process ---------------------------------------------------------------------------------


@pytest.fixture
def small_round(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> tuple[int, list[Record]]:
    """A round with every offer and 15 applicants, one earlier run's proposals stored."""
    coordinator = started.coordinator
    round_id = coordinator.new_round(sample_offers, sample_applicants[:15])
    coordinator.run(round_id)
    earlier = coordinator.placements(round_id)
    assert earlier
    return round_id, earlier


def assert_failed_without_trace(
    started: App, round_id: int, run_id: int, earlier: list[Record], message: str
) -> None:
    coordinator = started.coordinator
    run = coordinator.wait_run(round_id, run_id)
    assert run["status"] == "failed", run
    assert message in (run["error"] or ""), run
    assert run["result"] is None
    assert coordinator.placements(round_id) == earlier, "the failed run changed placements"
    with started.engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM placement WHERE run_id = :id"), {"id": run_id}
        ).scalar_one()
    assert count == 0
    assert coordinator.ok("GET", f"/api/rounds/{round_id}")["proposed"] == sum(
        p["status"] == "proposed" for p in earlier
    )


@pytest.mark.parametrize("stage", STAGES)
def test_exception_at_any_stage_fails_the_run_without_proposals(
    started: App, small_round: tuple[int, list[Record]], stage: str
) -> None:
    round_id, earlier = small_round
    reached: list[str] = []

    def explode(_: int, current: str) -> None:
        reached.append(current)
        if current == stage:
            raise RuntimeError(f"Stromausfall bei {stage}")

    started.app.state.runs.on_stage = explode
    run = started.coordinator.start_run(round_id)
    assert_failed_without_trace(started, round_id, run["id"], earlier, f"Stromausfall bei {stage}")
    assert reached[-1] == stage
    started.app.state.runs.on_stage = None
    started.coordinator.run(round_id)  # the next run is not blocked by the failed one


def test_exception_while_writing_proposals_rolls_the_write_back(
    started: App, small_round: tuple[int, list[Record]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old proposals are deleted and new ones flushed before the failure: all undone."""
    round_id, earlier = small_round
    real: Callable[..., dict[str, int]] = services.store_proposals

    def half_written(*args: Any, **kwargs: Any) -> dict[str, int]:
        real(*args, **kwargs)
        raise OSError("Platte voll beim Schreiben der Vorschläge")

    monkeypatch.setattr("api.runs.services.store_proposals", half_written)
    run = started.coordinator.start_run(round_id)
    assert_failed_without_trace(started, round_id, run["id"], earlier, "Platte voll")
