"""A case's risk checklist, its referral on resolution, and a follow-up day.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable): no table rebuild, every row and reference stays as it is.
    op.add_column("cases", sa.Column("risk", sa.JSON(), nullable=True))
    op.add_column("cases", sa.Column("referral", sa.String(24), nullable=True))
    op.add_column("cases", sa.Column("follow_up_on", sa.Date(), nullable=True))
    op.add_column("cases", sa.Column("followed_up_at", UtcDateTime(), nullable=True))
    op.create_index("ix_cases_follow_up", "cases", ["follow_up_on", "followed_up_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_follow_up", "cases")
    for column in ("followed_up_at", "follow_up_on", "referral", "risk"):
        op.drop_column("cases", column)
