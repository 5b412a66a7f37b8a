"""Logins throttled instead of locked, API tokens that expire, an audit log of every door.

The lock-out columns go (five wrong passwords from anyone locked a counselor out); failed logins are
counted per client address and per name in login_throttle. API tokens get an expiry. The audit log
says through which door (console, api, cli) and from which address a login came, and keeps failed
logins under unknown names (without a counselor).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ drops columns itself): rebuilding `counselors` in batch mode
    # would drop a table others reference, which SQLite with foreign keys on refuses or cascades.
    op.drop_column("counselors", "failed_logins")
    op.drop_column("counselors", "locked_until")
    op.add_column("counselors", sa.Column("token_expires_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("counselor_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("via", sa.String(8), nullable=True))
        batch.add_column(sa.Column("address", sa.String(64), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_login_throttle_updated_at", "login_throttle", ["updated_at"])
    # Tokens made before expiry existed expire like new ones would: 90 days from now.
    op.execute(
        sa.text("UPDATE counselors SET token_expires_at = :at WHERE token_hash IS NOT NULL").bindparams(
            sa.bindparam("at", datetime.now(UTC) + timedelta(days=90), type_=UtcDateTime())
        )
    )


def downgrade() -> None:
    op.drop_index("ix_login_throttle_updated_at", "login_throttle")
    op.drop_table("login_throttle")
    op.execute("DELETE FROM audit_log WHERE counselor_id IS NULL")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("address")
        batch.drop_column("via")
        batch.alter_column("counselor_id", existing_type=Id, nullable=False)
    op.drop_column("counselors", "token_expires_at")
    op.add_column("counselors", sa.Column("locked_until", UtcDateTime(), nullable=True))
    op.add_column("counselors", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
