"""Persistence: SQLModel tables, request/response schemas, engine/session helpers, data access.

Boundary: this package only stores and loads. It imports neither ``matcher`` (the engine) nor
``api`` (the HTTP edge); converting rows to engine records happens in the service layer of
``api``. ``SqlEmbeddingStore`` satisfies the engine's ``EmbeddingStore`` protocol structurally,
without importing it.
"""

from models.crud import (
    add_applicants,
    add_offers,
    add_placements,
    create_round,
    delete_proposals,
    find_round,
    get_round,
    list_applicants,
    list_offers,
    list_placements,
    list_rounds,
    table_counts,
)
from models.db import DEFAULT_DATABASE_URL, get_session, init_db, make_engine
from models.store import SqlEmbeddingStore
from models.tables import (
    Applicant,
    ApplicantBase,
    ApplicantPublic,
    EmbeddingRecord,
    Offer,
    OfferBase,
    OfferPublic,
    Placement,
    PlacementBase,
    PlacementCreate,
    PlacementPublic,
    PlacementStatus,
    Round,
    RoundBase,
    RoundCreate,
    RoundPublic,
    RoundStatus,
    UtcDateTime,
    utc_now,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Applicant",
    "ApplicantBase",
    "ApplicantPublic",
    "EmbeddingRecord",
    "Offer",
    "OfferBase",
    "OfferPublic",
    "Placement",
    "PlacementBase",
    "PlacementCreate",
    "PlacementPublic",
    "PlacementStatus",
    "Round",
    "RoundBase",
    "RoundCreate",
    "RoundPublic",
    "RoundStatus",
    "SqlEmbeddingStore",
    "UtcDateTime",
    "add_applicants",
    "add_offers",
    "add_placements",
    "create_round",
    "delete_proposals",
    "find_round",
    "get_round",
    "get_session",
    "init_db",
    "list_applicants",
    "list_offers",
    "list_placements",
    "list_rounds",
    "make_engine",
    "table_counts",
    "utc_now",
]
