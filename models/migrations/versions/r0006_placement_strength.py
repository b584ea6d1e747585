"""A placement's match strength („sehr gut“, „gut“, „schwach“) as labelled when it was placed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 13:11:31.877943
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (nullable: placements from before stay unlabelled); no table copy.
    op.add_column("placement", sa.Column("strength", sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column("placement", "strength")
