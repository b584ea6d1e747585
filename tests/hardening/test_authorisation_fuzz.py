"""Every route against every caller it is not meant for, enumerated from ``app.routes``.

Callers: a coordinator, an applicant, another applicant of the same round, an applicant of
another round, a mentor, another mentor (bound to a different offer), and nobody. A route that
belongs to someone else must refuse (401/403/404, never 2xx) and change nothing; the views meant
for an applicant or a mentor must hold nothing of other people: no other applicant's id, name
or e-mail, no ids of placements outside the mentor's offers. A hypothesis test then mixes
routes, callers and ids (including other people's) at random.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentence_transformers import SentenceTransformer
from sqlmodel import Session

from api import services
from api.app import create_app
from api.settings import Settings
from models import crud
from models.tables import MatchingRun, PlacementCreate, PlacementStatus, Role, RunStatus
from tests.hardening.conftest import (
    App,
    HttpClient,
    HttpResponse,
    Record,
    api_routes,
    leaks,
    personal_strings,
)
from tests.support import bearer, copy_seed, to_csv

ME, OTHER = "A-003", "A-004"
MY_OFFER, OTHER_OFFER = "H-001", "H-002"
APPLICANT_ID = re.compile(r"\bA-\d{3}\b")


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    role: Role | None
    applicant_id: str | None = None
    offer_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlacementFact:
    id: int
    applicant_id: str
    offer_id: str
    status: PlacementStatus


@dataclass(frozen=True)
class ClosedRound:
    """A round closed after set-up, with a confirmed and a proposed placement and a mentor."""

    round_id: int
    confirmed: int
    proposed: int
    run_id: int
    mentor: Caller


@dataclass
class World:
    app: App
    round_id: int
    other_round: int
    callers: dict[str, Caller]
    placements: dict[int, PlacementFact]
    run_id: int
    applicants: list[Record]
    offers: dict[str, Record]
    closed: ClosedRound

    @property
    def mine(self) -> int:
        """The confirmed placement of ME on MY_OFFER."""
        return next(
            p.id
            for p in self.placements.values()
            if (p.applicant_id, p.offer_id, p.status) == (ME, MY_OFFER, PlacementStatus.CONFIRMED)
        )

    def fingerprint(
        self, round_id: int | None = None
    ) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
        """Row counts and every placement's decision state: what a refused call must not change."""
        with Session(self.app.engine) as session:
            rows = [
                (p.id, p.status, p.mentor_decision, p.mentor_reason, p.decided_by)
                for p in crud.list_placements(
                    session=session, round_id=self.round_id if round_id is None else round_id
                )
            ]
        return self.app.counts(), rows


def place(
    session: Session, round_id: int, applicant: str, offer: str, status: PlacementStatus
) -> int:
    a = services.require_applicant(session, round_id, applicant)
    o = services.require_offer(session, round_id, offer)
    row = crud.add_placements(
        session=session,
        round_id=round_id,
        placements=[
            PlacementCreate(
                applicant_id=services.row_id(a.id),
                offer_id=services.row_id(o.id),
                status=status,
                score=0.5,
            )
        ],
    )[0]
    session.flush()
    return services.row_id(row.id)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    seed_database: Any,
    model: SentenceTransformer,
    sample_offers: list[Record],
    sample_applicants: list[Record],
) -> Iterator[World]:
    url = copy_seed(seed_database, tmp_path_factory.mktemp("authz") / "api.db")
    with TestClient(create_app(Settings(database_url=url), model=model)) as client:
        app = App(client)
        coordinator = app.coordinator
        applicants = sample_applicants[:16]
        round_id = coordinator.new_round(sample_offers, applicants[:12], name="Eigene")
        other_round = coordinator.new_round(sample_offers[:5], applicants[12:], name="Fremde")
        layout = [
            (ME, MY_OFFER, PlacementStatus.CONFIRMED),
            ("A-001", MY_OFFER, PlacementStatus.PROPOSED),
            ("A-005", MY_OFFER, PlacementStatus.REJECTED),
            (OTHER, OTHER_OFFER, PlacementStatus.CONFIRMED),
            ("A-002", OTHER_OFFER, PlacementStatus.PROPOSED),
            ("A-006", "H-003", PlacementStatus.CONFIRMED),
            (ME, "H-004", PlacementStatus.REJECTED),
        ]
        with Session(app.engine) as session:
            placements = {
                pid: PlacementFact(pid, a, o, s)
                for a, o, s in layout
                for pid in [place(session, round_id, a, o, s)]
            }
            run = MatchingRun(
                round_id=round_id, mode="max-fit", status=RunStatus.DONE, created_by="t"
            )
            session.add(run)
            session.commit()
            run_id = services.row_id(run.id)
        callers = [
            Caller("coordinator", coordinator.token, Role.COORDINATOR),
            Caller(
                "applicant",
                coordinator.issue(Role.APPLICANT, round_id, applicant_id=ME),
                Role.APPLICANT,
                ME,
            ),
            Caller(
                "other applicant",
                coordinator.issue(Role.APPLICANT, round_id, applicant_id=OTHER),
                Role.APPLICANT,
                OTHER,
            ),
            Caller(
                "applicant of another round",
                coordinator.issue(Role.APPLICANT, other_round, applicant_id=applicants[12]["id"]),
                Role.APPLICANT,
                applicants[12]["id"],
            ),
            Caller(
                "mentor",
                coordinator.issue(Role.MENTOR, round_id, offer_ids=[MY_OFFER]),
                Role.MENTOR,
                offer_ids=(MY_OFFER,),
            ),
            Caller(
                "other mentor",
                coordinator.issue(Role.MENTOR, round_id, offer_ids=[OTHER_OFFER]),
                Role.MENTOR,
                offer_ids=(OTHER_OFFER,),
            ),
            Caller("nobody", None, None),
        ]
        closed_id = coordinator.new_round(sample_offers, applicants[:12], name="Geschlossen")
        with Session(app.engine) as session:
            closed_confirmed = place(session, closed_id, ME, MY_OFFER, PlacementStatus.CONFIRMED)
            closed_proposed = place(session, closed_id, "A-001", MY_OFFER, PlacementStatus.PROPOSED)
            closed_run = MatchingRun(
                round_id=closed_id, mode="max-fit", status=RunStatus.DONE, created_by="t"
            )
            session.add(closed_run)
            session.commit()
            closed_run_id = services.row_id(closed_run.id)
        closed_mentor = Caller(
            "mentor of the closed round",
            coordinator.issue(Role.MENTOR, closed_id, offer_ids=[MY_OFFER]),
            Role.MENTOR,
            offer_ids=(MY_OFFER,),
        )
        closing = {"status": "closed", "reject_pending": True}
        coordinator.ok("PATCH", f"/api/rounds/{closed_id}", json=closing)
        yield World(
            app=app,
            closed=ClosedRound(
                closed_id, closed_confirmed, closed_proposed, closed_run_id, closed_mentor
            ),
            round_id=round_id,
            other_round=other_round,
            callers={c.name: c for c in callers},
            placements=placements,
            run_id=run_id,
            applicants=applicants,
            offers={o["id"]: o for o in sample_offers},
        )


# --- routes -------------------------------------------------------------------------------------


#: Building the app loads no model and opens no database (that happens in its lifespan).
ROUTES = api_routes(create_app(Settings(database_url="sqlite://")))


def owner_of(path: str) -> str:
    """Who a route serves, by the README's table: me/, mentor/, accounts/me, the rest."""
    if path.startswith("/api/me/"):
        return "applicant"
    if path.startswith("/api/mentor/"):
        return "mentor"
    if path == "/api/accounts/me":
        return "anyone"
    return "coordinator"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None

    def send(self, client: HttpClient, caller: Caller) -> HttpResponse:
        headers = bearer(caller.token) if caller.token else {}
        return client.request(
            self.method, self.url, headers=headers, json=self.json, files=self.files
        )


def body_for(w: World, method: str, path: str, placement_id: int) -> dict[str, Any]:
    """A request body the route would accept from its owner (so refusals are about the caller).

    ``{"json": ..., "files": ...}``; a route missing from the table gets ``{}`` and the marker
    ``"unknown"`` (routes added later are still enumerated and tested).
    """
    new_offer = {**w.offers[MY_OFFER], "id": "H-NEU"}
    new_applicant = {**w.applicants[0], "id": "A-NEU"}
    if method in {"GET", "DELETE"}:
        return {}
    known: dict[str, dict[str, Any]] = {
        "/api/rounds": {"json": {"name": "Übernahme"}},
        "/api/rounds/{round_id}": {"json": {"status": "closed"}},
        "/api/rounds/{round_id}/import": {"json": {"offers": [new_offer], "applicants": []}},
        "/api/rounds/{round_id}/import/csv": {
            "files": {"applicants": ("a.csv", to_csv([new_applicant]), "text/csv")}
        },
        "/api/rounds/{round_id}/offers": {"json": new_offer},
        "/api/rounds/{round_id}/offers/{offer_id}": {"json": {**w.offers[MY_OFFER], "capacity": 0}},
        "/api/rounds/{round_id}/applicants": {"json": new_applicant},
        "/api/rounds/{round_id}/applicants/{applicant_id}": {
            "json": {**w.applicants[2], "weeks_wanted": 1}
        },
        "/api/rounds/{round_id}/placements": {
            "json": {"applicant_id": "A-007", "offer_id": MY_OFFER}
        },
        "/api/rounds/{round_id}/placements/{placement_id}/withdraw": {"json": {"reason": "x"}},
        "/api/rounds/{round_id}/placements/{placement_id}/release": {"json": {"reason": "x"}},
        "/api/rounds/{round_id}/decisions": {
            "json": {"decisions": [{"placement_id": placement_id, "decision": "reject"}]}
        },
        "/api/rounds/{round_id}/runs": {"json": {"mode": "max-fit"}},
        "/api/rounds/{round_id}/ranker": {"json": {"enabled": True}},
        "/api/mentor/guests/{placement_id}/accept": {"json": {"reason": "Gern"}},
        "/api/mentor/guests/{placement_id}/decline": {"json": {"reason": "Kein Platz"}},
        "/api/accounts": {"json": {"role": "coordinator", "label": "Übernahme"}},
    }
    return known.get(path, {"json": {}, "unknown": True})


def build(
    w: World,
    method: str,
    path: str,
    *,
    round_id: int | None = None,
    placement_id: int | None = None,
    applicant_id: str = ME,
    offer_id: str = MY_OFFER,
    run_id: int | None = None,
) -> Request:
    placement = w.mine if placement_id is None else placement_id
    values = {
        "round_id": w.round_id if round_id is None else round_id,
        "placement_id": placement,
        "applicant_id": applicant_id,
        "offer_id": offer_id,
        "run_id": w.run_id if run_id is None else run_id,
    }
    url = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)
    body = body_for(w, method, path, placement)
    return Request(method, url, json=body.get("json"), files=body.get("files"))


def refusers(path: str, callers: dict[str, Caller]) -> list[Caller]:
    """Callers a route must refuse when it targets ME / MY_OFFER / my placement."""
    owner = owner_of(path)
    refused = [callers["nobody"]]
    if owner == "coordinator":
        refused += [c for c in callers.values() if c.role not in {Role.COORDINATOR, None}]
    elif owner == "applicant":
        refused += [c for c in callers.values() if c.role in {Role.COORDINATOR, Role.MENTOR}]
    elif owner == "mentor":
        refused += [c for c in callers.values() if c.role in {Role.COORDINATOR, Role.APPLICANT}]
        if "{placement_id}" in path:
            refused.append(callers["other mentor"])
    return refused


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[" ".join(r) for r in ROUTES])
def test_route_refuses_everyone_it_does_not_belong_to(world: World, method: str, path: str) -> None:
    request = build(world, method, path)
    before = world.fingerprint()
    for caller in refusers(path, world.callers):
        response = request.send(world.app.client, caller)
        assert response.status_code in {401, 403, 404}, (
            caller.name,
            response.status_code,
            response.text[:300],
        )
        if caller.token is None:
            assert response.status_code == 401
        assert world.fingerprint() == before, f"a refused call by {caller.name} changed data"


#: Writes a closed round still admits. Erasure: a person's right to have their data deleted does
#: not end with the round (README: deleting an application removes its placements and tokens).
CLOSED_ROUND_EXCEPTIONS = {("DELETE", "/api/rounds/{round_id}/applicants/{applicant_id}")}
WRITES = [
    (method, path)
    for method, path in ROUTES
    if method in {"POST", "PUT", "PATCH", "DELETE"}
    and ("{round_id}" in path or path.startswith("/api/mentor/guests/"))
    and (method, path) not in CLOSED_ROUND_EXCEPTIONS
]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[" ".join(r) for r in WRITES])
def test_closed_round_refuses_every_write(world: World, method: str, path: str) -> None:
    """README: a round's status goes open → matching → closed, and closed is read-only."""
    closed = world.closed
    mentor_route = owner_of(path) == "mentor"
    placement = closed.confirmed if mentor_route else closed.proposed
    request = build(
        world,
        method,
        path,
        round_id=closed.round_id,
        placement_id=placement,
        run_id=closed.run_id,
    )
    if path == "/api/rounds/{round_id}":
        request = Request(method, request.url, json={"status": "open"})
    # A route this table has no valid body for may stop at validation: still nothing written.
    allowed = {409, 422} if body_for(world, method, path, placement).get("unknown") else {409}
    caller = closed.mentor if mentor_route else world.callers["coordinator"]
    before = world.fingerprint(closed.round_id)
    response = request.send(world.app.client, caller)
    assert response.status_code in allowed, (caller.name, response.status_code, response.text[:300])
    assert world.fingerprint(closed.round_id) == before


def test_every_route_has_an_owner_and_a_refused_caller() -> None:
    """A new route is covered automatically; this pins that the enumeration found routes."""
    assert len(ROUTES) >= 30
    owners = {owner_of(path) for _, path in ROUTES}
    assert owners == {"coordinator", "applicant", "mentor", "anyone"}


# --- what applicants and mentors see ------------------------------------------------------------


def foreign_applicants(w: World, allowed: set[str]) -> list[Record]:
    return [a for a in w.applicants if a["id"] not in allowed]


def assert_nothing_of(w: World, body: str, allowed_applicants: set[str]) -> None:
    others = foreign_applicants(w, allowed_applicants)
    assert leaks(body, personal_strings(others)) == []
    seen_ids = set(APPLICANT_ID.findall(body))
    assert seen_ids <= allowed_applicants, f"other applicants' ids: {seen_ids - allowed_applicants}"


@pytest.mark.parametrize("name", ["applicant", "other applicant", "applicant of another round"])
def test_applicant_views_hold_nothing_of_other_people(world: World, name: str) -> None:
    caller = world.callers[name]
    assert caller.applicant_id is not None
    for url in ("/api/me/suggestions", "/api/accounts/me"):
        response = Request("GET", url).send(world.app.client, caller)
        assert response.status_code == 200, (url, response.text)
        assert_nothing_of(world, response.text, {caller.applicant_id})
        assert '"placement_id"' not in response.text
    me = Request("GET", "/api/accounts/me").send(world.app.client, caller).json()
    assert me["applicant_id"] == caller.applicant_id and me["offer_ids"] == []


def test_applicant_sees_their_own_placements(world: World) -> None:
    suggestions = Request("GET", "/api/me/suggestions").send(
        world.app.client, world.callers["applicant"]
    )
    status = {s["offer_id"]: s["status"] for s in suggestions.json()}
    assert status[MY_OFFER] == "bestätigt"


def placement_ids_in(value: Any) -> set[int]:
    """Values of every "placement_id" key (and "id" of placement views) in decoded JSON."""
    found: set[int] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "placement_id" or (key == "id" and "applicant_id" in value):
                found.add(item)
            found |= placement_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= placement_ids_in(item)
    return found


@pytest.mark.parametrize("name", ["mentor", "other mentor"])
def test_mentor_views_hold_only_guests_of_their_offers(world: World, name: str) -> None:
    caller = world.callers[name]
    own = {
        p.id: p
        for p in world.placements.values()
        if p.offer_id in caller.offer_ids and p.status is not PlacementStatus.REJECTED
    }
    guests_response = Request("GET", "/api/mentor/guests").send(world.app.client, caller)
    assert guests_response.status_code == 200
    guests = guests_response.json()
    assert {g["placement_id"] for g in guests} == set(own)
    assert {g["offer_id"] for g in guests} <= set(caller.offer_ids)
    guest_ids = {p.applicant_id for p in own.values()}
    assert_nothing_of(world, guests_response.text, guest_ids)
    assert placement_ids_in(guests) <= set(own)
    me = Request("GET", "/api/accounts/me").send(world.app.client, caller).json()
    assert me["offer_ids"] == list(caller.offer_ids) and me["applicant_id"] is None
    confirmed = [p for p in own.values() if p.status is PlacementStatus.CONFIRMED]
    for placement in confirmed:
        accepted = Request("POST", f"/api/mentor/guests/{placement.id}/accept", json={}).send(
            world.app.client, caller
        )
        assert accepted.status_code == 200, accepted.text
        assert placement_ids_in(accepted.json()) <= set(own)
        assert_nothing_of(world, accepted.text, {placement.applicant_id})


# --- random mixtures ----------------------------------------------------------------------------


def fuzz_cases(w: World) -> st.SearchStrategy[tuple[tuple[str, str], Caller, dict[str, Any]]]:
    callers = [c for c in w.callers.values() if c.role is not Role.COORDINATOR]
    coordinator = w.callers["coordinator"]
    routes_for_coordinator = [r for r in ROUTES if owner_of(r[1]) in {"applicant", "mentor"}]
    ids = st.fixed_dictionaries(
        {
            "round_id": st.sampled_from([w.round_id, w.other_round, 999]),
            "placement_id": st.sampled_from([*w.placements, 999999]),
            "applicant_id": st.sampled_from([a["id"] for a in w.applicants] + ["A-999"]),
            "offer_id": st.sampled_from([*w.offers, "H-999"]),
        }
    )
    as_other = st.tuples(st.sampled_from(ROUTES), st.sampled_from(callers), ids)
    as_coordinator = st.tuples(st.sampled_from(routes_for_coordinator), st.just(coordinator), ids)
    return st.one_of(as_other, as_coordinator)


def test_random_routes_callers_and_ids_never_reach_other_peoples_data(world: World) -> None:
    @settings(
        max_examples=120,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_cases(world))
    def check(case: tuple[tuple[str, str], Caller, dict[str, Any]]) -> None:
        (method, path), caller, ids = case
        request = build(world, method, path, **ids)
        before = world.fingerprint()
        response = request.send(world.app.client, caller)
        note = (caller.name, method, request.url, response.status_code, response.text[:300])
        assert response.status_code < 500, note
        owner = owner_of(path)
        if caller.token is None:
            assert response.status_code == 401, note
        elif owner not in {"anyone", caller.role.value if caller.role else ""}:
            assert response.status_code in {401, 403}, note
        if response.status_code >= 300:
            assert world.fingerprint() == before, note
            return
        # Allowed: the caller's own matters only.
        if caller.role is Role.APPLICANT:
            assert caller.applicant_id is not None
            assert_nothing_of(world, response.text, {caller.applicant_id})
        elif caller.role is Role.MENTOR:
            own = {
                p.id: p
                for p in world.placements.values()
                if p.offer_id in caller.offer_ids and p.status is not PlacementStatus.REJECTED
            }
            if "{placement_id}" in path:
                target = world.placements.get(ids["placement_id"])
                assert target is not None and target.offer_id in caller.offer_ids, note
                assert target.status is PlacementStatus.CONFIRMED, note
            assert placement_ids_in(response.json()) <= set(own), note
            assert_nothing_of(world, response.text, {p.applicant_id for p in own.values()})
        # An allowed call adds at most its audit entry (a mentor's decision), no other row.
        assert without_audit(world.app.counts()) == without_audit(before[0]), note

    counts = world.app.counts()
    check()
    # Nobody got a token, a row or a placement through the fuzzing.
    assert without_audit(world.app.counts()) == without_audit(counts)


def without_audit(counts: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in counts.items() if table != "auditentry"}
