"""Rounds, offers, applicants and placements survive a round trip through a database file."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session

from models import (
    Applicant,
    ApplicantBase,
    OfferBase,
    PlacementCreate,
    PlacementStatus,
    Round,
    RoundStatus,
    add_applicants,
    add_offers,
    add_placements,
    create_round,
    delete_proposals,
    get_round,
    list_applicants,
    list_offers,
    list_placements,
    list_rounds,
    table_counts,
)
from tests.conftest import BACKENDS
from tests.models.factories import make_applicant, make_offer

#: Integrity rules hold on both backends.
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def _round(session: Session, name: str = "Frühjahr 2027") -> int:
    round_ = create_round(session=session, name=name)
    assert round_.id is not None
    return round_.id


def _proposal(applicant_id: int | None, offer_id: int | None, **changes: object) -> PlacementCreate:
    fields: dict[str, object] = {
        "applicant_id": applicant_id,
        "offer_id": offer_id,
        "status": PlacementStatus.PROPOSED,
        "score": 0.8125,
        "reason": "Thema passt: Bürgerbeteiligung",
    }
    fields.update(changes)
    return PlacementCreate.model_validate(fields)


def test_round_round_trip(engine: Engine, session: Session) -> None:
    before = datetime.now(UTC)
    first = _round(session, "Frühjahr 2027")
    second = _round(session, "Herbst 2027")
    session.commit()

    with Session(engine) as fresh:
        stored = get_round(session=fresh, round_id=first)
        assert stored is not None
        assert stored.name == "Frühjahr 2027"
        assert stored.status is RoundStatus.OPEN
        assert stored.created_at.tzinfo is UTC
        assert before - timedelta(seconds=1) <= stored.created_at <= datetime.now(UTC)
        assert [round_.id for round_ in list_rounds(session=fresh)] == [first, second]
        assert get_round(session=fresh, round_id=second + 1) is None


def test_round_name_is_validated(session: Session) -> None:
    with pytest.raises(ValidationError):
        create_round(session=session, name="x" * 201)
    with pytest.raises(ValidationError):
        create_round(session=session, name="")


def test_status_is_stored_as_its_value_and_unknown_values_are_rejected(session: Session) -> None:
    round_id = _round(session)
    session.commit()
    connection = session.connection()
    assert connection.execute(text("SELECT status FROM round")).scalar_one() == "open"
    with pytest.raises(IntegrityError):
        connection.execute(
            text("UPDATE round SET status = 'paused' WHERE id = :id"), {"id": round_id}
        )


def test_offer_and_applicant_round_trip_every_field(engine: Engine, session: Session) -> None:
    round_id = _round(session)
    offers = [make_offer("o1"), make_offer("o2", country=None, language=None, tags=[])]
    applicants = [make_applicant("a1"), make_applicant("a2", name=None, email=None)]
    add_offers(session=session, round_id=round_id, offers=offers)
    add_applicants(session=session, round_id=round_id, applicants=applicants)
    session.commit()

    with Session(engine) as fresh:
        stored_offers = list_offers(session=fresh, round_id=round_id)
        stored_applicants = list_applicants(session=fresh, round_id=round_id)
        assert [OfferBase.model_validate(row) for row in stored_offers] == offers
        assert [ApplicantBase.model_validate(row) for row in stored_applicants] == applicants
        assert {row.round_id for row in stored_offers} == {round_id}
        assert {row.round_id for row in stored_applicants} == {round_id}
    assert stored_offers[0].working_languages == ["de", "en"]
    assert stored_offers[0].tags == ["Open Data", "Statistik", "Digitalisierung"]
    assert stored_applicants[0].languages == {"de": "C2", "en": "B2", "pl": "A2"}
    assert stored_applicants[0].available_until.isoformat() == "2027-05-31"


def test_lists_are_per_round_in_insertion_order(session: Session) -> None:
    first, second = _round(session, "A"), _round(session, "B")
    add_offers(session=session, round_id=first, offers=[make_offer("z"), make_offer("a")])
    # The same external ids may appear again in another round.
    add_offers(session=session, round_id=second, offers=[make_offer("a")])
    session.commit()
    assert [o.external_id for o in list_offers(session=session, round_id=first)] == ["z", "a"]
    assert [o.external_id for o in list_offers(session=session, round_id=second)] == ["a"]
    assert list_applicants(session=session, round_id=first) == []


@pytest.mark.parametrize("kind", ["offers", "applicants"])
def test_repeated_external_id_in_a_round_stores_nothing(session: Session, kind: str) -> None:
    round_id = _round(session)
    add_offers(session=session, round_id=round_id, offers=[make_offer("o1")])
    add_applicants(session=session, round_id=round_id, applicants=[make_applicant("a1")])
    session.commit()
    before = table_counts(session=session)

    with pytest.raises(IntegrityError):
        if kind == "offers":
            batch = [make_offer("o2"), make_offer("o1")]
            add_offers(session=session, round_id=round_id, offers=batch)
        else:
            people = [make_applicant("a2"), make_applicant("a2")]
            add_applicants(session=session, round_id=round_id, applicants=people)
    session.rollback()

    assert table_counts(session=session) == before


def test_offers_need_an_existing_round(session: Session) -> None:
    with pytest.raises(IntegrityError):
        add_offers(session=session, round_id=42, offers=[make_offer()])
    session.rollback()
    assert table_counts(session=session)["offer"] == 0


def test_placement_with_unknown_applicant_is_refused(session: Session) -> None:
    round_id = _round(session)
    (offer,) = add_offers(session=session, round_id=round_id, offers=[make_offer()])
    session.commit()

    with pytest.raises(IntegrityError):
        add_placements(session=session, round_id=round_id, placements=[_proposal(999, offer.id)])
    session.rollback()
    assert table_counts(session=session)["placement"] == 0


def _round_with_placements(session: Session) -> tuple[int, list[int], list[int]]:
    """A round with two applicants and two offers, and a placement for each pair."""
    round_id = _round(session)
    offers = add_offers(
        session=session, round_id=round_id, offers=[make_offer("o1"), make_offer("o2")]
    )
    applicants = add_applicants(
        session=session, round_id=round_id, applicants=[make_applicant("a1"), make_applicant("a2")]
    )
    statuses = [
        PlacementStatus.PROPOSED,
        PlacementStatus.CONFIRMED,
        PlacementStatus.REJECTED,
        PlacementStatus.PROPOSED,
    ]
    pairs = [(a.id, o.id) for a in applicants for o in offers]
    add_placements(
        session=session,
        round_id=round_id,
        placements=[_proposal(a, o, status=s) for (a, o), s in zip(pairs, statuses, strict=True)],
    )
    session.commit()
    return round_id, [a.id for a in applicants if a.id], [o.id for o in offers if o.id]


def test_placements_round_trip_and_filter_by_status(engine: Engine, session: Session) -> None:
    round_id, _, _ = _round_with_placements(session)
    with Session(engine) as fresh:
        placements = list_placements(session=fresh, round_id=round_id)
        proposed = list_placements(
            session=fresh, round_id=round_id, status=PlacementStatus.PROPOSED
        )
    assert [p.status for p in placements] == [
        PlacementStatus.PROPOSED,
        PlacementStatus.CONFIRMED,
        PlacementStatus.REJECTED,
        PlacementStatus.PROPOSED,
    ]
    assert [p.id for p in proposed] == [placements[0].id, placements[3].id]
    assert placements[0].score == 0.8125
    assert placements[0].reason == "Thema passt: Bürgerbeteiligung"
    assert placements[0].decided_by is None
    assert placements[0].decided_at is None
    assert placements[0].created_at.tzinfo is UTC


def test_decision_time_round_trips_in_utc_and_naive_times_are_refused(
    engine: Engine, session: Session
) -> None:
    round_id, _, _ = _round_with_placements(session)
    placement = list_placements(session=session, round_id=round_id)[1]
    berlin_summer = datetime.fromisoformat("2027-06-01T14:30:00+02:00")
    placement.decided_by = "Koordination SenInnDS"
    placement.decided_at = berlin_summer
    session.commit()
    with Session(engine) as fresh:
        stored = list_placements(session=fresh, round_id=round_id)[1]
    assert stored.decided_at == berlin_summer
    assert stored.decided_at is not None
    assert stored.decided_at.tzinfo is UTC
    assert stored.decided_at.hour == 12

    placement.decided_at = datetime(2027, 6, 1, 14, 30)
    with pytest.raises(StatementError, match="naive datetime"):
        session.commit()


def test_delete_proposals_keeps_decisions_and_other_rounds(session: Session) -> None:
    round_id, _, _ = _round_with_placements(session)
    other_round, _, _ = _round_with_placements(session)

    assert delete_proposals(session=session, round_id=round_id) == 2
    session.commit()

    remaining = list_placements(session=session, round_id=round_id)
    assert [p.status for p in remaining] == [PlacementStatus.CONFIRMED, PlacementStatus.REJECTED]
    assert len(list_placements(session=session, round_id=other_round)) == 4
    assert delete_proposals(session=session, round_id=round_id) == 0


def test_deleting_an_applicant_deletes_its_placements(session: Session) -> None:
    round_id, applicant_ids, _ = _round_with_placements(session)
    applicant = session.get(Applicant, applicant_ids[0])
    assert applicant is not None
    session.delete(applicant)
    session.commit()

    remaining = list_placements(session=session, round_id=round_id)
    assert [p.applicant_id for p in remaining] == [applicant_ids[1], applicant_ids[1]]
    assert table_counts(session=session)["offer"] == 2


def test_deleting_a_round_deletes_everything_in_it(session: Session) -> None:
    round_id, _, _ = _round_with_placements(session)
    other_round, _, _ = _round_with_placements(session)
    round_ = session.get(Round, round_id)
    assert round_ is not None
    session.delete(round_)
    session.commit()

    assert table_counts(session=session) == {
        "round": 1,
        "offer": 2,
        "applicant": 2,
        "placement": 4,
        "embedding": 0,
        "account": 0,
        "mentoroffer": 0,
        "matchingrun": 0,
        "auditentry": 0,
        "rankermodel": 0,
    }
    assert len(list_placements(session=session, round_id=other_round)) == 4


def test_table_counts_of_an_empty_database(session: Session) -> None:
    assert table_counts(session=session) == {
        "round": 0,
        "offer": 0,
        "applicant": 0,
        "placement": 0,
        "embedding": 0,
        "account": 0,
        "mentoroffer": 0,
        "matchingrun": 0,
        "auditentry": 0,
        "rankermodel": 0,
    }
