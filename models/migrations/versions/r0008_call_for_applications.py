"""The call for applications: a round's public call, pending applications, applicants' wishes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 13:12:41.572451
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_for_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("applications_until", sa.DateTime(), nullable=False),
        sa.Column("offers_until", sa.DateTime(), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id"),
        sa.UniqueConstraint("slug"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "pending_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["call_for_applications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_pending_application_call_id", "pending_application", ["call_id"], unique=False
    )
    op.create_index("ix_pending_application_email", "pending_application", ["email"], unique=False)
    # A plain ADD COLUMN: a batch copy of "applicant" would drop the table its placements and
    # accounts point at (ON DELETE CASCADE), and they would be gone with it.
    op.add_column(
        "applicant",
        sa.Column("wishes", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("applicant", "wishes")
    op.drop_index("ix_pending_application_email", table_name="pending_application")
    op.drop_index("ix_pending_application_call_id", table_name="pending_application")
    op.drop_table("pending_application")
    op.drop_table("call_for_applications")
