"""A write that fails halfway through a multi-row operation leaves nothing of it behind.

Validation errors are refused before anything is written; these tests make the database itself
fail after the first rows of an operation were written (as a full disk or a dropped connection
would), on both backends: an import, a run's proposals, bulk decisions. A commit between the
parts of one operation (say, offers stored before applicants) would leave rows behind here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from models.tables import PlacementStatus
from tests.api.conftest import Api, Record
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@contextmanager
def failing_writes(
    engine: Engine, table: str, *, after: int, naming: str = ""
) -> Iterator[list[str]]:
    """Let ``after`` INSERTs/UPDATEs into ``table`` (that mention ``naming``) through, then fail
    every further one.

    Raises the driver's own OperationalError, so the code under test sees what a real fault
    looks like. Yields the statements that were let through.
    """
    passed: list[str] = []
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        target = (words[2] if verb == "INSERT" else words[1] if verb == "UPDATE" else "").strip('"')
        if verb in {"INSERT", "UPDATE"} and target == table and naming in statement:
            if len(passed) >= after:
                raise dbapi_error("injected fault: disk full")
            passed.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield passed
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_an_import_failing_after_its_offers_stores_nothing(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round()
    before = api.counts()
    body = {"offers": offers_data[:5], "applicants": applicants_data[:5]}
    with failing_writes(api.engine, "applicant", after=0) as passed:
        response = api.post(f"/api/rounds/{round_id}/import", json=body)
    assert response.status_code == 503, response.text
    assert passed == []  # the fault hit the first applicant, after the offers were written
    assert api.counts() == before
    assert api.ok("GET", f"/api/rounds/{round_id}/offers") == []


def test_a_run_failing_after_its_proposals_stores_none(api: Api, api_round: int) -> None:
    before = api.placements(api_round)
    # The proposals are inserted (one statement per batch), then the run's result is written in
    # the same transaction: that write fails.
    with failing_writes(api.engine, "matchingrun", after=0, naming="result="):
        run = api.wait_run(api_round, api.start_run(api_round)["id"])
    assert run["status"] == "failed", run
    assert api.placements(api_round) == before
    # The next run, without the fault, proposes as usual.
    assert api.run(api_round)["status"] == "done"
    assert api.placements(api_round, "proposed")


def test_bulk_decisions_failing_after_the_first_change_none(api: Api, api_round: int) -> None:
    api.run(api_round)
    proposals = api.placements(api_round, "proposed")[:3]
    assert len(proposals) == 3
    decisions = [{"placement_id": p["id"], "decision": "reject"} for p in proposals]
    with failing_writes(api.engine, "placement", after=1) as passed:
        response = api.post(f"/api/rounds/{api_round}/decisions", json={"decisions": decisions})
    assert len(passed) == 1
    assert response.status_code == 503, response.text
    statuses = {p["id"]: p["status"] for p in api.placements(api_round)}
    assert [statuses[p["id"]] for p in proposals] == [PlacementStatus.PROPOSED.value] * 3
