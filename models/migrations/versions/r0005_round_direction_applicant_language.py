"""A round's direction (outgoing, incoming); an applicant's language and explanation language.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:55:40.471549
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A batch copy of a SQLite table must keep AUTOINCREMENT (ids are never reused).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("applicant", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("explanation_language", sa.String(), nullable=True))

    # A plain ADD COLUMN: a batch copy of "round" would drop the table its offers, applicants
    # and placements point at (ON DELETE CASCADE), and they would be gone with it.
    op.add_column(
        "round",
        sa.Column("direction", sa.String(length=8), server_default="outgoing", nullable=False),
    )
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot add a constraint in place
        op.create_check_constraint(
            "rounddirection", "round", "direction IN ('outgoing', 'incoming')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("rounddirection", "round", type_="check")
    op.drop_column("round", "direction")

    with op.batch_alter_table("applicant", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("explanation_language")
        batch_op.drop_column("language")
