"""The inbox (platform updates stored before they are acknowledged) and answered deliveries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("message_id", Id))
        # Deliveries recorded before this revision were answered in the same run.
        batch.add_column(sa.Column("answered", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "inbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON()),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime()),
        sa.UniqueConstraint("channel", "delivery_id", name="uq_inbox_delivery"),
    )
    op.create_index("ix_inbox_queue", "inbox", ["status", "chat_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_queue", table_name="inbox")
    op.drop_table("inbox")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("answered")
        batch.drop_column("message_id")
