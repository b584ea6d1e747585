"""Shortlists from cached heads: the same JSON as the full computation, and never stale.

The reference is ``shortlists.shortlist(..., full=True)``: the applicant scored against every
offer of the round (what every shortlist computed before the heads). A second app on the same
database file stands for a second server process: its cache hears of changes only through the
database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer

from api import cache, services, shortlists
from api.app import create_app
from api.settings import Settings
from matcher.rerank import DecisionReranker, pair_features
from matcher.scoring import PreparedOffers
from models import crud
from models.tables import PlacementStatus, RankerModel, Round
from tests.api.conftest import Api, Record

WARM_TIMEOUT_SECONDS = 120.0


def full(api: Api, round_id: int, applicant_id: str, **query: Any) -> Any:
    """The full computation's answer as JSON (what the route would send)."""
    with api.session() as session:
        answer = shortlists.shortlist(
            session, api.app.state.scorer, round_id, applicant_id, full=True, **query
        )
        return json.loads(answer.model_dump_json())


def url(round_id: int, applicant_id: str, top_k: int, topic_only: bool) -> str:
    query = f"top_k={top_k}&topic_only={'true' if topic_only else 'false'}"
    return f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist?{query}"


def wait_warm(api: Api, round_id: int) -> None:
    """Until the background thread has computed every applicant's heads."""
    deadline = time.monotonic() + WARM_TIMEOUT_SECONDS
    while True:
        progress = cache.progress(api.engine, api.app.state.scorer, round_id)
        if progress is not None and progress.finished:
            return
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)


def assert_all_equal(
    api: Api, round_id: int, applicants: list[str], top_ks: tuple[int, ...]
) -> int:
    """Every applicant's shortlists over HTTP equal the full computation; how many compared."""
    compared = 0
    for applicant_id in applicants:
        for top_k in top_ks:
            for topic_only in (False, True):
                answer = api.ok("GET", url(round_id, applicant_id, top_k, topic_only))
                expected = full(api, round_id, applicant_id, top_k=top_k, topic_only=topic_only)
                assert answer == expected, (applicant_id, top_k, topic_only)
                compared += 1
    return compared


@pytest.fixture
def counted_full(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts shortlists that fell back to scoring against every offer."""
    calls = [0]
    original = shortlists._applicant_scores

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(shortlists, "_applicant_scores", counting)
    return calls


def test_heads_answer_exactly_without_scoring_every_offer(
    api: Api,
    offers_data: list[Record],
    applicants_data: list[Record],
    counted_full: list[int],
) -> None:
    round_id = api.new_round(offers_data, applicants_data)
    ids = [a["id"] for a in applicants_data]
    api.ok("GET", url(round_id, ids[0], 5, False))  # prepares the offers, starts the warm-up
    wait_warm(api, round_id)
    before = counted_full[0]
    compared = assert_all_equal(api, round_id, ids, (1, 5))
    # Answered from the heads: the full computation ran only as the test's reference.
    assert counted_full[0] - before == compared
    # Every offer, more than the heads hold: still the full ordering (the heads are complete
    # for 36 offers, so this is answered from them as well).
    assert_all_equal(api, round_id, ids[:10], (100,))


def test_full_offers_drop_out_and_short_heads_fall_back(
    api: Api,
    offers_data: list[Record],
    applicants_data: list[Record],
    monkeypatch: pytest.MonkeyPatch,
    counted_full: list[int],
) -> None:
    monkeypatch.setattr(cache, "DEPTH", 3)
    round_id = api.new_round(offers_data, applicants_data)
    ids = [a["id"] for a in applicants_data]
    best = [api.ok("GET", url(round_id, i, 1, False))["suggestions"] for i in ids[:12]]
    # Fill the offers most applicants want: their places go to other applicants.
    popular = {s[0]["offer_id"] for s in best if s}
    capacity = {o["id"]: o["capacity"] for o in offers_data}
    pairs = [
        (ids[-1 - k - n], offer_id)
        for k, offer_id in enumerate(sorted(popular))
        for n in range(0, 20 * capacity[offer_id], 20)
    ]
    api.add_placements(round_id, pairs, PlacementStatus.CONFIRMED)
    before = counted_full[0]
    compared = assert_all_equal(api, round_id, ids[:12], (1, 3, 5))
    fallbacks = counted_full[0] - before - compared
    assert fallbacks > 0  # top_k 5 > DEPTH 3, and full offers left fewer than 3 for some


def test_reranked_shortlists_are_exact(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:30])
    ids = [a["id"] for a in applicants_data[:30]]
    with api.session() as session:
        scores = shortlists._applicant_scores(
            session,
            api.app.state.scorer,
            session.get(Round, round_id),
            crud.get_applicant(session=session, round_id=round_id, external_id=ids[0]),
        )
        rows = [pair_features(scores, 0, j) for j in range(len(scores.offers))]
        labels = np.random.default_rng(5).integers(0, 2, len(rows))
        model = DecisionReranker().fit(rows, labels)
        crud.add_ranker(
            session=session,
            ranker=RankerModel(
                round_id=round_id,
                version=model.version,
                params=model.to_json(),
                confirmed=int(labels.sum()),
                rejected=int(len(labels) - labels.sum()),
                created_by="test",
            ),
        )
        session.commit()
    answer = api.ok("GET", url(round_id, ids[0], 5, False))
    assert answer["ranker"] == f"rerank:{model.version}"
    wait_warm(api, round_id)
    assert_all_equal(api, round_id, ids, (5,))
    api.ok("PATCH", f"/api/rounds/{round_id}/ranker", json={"enabled": False})
    assert api.ok("GET", url(round_id, ids[0], 5, False))["ranker"] == "basis"
    assert_all_equal(api, round_id, ids[:10], (5,))


@pytest.fixture
def second_app(api_settings: Settings, model: SentenceTransformer) -> Iterator[Api]:
    """Another app on the same database file: what a second server process sees."""
    with TestClient(create_app(api_settings, model=model)) as client:
        yield Api(client)


def test_changes_made_by_another_process_show_in_the_next_answer(
    api: Api, second_app: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:12])
    applicant = applicants_data[0]
    path = url(round_id, applicant["id"], 5, False)
    first = second_app.ok("GET", path)
    wait_warm(second_app, round_id)
    top = next(o for o in offers_data if o["id"] == first["suggestions"][0]["offer_id"])

    edited = {**top, "title": "Neu: " + top["title"]}
    api.ok("PUT", f"/api/rounds/{round_id}/offers/{top['id']}", json=edited)
    answer = second_app.ok("GET", path)
    assert edited["title"] in {s["title"] for s in answer["suggestions"]}
    assert answer == full(second_app, round_id, applicant["id"], top_k=5, topic_only=False)

    changed = {**applicant, "motivation": "Ich möchte die Bürgerbeteiligung bei Radwegen lernen."}
    api.ok("PUT", f"/api/rounds/{round_id}/applicants/{applicant['id']}", json=changed)
    answer = second_app.ok("GET", path)
    assert answer != first
    assert answer == full(second_app, round_id, applicant["id"], top_k=5, topic_only=False)


def test_a_repeated_request_reads_its_answer_until_a_place_is_taken(
    api: Api,
    offers_data: list[Record],
    applicants_data: list[Record],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:12])
    applicant = applicants_data[0]["id"]
    path = url(round_id, applicant, 3, False)
    first = api.ok("GET", path)
    explained = [0]
    original = shortlists.listed_scores

    def counting(*args: Any, **kwargs: Any) -> Any:
        explained[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(shortlists, "listed_scores", counting)
    assert api.ok("GET", path) == first
    assert explained[0] == 0  # the kept answer
    top = first["suggestions"][0]["offer_id"]
    capacity = next(o["capacity"] for o in offers_data if o["id"] == top)
    others = [a["id"] for a in applicants_data[1 : 1 + capacity]]
    api.add_placements(round_id, [(other, top) for other in others], PlacementStatus.CONFIRMED)
    answer = api.ok("GET", path)
    assert explained[0] == 1  # the places changed: a new answer
    assert top not in {s["offer_id"] for s in answer["suggestions"]}
    assert answer == full(api, round_id, applicant, top_k=3, topic_only=False)


def test_an_offer_edit_prepares_only_that_offer_as_preparing_all_would(
    api: Api,
    offers_data: list[Record],
    applicants_data: list[Record],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    round_id = api.new_round(offers_data, applicants_data[:4])
    applicant = applicants_data[0]["id"]
    first = api.ok("GET", url(round_id, applicant, 5, False))
    prepared_all = [0]
    original = cache.prepare_offers

    def counting(*args: Any, **kwargs: Any) -> Any:
        prepared_all[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(cache, "prepare_offers", counting)
    top = next(o for o in offers_data if o["id"] == first["suggestions"][0]["offer_id"])
    edited = {
        **top,
        "title": "Neu: " + top["title"],
        "description": top["description"] + " Dazu kommen Radwege und Bürgerbeteiligung.",
    }
    api.ok("PUT", f"/api/rounds/{round_id}/offers/{top['id']}", json=edited)
    answer = api.ok("GET", url(round_id, applicant, 5, False))
    assert prepared_all[0] == 0
    assert answer == full(api, round_id, applicant, top_k=5, topic_only=False)
    scorer = api.app.state.scorer
    with api.session() as session:
        entry = cache.round_offers(session, scorer, session.get(Round, round_id))
        rows = crud.list_offers(session=session, round_id=round_id)
        fresh = original(scorer, [services.offer_record(row) for row in rows])
    assert "Neu: " + top["title"] in {o.title for o in entry.prepared.offers}
    assert_same_prepared(entry.prepared, fresh)


def assert_same_prepared(found: PreparedOffers, expected: PreparedOffers) -> None:
    """Same records, and the same arrays bit for bit in the same memory layout."""
    assert list(found.offers) == list(expected.offers)
    for name in ("whole", "sentences", "starts"):
        got, want = getattr(found.texts, name), getattr(expected.texts, name)
        assert np.array_equal(got, want) and got.dtype == want.dtype, name
        assert got.flags.c_contiguous == want.flags.c_contiguous, name
        assert got.flags.f_contiguous == want.flags.f_contiguous, name
    for name in ("sentence_texts", "views", "languages"):
        assert getattr(found.texts, name) == getattr(expected.texts, name), name
    for name in ("whole", "sentences"):
        assert np.array_equal(getattr(found.baselines, name), getattr(expected.baselines, name))
    for f in fields(expected.constraints):
        got, want = getattr(found.constraints, f.name), getattr(expected.constraints, f.name)
        assert np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want, f.name


def test_applicants_with_the_same_texts_share_a_fit_and_answer_exactly(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    originals = applicants_data[:4]
    twins = [
        {
            **a,
            "id": f"A-9{k:02d}",
            "preferred_cities": list(reversed(a["preferred_cities"])),
            "weeks_wanted": 4,
        }
        for k, a in enumerate(originals)
    ]
    round_id = api.new_round(offers_data, [*originals, *twins])
    ids = [a["id"] for a in [*originals, *twins]]
    api.ok("GET", url(round_id, ids[0], 5, False))
    wait_warm(api, round_id)
    assert_all_equal(api, round_id, ids, (5,))


def test_shortlists_mark_the_applicants_own_place_and_rejected_pairs(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    """A-001's confirmed place on the one-place H-002 is theirs (feasible, no reasons), not
    „kein freier Platz“; for A-002 it is full. A rejected pair says so. Heads = full path."""
    round_id = api.new_round(offers_data, applicants_data[:20])
    api.ok("GET", url(round_id, "A-001", 5, False))  # prepares the offers, starts the warm-up
    placed = api.ok(
        "POST",
        f"/api/rounds/{round_id}/placements",
        201,
        json={"applicant_id": "A-001", "offer_id": "H-002"},
    )
    assert placed["status"] == "confirmed"
    other = api.ok("GET", url(round_id, "A-002", 1, False))["suggestions"][0]
    assert other["offer_id"] != "H-002"  # H-002 is full for A-002
    api.add_placements(round_id, [("A-002", other["offer_id"])], PlacementStatus.REJECTED)
    wait_warm(api, round_id)
    assert_all_equal(api, round_id, ["A-001", "A-002"], (1, 5, 100))

    def listed(applicant_id: str, topic_only: bool) -> dict[str, Record]:
        answer = api.ok("GET", url(round_id, applicant_id, 100, topic_only))
        return {s["offer_id"]: s for s in answer["suggestions"]}

    for topic_only in (False, True):
        own = listed("A-001", topic_only)["H-002"]
        assert (own["feasible"], own["reasons"], own["placement_status"]) == (
            True,
            [],
            "confirmed",
        )
    full_for_others = listed("A-002", True)["H-002"]
    assert not full_for_others["feasible"] and full_for_others["placement_status"] is None
    assert any("keinen freien Platz" in r for r in full_for_others["reasons"])
    assert listed("A-002", True)[other["offer_id"]]["placement_status"] == "rejected"
    unmarked = [s for s in listed("A-002", True).values() if s["offer_id"] != other["offer_id"]]
    assert all(s["placement_status"] is None for s in unmarked)
