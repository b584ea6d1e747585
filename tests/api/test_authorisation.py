"""Who may call what: every route of the app against every kind of caller.

The table has one row per route (method and path). A route added to the app without a row here
fails ``test_table_covers_every_route``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.app import create_app
from api.settings import Settings
from matcher.rerank import MIN_DECISIONS_PER_CLASS
from models.tables import PlacementStatus, Role, RunStatus
from tests.api.conftest import Api, Record
from tests.support import bearer, to_csv

UNAUTHENTICATED = ("no token", "garbage token", "basic auth")
ROLES = (Role.COORDINATOR, Role.APPLICANT, Role.MENTOR)
#: The applicant and the offer the world's applicant and mentor tokens are bound to.
MY_APPLICANT, MY_OFFER = "A-003", "H-001"
#: Confirmed and rejected placements each that the re-ranker needs before it learns.
LEARN_FROM = MIN_DECISIONS_PER_CLASS


@dataclass(frozen=True)
class World:
    """A round of 12 applicants and every offer, with a token per role."""

    api: Api
    round_id: int
    tokens: dict[Role, str]
    offers: dict[str, Record]
    applicants: dict[str, Record]

    @property
    def base(self) -> str:
        return f"/api/rounds/{self.round_id}"

    def placement(self, status: PlacementStatus, offer_id: str = MY_OFFER) -> int:
        """A placement of A-001 (who fits H-001 and H-002) with this status."""
        return self.api.add_placement(self.round_id, "A-001", offer_id, status)

    def with_decisions(self, url: str) -> Call:
        """A POST to ``url`` once the round has enough decisions to learn from."""
        pairs = [(a, o) for a in list(self.applicants)[:12] for o in list(self.offers)[:6]]
        # One confirmed place per applicant (a unique index): confirm newly imported people.
        people = list(self.applicants.values())
        extra = [{**people[i % 12], "id": f"L-{i:03d}"} for i in range(LEARN_FROM)]
        self.api.ok("POST", f"{self.base}/import", 201, json={"applicants": extra})
        offers = list(self.offers)[:6]
        confirmed = [(a["id"], offers[i % len(offers)]) for i, a in enumerate(extra)]
        self.api.add_placements(self.round_id, confirmed, PlacementStatus.CONFIRMED)
        self.api.add_placements(self.round_id, pairs[-LEARN_FROM:], PlacementStatus.REJECTED)
        return Call("POST", url)

    def spare_account(self) -> int:
        """A mentor token nobody in the test uses, to revoke or re-issue."""
        account_id, _ = self.api.issue(Role.MENTOR, self.round_id, offer_ids=["H-002"])
        return account_id

    def new_offer(self) -> Record:
        return {**self.offers["H-001"], "id": "H-NEU"}

    def new_applicant(self) -> Record:
        return {**self.applicants["A-001"], "id": "A-NEU"}


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None

    def send(self, api: Api, headers: dict[str, str]) -> httpx.Response:
        return api.client.request(
            self.method, self.url, headers=headers, json=self.json, files=self.files
        )


@dataclass(frozen=True)
class Row:
    """The role a route admits (``None``: every role), its success status, a valid request."""

    role: Role | None
    status: int
    build: Callable[[World], Call] = field(repr=False)


def placement_call(action: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        return Call("POST", f"{w.base}/placements/{w.placement(PlacementStatus.PROPOSED)}/{action}")

    return build


def ending_call(action: str) -> Callable[[World], Call]:
    """Withdraw or release a confirmed placement, with the reason they need."""

    def build(w: World) -> Call:
        placement = w.placement(PlacementStatus.CONFIRMED)
        return Call("POST", f"{w.base}/placements/{placement}/{action}", {"reason": "Test"})

    return build


def mentor_call(action: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        return Call("POST", f"/api/mentor/guests/{w.placement(PlacementStatus.CONFIRMED)}/{action}")

    return build


C, A, M = Role.COORDINATOR, Role.APPLICANT, Role.MENTOR
R = "/api/rounds/{round_id}"
CALL_OPEN = {"applications_until": "2099-01-01T00:00:00Z"}


def with_open_call(method: str, suffix: str) -> Callable[[World], Call]:
    """A call-for-applications route of a round whose call is open."""

    def build(w: World) -> Call:
        w.api.ok("PUT", f"{w.base}/call", json=CALL_OPEN)
        return Call(method, f"{w.base}{suffix}")

    return build


def pending_by_address(action: str) -> Callable[[World], Call]:
    """An unconfirmed-applications request (access or erasure) of a round with an open call."""

    def build(w: World) -> Call:
        w.api.ok("PUT", f"{w.base}/call", json=CALL_OPEN)
        return Call("POST", f"{w.base}/call/pending/{action}", {"email": "x@example.org"})

    return build


def change_my_offer(w: World) -> Call:
    """Change the mentor's offer while the round's call takes offers."""
    w.api.ok("PUT", f"{w.base}/call", json=CALL_OPEN | {"offers_until": "2099-01-01T00:00:00Z"})
    return Call("PUT", f"/api/mentor/offers/{MY_OFFER}", {**w.offers[MY_OFFER], "capacity": 3})


def change_my_application(w: World) -> Call:
    """Change the applicant's application while the round's call is open."""
    w.api.ok("PUT", f"{w.base}/call", json=CALL_OPEN)
    mine = {k: v for k, v in w.applicants[MY_APPLICANT].items() if k != "id"}
    return Call("PUT", "/api/me/application", {**mine, "weeks_wanted": 4})


ROUTES: dict[tuple[str, str], Row] = {
    ("POST", "/api/accounts"): Row(
        C,
        201,
        lambda w: Call(
            "POST",
            "/api/accounts",
            json={"role": "mentor", "label": "M", "round_id": w.round_id, "offer_ids": ["H-002"]},
        ),
    ),
    ("GET", "/api/accounts/me"): Row(None, 200, lambda w: Call("GET", "/api/accounts/me")),
    ("GET", "/api/me/suggestions"): Row(A, 200, lambda w: Call("GET", "/api/me/suggestions")),
    ("PUT", "/api/me/explanation-language"): Row(
        A, 200, lambda w: Call("PUT", "/api/me/explanation-language", {"language": "en"})
    ),
    ("GET", "/api/me/application"): Row(A, 200, lambda w: Call("GET", "/api/me/application")),
    ("PUT", "/api/me/application"): Row(A, 200, change_my_application),
    ("DELETE", "/api/me/application"): Row(A, 204, lambda w: Call("DELETE", "/api/me/application")),
    ("PUT", f"{R}/call"): Row(C, 200, lambda w: Call("PUT", f"{w.base}/call", CALL_OPEN)),
    ("GET", f"{R}/call"): Row(C, 200, with_open_call("GET", "/call")),
    ("POST", f"{R}/call/close"): Row(C, 200, with_open_call("POST", "/call/close")),
    ("POST", f"{R}/call/pending/personal-data"): Row(C, 200, pending_by_address("personal-data")),
    ("POST", f"{R}/call/pending/erase"): Row(C, 200, pending_by_address("erase")),
    ("GET", "/api/mentor/guests"): Row(M, 200, lambda w: Call("GET", "/api/mentor/guests")),
    ("GET", "/api/mentor/offers"): Row(M, 200, lambda w: Call("GET", "/api/mentor/offers")),
    ("PUT", "/api/mentor/offers/{offer_id}"): Row(M, 200, change_my_offer),
    ("POST", "/api/mentor/guests/{placement_id}/accept"): Row(M, 200, mentor_call("accept")),
    ("POST", "/api/mentor/guests/{placement_id}/decline"): Row(M, 200, mentor_call("decline")),
    ("GET", "/api/rounds"): Row(C, 200, lambda w: Call("GET", "/api/rounds")),
    ("POST", "/api/rounds"): Row(C, 201, lambda w: Call("POST", "/api/rounds", {"name": "Neu"})),
    ("GET", R): Row(C, 200, lambda w: Call("GET", w.base)),
    ("PATCH", R): Row(C, 200, lambda w: Call("PATCH", w.base, {"status": "matching"})),
    ("POST", f"{R}/import"): Row(
        C,
        201,
        lambda w: Call(
            "POST",
            f"{w.base}/import",
            {"offers": [w.new_offer()], "applicants": [w.new_applicant()]},
        ),
    ),
    ("POST", f"{R}/import/csv"): Row(
        C,
        201,
        lambda w: Call(
            "POST",
            f"{w.base}/import/csv",
            files={
                "offers": ("offers.csv", to_csv([w.new_offer()]), "text/csv"),
                "applicants": ("applicants.csv", to_csv([w.new_applicant()]), "text/csv"),
            },
        ),
    ),
    ("GET", f"{R}/export.{{fmt}}"): Row(C, 200, lambda w: Call("GET", f"{w.base}/export.xlsx")),
    ("GET", "/api/templates/{kind}.{fmt}"): Row(
        C, 200, lambda w: Call("GET", "/api/templates/offers.csv")
    ),
    ("GET", "/api/templates/{kind}/fields"): Row(
        C, 200, lambda w: Call("GET", "/api/templates/applicants/fields")
    ),
    ("GET", f"{R}/audit"): Row(C, 200, lambda w: Call("GET", f"{w.base}/audit")),
    ("GET", f"{R}/audit.csv"): Row(C, 200, lambda w: Call("GET", f"{w.base}/audit.csv")),
    ("GET", "/api/audit"): Row(C, 200, lambda w: Call("GET", "/api/audit")),
    ("PATCH", f"{R}/settings"): Row(
        C, 200, lambda w: Call("PATCH", f"{w.base}/settings", {"min_strength": "schwach"})
    ),
    ("GET", "/api/accounts"): Row(C, 200, lambda w: Call("GET", "/api/accounts")),
    ("POST", "/api/accounts/{account_id}/revoke"): Row(
        C, 200, lambda w: Call("POST", f"/api/accounts/{w.spare_account()}/revoke")
    ),
    ("POST", "/api/accounts/{account_id}/reissue"): Row(
        C, 200, lambda w: Call("POST", f"/api/accounts/{w.spare_account()}/reissue")
    ),
    ("GET", f"{R}/offers"): Row(C, 200, lambda w: Call("GET", f"{w.base}/offers")),
    ("POST", f"{R}/offers"): Row(C, 201, lambda w: Call("POST", f"{w.base}/offers", w.new_offer())),
    ("GET", f"{R}/offers/{{offer_id}}"): Row(
        C, 200, lambda w: Call("GET", f"{w.base}/offers/H-001")
    ),
    ("PUT", f"{R}/offers/{{offer_id}}"): Row(
        C,
        200,
        lambda w: Call("PUT", f"{w.base}/offers/H-001", {**w.offers["H-001"], "capacity": 3}),
    ),
    ("DELETE", f"{R}/offers/{{offer_id}}"): Row(
        C, 204, lambda w: Call("DELETE", f"{w.base}/offers/H-002")
    ),
    ("GET", f"{R}/offers/{{offer_id}}/candidates"): Row(
        C, 200, lambda w: Call("GET", f"{w.base}/offers/H-001/candidates")
    ),
    ("GET", f"{R}/applicants"): Row(C, 200, lambda w: Call("GET", f"{w.base}/applicants")),
    ("POST", f"{R}/applicants"): Row(
        C, 201, lambda w: Call("POST", f"{w.base}/applicants", w.new_applicant())
    ),
    ("GET", f"{R}/applicants/{{applicant_id}}"): Row(
        C, 200, lambda w: Call("GET", f"{w.base}/applicants/A-001")
    ),
    ("PUT", f"{R}/applicants/{{applicant_id}}"): Row(
        C,
        200,
        lambda w: Call(
            "PUT", f"{w.base}/applicants/A-001", {**w.applicants["A-001"], "weeks_wanted": 4}
        ),
    ),
    ("DELETE", f"{R}/applicants/{{applicant_id}}"): Row(
        C, 204, lambda w: Call("DELETE", f"{w.base}/applicants/A-002")
    ),
    ("GET", f"{R}/applicants/{{applicant_id}}/personal-data"): Row(
        C, 200, lambda w: Call("GET", f"{w.base}/applicants/A-001/personal-data")
    ),
    ("GET", f"{R}/applicants/{{applicant_id}}/shortlist"): Row(
        C, 200, lambda w: Call("GET", f"{w.base}/applicants/A-001/shortlist")
    ),
    ("GET", f"{R}/placements"): Row(C, 200, lambda w: Call("GET", f"{w.base}/placements")),
    ("POST", f"{R}/placements"): Row(
        C,
        201,
        lambda w: Call(
            "POST", f"{w.base}/placements", {"applicant_id": "A-001", "offer_id": "H-001"}
        ),
    ),
    ("POST", f"{R}/placements/{{placement_id}}/confirm"): Row(C, 200, placement_call("confirm")),
    ("POST", f"{R}/placements/{{placement_id}}/reject"): Row(C, 200, placement_call("reject")),
    ("POST", f"{R}/placements/{{placement_id}}/withdraw"): Row(C, 200, ending_call("withdraw")),
    ("POST", f"{R}/placements/{{placement_id}}/release"): Row(C, 200, ending_call("release")),
    ("GET", f"{R}/todo"): Row(C, 200, lambda w: Call("GET", f"{w.base}/todo")),
    ("POST", f"{R}/decisions"): Row(
        C,
        200,
        lambda w: Call(
            "POST",
            f"{w.base}/decisions",
            {
                "decisions": [
                    {"placement_id": w.placement(PlacementStatus.PROPOSED), "decision": "confirm"}
                ]
            },
        ),
    ),
    ("GET", f"{R}/ranker"): Row(C, 200, lambda w: Call("GET", f"{w.base}/ranker")),
    ("PATCH", f"{R}/ranker"): Row(
        C, 200, lambda w: Call("PATCH", f"{w.base}/ranker", {"enabled": False})
    ),
    ("POST", f"{R}/ranker/learn"): Row(
        C, 201, lambda w: w.with_decisions(f"{w.base}/ranker/learn")
    ),
    ("GET", f"{R}/runs"): Row(C, 200, lambda w: Call("GET", f"{w.base}/runs")),
    ("POST", f"{R}/runs"): Row(
        C, 202, lambda w: Call("POST", f"{w.base}/runs", {"mode": "max-fit"})
    ),
    ("GET", f"{R}/runs/{{run_id}}"): Row(
        C,
        200,
        lambda w: Call("GET", f"{w.base}/runs/{w.api.add_run(w.round_id, RunStatus.DONE)}"),
    ),
    ("POST", f"{R}/runs/{{run_id}}/cancel"): Row(
        C,
        200,
        lambda w: Call(
            "POST", f"{w.base}/runs/{w.api.add_run(w.round_id, RunStatus.QUEUED)}/cancel"
        ),
    ),
}


@pytest.fixture
def world(
    api: Api, api_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> World:
    _, applicant_token = api.issue(Role.APPLICANT, api_round, applicant_id=MY_APPLICANT)
    _, mentor_token = api.issue(Role.MENTOR, api_round, offer_ids=[MY_OFFER])
    return World(
        api=api,
        round_id=api_round,
        tokens={C: api.coordinator_token, A: applicant_token, M: mentor_token},
        offers={o["id"]: o for o in offers_data},
        applicants={a["id"]: a for a in applicants_data},
    )


def app_routes(app: FastAPI) -> list[tuple[BaseRoute, str]]:
    """Every route with its full path, also those of included routers."""
    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:  # FastAPI versions that copy included routes into app.routes
        return [(route, getattr(route, "path", "")) for route in app.routes]
    return [  # {applicant_id:record_id} → {applicant_id}, as the API documents it
        (context.original_route, re.sub(r"\{(\w+):\w+\}", r"{\1}", context.path or ""))
        for context in iterate(app.routes)
    ]


def test_table_covers_every_route(api_settings: Settings) -> None:
    app = create_app(api_settings)  # routes only: without the lifespan no model is loaded
    routes = {
        (method, path)
        for route, path in app_routes(app)
        if isinstance(route, APIRoute) and path.startswith("/api/")
        for method in route.methods
    } - {("GET", "/api/health"), ("GET", "/api/health/live"), ("GET", "/api/health/ready")}
    routes = {(method, path) for method, path in routes if not path.startswith("/api/public/")}
    assert len(routes) > 30
    assert set(ROUTES) == routes


def unauthenticated_headers(kind: str) -> dict[str, str]:
    return {
        "no token": {},
        "garbage token": bearer("kein-gueltiges-token-" + "x" * 30),
        "basic auth": {"Authorization": "Basic a29vcmRpbmF0aW9uOmdlaGVpbQ=="},
    }[kind]


@pytest.mark.parametrize("route", sorted(ROUTES), ids=" ".join)
def test_every_route_admits_only_its_role(world: World, route: tuple[str, str]) -> None:
    row = ROUTES[route]
    call = row.build(world)
    before = world.api.counts()
    for kind in UNAUTHENTICATED:
        response = call.send(world.api, unauthenticated_headers(kind))
        assert response.status_code == 401, (kind, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]
    for role in ROLES:
        if row.role is not None and role is not row.role:
            response = call.send(world.api, bearer(world.tokens[role]))
            assert response.status_code == 403, (role, response.text)
            assert "www-authenticate" not in response.headers
    assert world.api.counts() == before, "a refused request changed the database"

    for role in ROLES if row.role is None else (row.role,):
        response = call.send(world.api, bearer(world.tokens[role]))
        assert response.status_code == row.status, (role, response.text)
    for run in world.api.ok("GET", f"{world.base}/runs"):  # let a started run end here
        world.api.wait_run(world.round_id, run["id"])


def test_applicant_token_reads_nothing_of_other_applicants(world: World) -> None:
    token = world.tokens[A]
    for url in (
        f"{world.base}/applicants",
        f"{world.base}/applicants/A-004",
        f"{world.base}/applicants/A-004/shortlist",
        f"{world.base}/applicants/A-004/personal-data",
        f"{world.base}/applicants/{MY_APPLICANT}",
        f"{world.base}/placements",
        f"{world.base}/export.csv",
        f"{world.base}/audit",
        f"{world.base}/offers/H-001/candidates",
        "/api/mentor/guests",
    ):
        response = world.api.get(url, token=token)
        assert response.status_code == 403, url
        assert "A-004" not in response.text
    minted = world.api.post(
        "/api/accounts",
        token=token,
        json={
            "role": "applicant",
            "label": "x",
            "round_id": world.round_id,
            "applicant_id": "A-004",
        },
    )
    assert minted.status_code == 403


def test_mentor_cannot_decide_on_another_mentors_placement(world: World) -> None:
    mine = world.placement(PlacementStatus.CONFIRMED, MY_OFFER)
    theirs = world.api.add_placement(world.round_id, "A-002", "H-002", PlacementStatus.CONFIRMED)
    _, other_token = world.api.issue(Role.MENTOR, world.round_id, offer_ids=["H-002"])
    token = world.tokens[M]
    for action in ("accept", "decline"):
        response = world.api.post(f"/api/mentor/guests/{theirs}/{action}", token=token)
        assert response.status_code == 404, action
    guests = world.api.ok("GET", "/api/mentor/guests", token=token)
    assert [g["placement_id"] for g in guests] == [mine]
    decisions = {p["id"]: p["mentor_decision"] for p in world.api.placements(world.round_id)}
    assert decisions[theirs] is None
    world.api.ok("POST", f"/api/mentor/guests/{theirs}/decline", token=other_token)
    assert world.api.post(f"/api/mentor/guests/{mine}/accept", token=other_token).status_code == 404


def test_token_of_a_deleted_applicant_stops_working(world: World) -> None:
    token = world.tokens[A]
    assert world.api.get("/api/me/suggestions", token=token).status_code == 200
    deleted = world.api.request("DELETE", f"{world.base}/applicants/{MY_APPLICANT}")
    assert deleted.status_code == 204
    response = world.api.get("/api/me/suggestions", token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_accounts_me_describes_the_token(world: World) -> None:
    me = world.api.ok("GET", "/api/accounts/me", token=world.tokens[A])
    assert (me["role"], me["round_id"], me["applicant_id"]) == (
        "applicant",
        world.round_id,
        MY_APPLICANT,
    )
    mentor = world.api.ok("GET", "/api/accounts/me", token=world.tokens[M])
    assert (mentor["role"], mentor["offer_ids"]) == ("mentor", [MY_OFFER])
    coordinator = world.api.ok("GET", "/api/accounts/me")
    assert (coordinator["role"], coordinator["id"]) == ("coordinator", world.api.coordinator_id)
