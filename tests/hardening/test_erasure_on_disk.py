"""Erasure leaves nothing readable: not in the tables, not in the files on disk.

After ``DELETE …/applicants/X`` the raw bytes of the SQLite file and its write-ahead log are
searched for the person's name, e-mail and a sentence of the motivation, the way ``strings``
would find them. Before the delete the same search has to find them (the test can see), after
it nothing. Stored run results lose the id, the audit log keeps the row id as pseudonym without
the reasons written about the person, and the access export lists the run results first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.hardening.conftest import App, Record

TARGET = "A-003"


def raw_files(started: App) -> dict[str, bytes]:
    """The database file and its WAL, byte for byte (a missing WAL reads as empty)."""
    database = Path(str(started.engine.url.database))
    return {
        name: path.read_bytes() if path.exists() else b""
        for name, path in (
            ("main", database),
            ("wal", database.with_name(database.name + "-wal")),
        )
    }


def secrets_of(applicant: Record) -> dict[str, bytes]:
    motivation: str = applicant["motivation"]
    sentence = motivation.split(". ")[1] if ". " in motivation else motivation[:60]
    return {
        "name": applicant["name"].encode(),
        "email": applicant["email"].encode(),
        "motivation sentence": sentence.encode(),
    }


def found_in_files(started: App, secrets: dict[str, bytes]) -> list[str]:
    return [
        f"{label} in {file}"
        for file, data in raw_files(started).items()
        for label, secret in secrets.items()
        if secret in data
    ]


def run_results(started: App) -> list[dict[str, Any]]:
    with started.engine.connect() as connection:
        rows = connection.execute(text("SELECT result FROM matchingrun")).scalars()
        return [row for row in rows if row]


def test_erasure_leaves_nothing_readable_in_database_or_wal(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    coordinator = started.coordinator
    applicants = sample_applicants[:12]
    target = next(a for a in applicants if a["id"] == TARGET)
    secrets = secrets_of(target)
    round_id = coordinator.new_round(sample_offers, applicants, name="Löschprobe")
    coordinator.run(round_id)
    [placement] = [p for p in coordinator.placements(round_id) if p["applicant_id"] == TARGET]
    coordinator.ok(
        "POST",
        f"/api/rounds/{round_id}/placements/{placement['id']}/confirm",
        json={"reason": f"Gespräch mit {target['name']} geführt"},
    )
    export = coordinator.ok("GET", f"/api/rounds/{round_id}/applicants/{TARGET}/personal-data")
    assert [e["applicant_id"] for e in export["run_results"][0]["proposals"]] == [TARGET]
    assert found_in_files(started, secrets), "the search cannot see the data it looks for"

    coordinator.ok("DELETE", f"/api/rounds/{round_id}/applicants/{TARGET}", 204)

    assert found_in_files(started, {**secrets, "reason": secrets["name"]}) == []
    assert TARGET.encode() not in b"".join(raw_files(started).values())
    assert all(TARGET not in str(result) for result in run_results(started))
    audit = coordinator.ok("GET", f"/api/rounds/{round_id}/audit")
    [confirmed] = [e for e in audit if e["placement_id"] == placement["id"]]
    assert confirmed["action"] == "confirm" and confirmed["reason"] is None
    assert audit[-1]["action"] == "delete_applicant"
    assert audit[-1]["applicant_id"] == confirmed["applicant_id"]  # the pseudonym stays


def test_access_export_lists_stored_run_results(
    started: App, sample_offers: list[Record], sample_applicants: list[Record]
) -> None:
    coordinator = started.coordinator
    applicants = sample_applicants[:12]
    round_id = coordinator.new_round(sample_offers, applicants, name="Auskunft")
    run = coordinator.run(round_id)
    for applicant in applicants:
        export = coordinator.ok(
            "GET", f"/api/rounds/{round_id}/applicants/{applicant['id']}/personal-data"
        )
        [entry] = export["run_results"]
        assert entry["run_id"] == run["id"]
        mentioned = [e for name in ("proposals", "pinned", "unplaced") for e in entry.get(name, [])]
        assert [e["applicant_id"] for e in mentioned] == [applicant["id"]]
