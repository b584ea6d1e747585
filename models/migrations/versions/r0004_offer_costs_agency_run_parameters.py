"""Costs of offers (travel_cost, weekly_cost), an applicant's agency, a run's parameters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:40:44.283927
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A batch copy of a SQLite table must keep AUTOINCREMENT (ids are never reused).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("applicant", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("agency", sa.String(), nullable=True))

    with op.batch_alter_table("matchingrun", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("parameters", sa.JSON(), nullable=True))

    with op.batch_alter_table("offer", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("travel_cost", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("weekly_cost", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("offer", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("weekly_cost")
        batch_op.drop_column("travel_cost")

    with op.batch_alter_table("matchingrun", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("parameters")

    with op.batch_alter_table("applicant", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("agency")
