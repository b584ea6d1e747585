"""Inputs one backend stores and the other refuses end as input errors, never as a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def test_a_nul_character_is_refused_as_input_error(api: Api, backend: str) -> None:
    # Refused by the text rule before any database sees it (PostgreSQL's text has no NUL).
    response = api.post("/api/rounds", json={"name": "Runde\x00 2027"})
    assert response.status_code == 422, response.text
    assert "U+0000" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("row_id", [2**31, 2**63 - 1])
def test_ids_beyond_a_32_bit_key_are_input_errors(api: Api, row_id: int) -> None:
    response = api.get(f"/api/rounds/{row_id}")
    assert response.status_code == 422, response.text
