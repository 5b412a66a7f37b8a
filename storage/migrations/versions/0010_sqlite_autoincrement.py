"""SQLite never hands out a deleted case's, conversation's or message's id again; users.chat_id is
wide enough for an encrypted chat id.

SQLite reuses the highest id after a delete unless the table is AUTOINCREMENT, which only a new table
can be. Batch mode would drop the old tables, and with foreign keys on dropping a table deletes its
rows and cascades into every table that references it (PRAGMA foreign_keys cannot be turned off inside
the migration's transaction). So the tables that reference them are rebuilt with them: the new ones
are created under temporary names and reference each other, the old ones are dropped from the leaves
up (nothing left to cascade into), and renaming the new ones makes SQLite rewrite the references.
PostgreSQL's sequences never reuse an id: there only chat_id is widened.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.models import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TMP = "_0010_"
AUTOINCREMENT = ("conversations", "messages", "cases")
INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_conversations_user": ("conversations", ["user_id", "id"]),
    "ix_conversations_updated": ("conversations", ["updated_at"]),
    "ix_messages_conversation": ("messages", ["conversation_id", "id"]),
    "ix_cases_status": ("cases", ["status", "priority", "created_at"]),
    "ix_cases_conversation": ("cases", ["conversation_id", "id"]),
    "ix_cases_alert_thread": ("cases", ["alert_thread_id"]),
    "ix_outbox_due": ("outbox", ["channel", "audience", "status", "next_attempt_at"]),
    "ix_outbox_queue": ("outbox", ["user_id", "audience", "status", "id"]),
    "ix_fingerprints_user_id": ("fingerprints", ["user_id"]),
    "ix_fingerprints_created_at": ("fingerprints", ["created_at"]),
    "ix_fingerprint_bands_band": ("fingerprint_bands", ["band", "created_at"]),
}
# Ids that rows outside these tables still name after the rows are gone: the next id starts past them.
NAMED_ELSEWHERE: dict[str, tuple[str, str]] = {
    "cases": ("audit_log", "case_id"),
    "messages": ("deliveries", "message_id"),
}


def _tables(autoincrement: bool, chat_id: int) -> list[sa.Table]:
    """`users` and every table that references it, directly or not, as of this revision, under
    temporary names; parents before children."""
    meta = sa.MetaData()

    def table(name: str, *columns: sa.sql.schema.SchemaItem) -> sa.Table:
        return sa.Table(
            TMP + name, meta, *columns, sqlite_autoincrement=autoincrement and name in AUTOINCREMENT
        )

    def ref(target: str, name: str | None = None) -> sa.ForeignKey:
        return sa.ForeignKey(f"{TMP}{target}.id", ondelete="CASCADE", name=name)

    def key() -> sa.Column[Any]:
        return sa.Column("id", Id, primary_key=True, autoincrement=True)

    def at(name: str, nullable: bool = False) -> sa.Column[Any]:
        return sa.Column(name, UtcDateTime(), nullable=nullable)

    # Referenced, not rebuilt (nothing it references is rebuilt).
    sa.Table("counselors", meta, sa.Column("id", Id, primary_key=True))
    return [
        table(
            "users",
            sa.Column("id", sa.String(40), primary_key=True),
            sa.Column("channel", sa.String(16), nullable=False),
            sa.Column("chat_id", sa.String(chat_id)),
            at("created_at"),
            at("last_seen_at"),
        ),
        table(
            "conversations",
            key(),
            sa.Column("user_id", sa.String(40), ref("users"), nullable=False),
            sa.Column("state", sa.String(32), nullable=False),
            sa.Column("context", sa.JSON(), nullable=False, server_default="{}"),
            at("escalated_at", nullable=True),
            at("started_at"),
            at("updated_at"),
        ),
        table(
            "messages",
            key(),
            sa.Column("conversation_id", Id, ref("conversations"), nullable=False),
            sa.Column("direction", sa.String(3), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("text", sa.Text()),
            sa.Column("action", sa.String(64)),
            sa.Column("buttons", sa.JSON(), nullable=False),
            sa.Column("analysis", sa.JSON()),
            sa.Column("author", sa.String(32)),
            at("created_at"),
        ),
        table(
            "feedback",
            key(),
            sa.Column("message_id", Id, ref("messages"), nullable=False),
            sa.Column("helpful", sa.Boolean(), nullable=False),
            sa.Column("reason", sa.Text()),
            at("created_at"),
            sa.UniqueConstraint("message_id", name="uq_feedback_message"),
        ),
        table(
            "cases",
            key(),
            sa.Column("conversation_id", Id, ref("conversations"), nullable=False),
            sa.Column("priority", sa.String(8), nullable=False),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("opened_by", sa.String(12), nullable=False),
            sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id")),
            sa.Column("outcome", sa.String(24)),
            at("created_at"),
            at("claimed_at", nullable=True),
            at("closed_at", nullable=True),
            at("timeout_notified_at", nullable=True),
            sa.Column("alert_thread_id", sa.BigInteger()),
            at("last_alert_at", nullable=True),
        ),
        table(
            "outbox",
            key(),
            sa.Column("user_id", sa.String(40), ref("users"), nullable=False),
            sa.Column("channel", sa.String(16), nullable=False),
            sa.Column("audience", sa.String(10), nullable=False, server_default="student"),
            sa.Column("case_id", Id, ref("cases", name="fk_outbox_case")),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("buttons", sa.JSON(), nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            at("next_attempt_at"),
            at("created_at"),
            at("sent_at", nullable=True),
        ),
        table(
            "case_notes",
            key(),
            sa.Column("case_id", Id, ref("cases"), nullable=False),
            sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id"), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            at("created_at"),
        ),
        table(
            "relabels",
            key(),
            sa.Column("message_id", Id, ref("messages"), nullable=False),
            sa.Column("counselor_id", Id, sa.ForeignKey("counselors.id"), nullable=False),
            sa.Column("tactics", sa.JSON(), nullable=False),
            sa.Column("crisis", sa.Boolean(), nullable=False),
            at("created_at"),
            sa.UniqueConstraint("message_id", name="uq_relabels_message"),
        ),
        table(
            "fingerprints",
            key(),
            sa.Column("user_id", sa.String(40), ref("users"), nullable=False),
            sa.Column("scenario", sa.String(40)),
            sa.Column("signature", sa.JSON(), nullable=False),
            at("created_at"),
        ),
        table(
            "fingerprint_bands",
            sa.Column("fingerprint_id", Id, ref("fingerprints"), primary_key=True, autoincrement=False),
            sa.Column("band", sa.String(24), primary_key=True),
            at("created_at"),
        ),
    ]


def _rebuild_sqlite(autoincrement: bool, chat_id: int) -> None:
    """Recreate the tables of `_tables` with their rows, ids and indexes, in the migration's transaction."""
    # Python's sqlite3 opens its transaction at the first write: until then each CREATE TABLE would
    # commit on its own, and a failure would leave the temporary tables behind.
    op.execute("UPDATE alembic_version SET version_num = version_num")
    # Renaming rewrites the references to the renamed table (the default since SQLite 3.26).
    op.execute("PRAGMA legacy_alter_table = OFF")
    bind = op.get_bind()
    tables = _tables(autoincrement, chat_id)
    for new in tables:
        new.create(bind)
        names = ", ".join(c.name for c in new.columns)
        op.execute(f"INSERT INTO {new.name} ({names}) SELECT {names} FROM {new.name[len(TMP) :]}")
    for new in reversed(tables):
        # Children first: each old table is dropped when nothing references it any more.
        op.execute(f"DROP TABLE {new.name[len(TMP) :]}")
    for new in tables:
        op.execute(f"ALTER TABLE {new.name} RENAME TO {new.name[len(TMP) :]}")
    for name, (table_name, columns) in INDEXES.items():
        op.create_index(name, table_name, columns)
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"foreign keys broken by the rebuild in tables {sorted({p[0] for p in problems})}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("users", "chat_id", type_=sa.String(255), existing_type=sa.String(64))
        return
    _rebuild_sqlite(autoincrement=True, chat_id=255)
    # The copies set each sequence to the table's highest id; ids named elsewhere may be higher.
    for table_name, (other, column) in NAMED_ELSEWHERE.items():
        highest = f"(SELECT max({column}) FROM {other})"
        op.execute(
            f"UPDATE sqlite_sequence SET seq = max(seq, coalesce({highest}, 0)) WHERE name = '{table_name}'"
        )
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table_name}', {highest} "
            f"WHERE {highest} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table_name}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        # Code before 0010 cannot read encrypted chat ids anyway; this fails on those over 64 characters.
        op.alter_column("users", "chat_id", type_=sa.String(64), existing_type=sa.String(255))
        return
    _rebuild_sqlite(autoincrement=False, chat_id=64)
