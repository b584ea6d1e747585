"""What operators see: request ids on 500s, logs without request data, health, offline docs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlalchemy import text

from api.app import create_app
from api.settings import Settings

SECRET = "Erika Mustermann, erika@example.org"


@pytest.fixture
def app(tmp_path: pytest.TempPathFactory, model: SentenceTransformer) -> FastAPI:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/ops.db"), model=model)

    def fails(name: str) -> None:
        """A bug whose message and locals carry personal data, raised from a chain."""
        applicant = {"name": name, "secret": SECRET}
        try:
            raise KeyError(applicant["secret"])
        except KeyError as error:
            raise RuntimeError(f"kaputt bei {applicant}") from error

    app.add_api_route("/api/kaputt", fails, methods=["GET"])
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:  # raise_server_exceptions: an escaping error fails here
        yield client


def test_a_500_carries_a_request_id_and_the_log_has_type_and_stack_only(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = client.get("/api/kaputt", params={"name": SECRET})
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert request_id in response.json()["detail"]
    assert SECRET not in response.text
    [record] = [r for r in caplog.records if request_id in r.getMessage()]
    logged = record.getMessage()
    assert "builtins.RuntimeError" in logged and "builtins.KeyError" in logged
    assert "test_operations.py" in logged and "in fails" in logged  # the stack frames
    assert "/api/kaputt" in logged
    assert record.exc_info is None  # no formatter may append the message after all
    assert "Erika" not in logged and "erika@" not in logged


def test_every_response_has_its_own_request_id(client: TestClient) -> None:
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/api/health", "/nirgends") * 3}
    assert len(ids) == 6


def test_health_live_and_ready(client: TestClient) -> None:
    assert client.get("/api/health/live").json() == {"status": "ok"}
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/api/health/ready").json() == {"status": "ready"}


def test_not_ready_when_the_schema_is_not_the_newest(client: TestClient, app: FastAPI) -> None:
    assert client.get("/api/health/ready").status_code == 200
    with app.state.engine.begin() as connection:  # as if another build had migrated it
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = client.get("/api/health/ready")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "nicht aktuell" in detail and "0001" in detail and "matcher db upgrade" in detail
    assert client.get("/api/health/live").status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_everything_from_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html)
    assert len(assets) >= 2, html
    for asset in assets:
        loaded = client.get(asset)
        assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
    assert client.get("/openapi.json").status_code == 200
