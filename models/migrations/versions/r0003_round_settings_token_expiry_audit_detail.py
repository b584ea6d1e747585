"""Round settings (min_strength, closes_on, offers_version), token expiry, audit detail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:33:57.332576
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A batch copy of a SQLite table must keep AUTOINCREMENT (ids are never reused).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("auditentry", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.String(length=500), nullable=True))

    with op.batch_alter_table("round", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(
            sa.Column("offers_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("min_strength", sa.String(length=20), server_default="gut", nullable=True)
        )
        batch_op.add_column(sa.Column("closes_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("round", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("closes_on")
        batch_op.drop_column("min_strength")
        batch_op.drop_column("offers_version")

    with op.batch_alter_table("auditentry", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("detail")

    with op.batch_alter_table("account", schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")
