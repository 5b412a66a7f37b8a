"""Counselor alerts in a Telegram group: a forum topic per case, linked Telegram accounts, group outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("alert_thread_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("last_alert_at", UtcDateTime(), nullable=True))
        batch.create_index("ix_cases_alert_thread", ["alert_thread_id"])
    with op.batch_alter_table("counselors") as batch:
        batch.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint("uq_counselors_telegram_user", ["telegram_user_id"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(10), nullable=False, server_default="student")
        )
        batch.add_column(
            sa.Column("case_id", Id, sa.ForeignKey("cases.id", name="fk_outbox_case", ondelete="CASCADE"))
        )
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["channel", "audience", "status", "next_attempt_at"])
    op.create_index("ix_outbox_queue", "outbox", ["user_id", "audience", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_queue", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE audience <> 'student'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_case", type_="foreignkey")
        batch.drop_column("case_id")
        batch.drop_column("audience")
    op.create_index("ix_outbox_due", "outbox", ["channel", "status", "next_attempt_at"])
    with op.batch_alter_table("counselors") as batch:
        batch.drop_constraint("uq_counselors_telegram_user", type_="unique")
        batch.drop_column("telegram_user_id")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_alert_thread")
        batch.drop_column("last_alert_at")
        batch.drop_column("alert_thread_id")
