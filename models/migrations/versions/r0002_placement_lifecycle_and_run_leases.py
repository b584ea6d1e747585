"""Placement lifecycle, run leases, audit entries with public ids (issues 10 and 12).

- ``placement.status`` may also be ``superseded``, ``withdrawn``, ``declined_by_host`` and
  ``released``; its CHECK constraint ``placementstatus`` is replaced (dropped with the old
  values, created with the new).
- ``placement.needs_review`` (not null, default false) and ``review_reason``: a forced edit
  marked the confirmed placement for the coordinator's review.
- ``uq_placement_confirmed_applicant``: unique (round_id, applicant_id) where status is
  ``confirmed``: one confirmed place per applicant and round.
- ``matchingrun.owner`` and ``lease_until``: which process holds the run, until when.
- ``uq_matchingrun_active_round``: unique (round_id) where status is queued or running: one
  active run per round.
- ``auditentry.applicant_public_id`` and ``offer_public_id``: ``A-001``, ``H-013``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_VALUES = ("proposed", "confirmed", "rejected")
_NEW_VALUES = (*_OLD_VALUES, "superseded", "withdrawn", "declined_by_host", "released")
#: The status change makes SQLite copy the table; the copy must keep AUTOINCREMENT (ids of
#: deleted placements are never given out again), which reflection does not carry over.
KEEP_IDS = {"sqlite_autoincrement": True}
# Given as the schema types they are, so the CHECK constraint is dropped and made anew.
OLD_STATUS = sa.Enum(
    *_OLD_VALUES, name="placementstatus", native_enum=False, create_constraint=True
)
NEW_STATUS = sa.Enum(
    *_NEW_VALUES, name="placementstatus", native_enum=False, create_constraint=True
)


def upgrade() -> None:
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applicant_public_id", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("offer_public_id", sa.String(length=500), nullable=True))

    with op.batch_alter_table("matchingrun", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "uq_matchingrun_active_round",
            ["round_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        )

    with op.batch_alter_table("placement", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(
            sa.Column("needs_review", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("review_reason", sa.String(), nullable=True))
        batch_op.alter_column(
            "status", existing_type=OLD_STATUS, type_=NEW_STATUS, existing_nullable=False
        )
        batch_op.create_index(
            "uq_placement_confirmed_applicant",
            ["round_id", "applicant_id"],
            unique=True,
            sqlite_where=sa.text("status = 'confirmed'"),
            postgresql_where=sa.text("status = 'confirmed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("placement", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_index(
            "uq_placement_confirmed_applicant",
            sqlite_where=sa.text("status = 'confirmed'"),
            postgresql_where=sa.text("status = 'confirmed'"),
        )
        batch_op.alter_column(
            "status", existing_type=NEW_STATUS, type_=OLD_STATUS, existing_nullable=False
        )
        batch_op.drop_column("review_reason")
        batch_op.drop_column("needs_review")

    with op.batch_alter_table("matchingrun", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matchingrun_active_round",
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        )
        batch_op.drop_column("lease_until")
        batch_op.drop_column("owner")

    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.drop_column("offer_public_id")
        batch_op.drop_column("applicant_public_id")
