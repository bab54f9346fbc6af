"""sla_breaches: one row per conversation and missed target, so a breach is recorded (and its lead
nudged) exactly once however many workers sweep; and an index of the not-closed conversations by team
and opening time, which is all the periodic SLA sweep reads

Revision ID: 0007
Revises: 0008 (branch sla was merged with main, which already had 0008 on 0003, so it chains after it)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_breaches",
        sa.Column("conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_sla_breaches_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", "target", name=op.f("pk_sla_breaches")),
    )
    op.create_index(
        "ix_conversations_not_closed",
        "conversations",
        ["team_id", "opened_at"],
        sqlite_where=sa.text("state != 'closed'"),
        postgresql_where=sa.text("state != 'closed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_not_closed", table_name="conversations")
    op.drop_table("sla_breaches")
