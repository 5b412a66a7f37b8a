"""Web chat openings per day and per linking place (`?src=`), counts only.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_opens",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("src", sa.String(32), primary_key=True),
        sa.Column("opens", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_opens")
