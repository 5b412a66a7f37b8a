"""Counselor console: login failures and lockout, server-side sessions, case notes, audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("counselors") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UtcDateTime(), nullable=True))
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id"), nullable=False),
        sa.Column("case_id", Id, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("case_notes")
    op.drop_table("console_sessions")
    with op.batch_alter_table("counselors") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
