"""How far each counselor has read each case (the queue's unread count).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_reads",
        sa.Column("case_id", Id, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_message_id", Id, nullable=False),
        sa.Column("read_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_reads")
