"""conversation_threads: every thread a conversation has had, so a reply in a thread left behind by
a transfer still finds its conversation (and its author is told where it went)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_threads",
        sa.Column("slack_channel", sa.String(length=40), nullable=False),
        sa.Column("slack_thread_ts", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_threads_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("slack_channel", "slack_thread_ts", name=op.f("pk_conversation_threads")),
    )
    op.execute(
        "INSERT INTO conversation_threads (slack_channel, slack_thread_ts, conversation_id, created_at) "
        "SELECT slack_channel, slack_thread_ts, id, opened_at FROM conversations WHERE slack_thread_ts IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("conversation_threads")
