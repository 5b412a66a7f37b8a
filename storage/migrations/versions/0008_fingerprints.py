"""MinHash fingerprints of suspicious messages (no text), for "other students asked about this too".

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scenario", sa.String(40)),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_fingerprints_user_id", "fingerprints", ["user_id"])
    op.create_index("ix_fingerprints_created_at", "fingerprints", ["created_at"])
    op.create_table(
        "fingerprint_bands",
        sa.Column(
            "fingerprint_id", Id, sa.ForeignKey("fingerprints.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("band", sa.String(24), primary_key=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_fingerprint_bands_band", "fingerprint_bands", ["band", "created_at"])


def downgrade() -> None:
    op.drop_table("fingerprint_bands")
    op.drop_table("fingerprints")
