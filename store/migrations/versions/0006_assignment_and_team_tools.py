"""assignment and the team's everyday tools: who is away, each team's round-robin position, when a
conversation was assigned, its labels; indexes for agents' loads and a customer's earlier conversations

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("labels", sa.Text(), nullable=True))
    op.create_index("ix_conversations_assignee", "conversations", ["assignee", "state"])
    op.create_index("ix_conversations_contact", "conversations", ["contact_id", "id"])
    # Partial: only the sweeps ask by team and live state (a search by team must not be steered here).
    op.create_index(
        "ix_conversations_live_team",
        "conversations",
        ["team_id", "state"],
        sqlite_where=sa.text("state != 'closed'"),
        postgresql_where=sa.text("state != 'closed'"),
    )
    op.create_table(
        "agent_status",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_status")),
    )
    op.create_table(
        "team_assignment",
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("last_agent", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_assignment")),
    )


def downgrade() -> None:
    op.drop_table("team_assignment")
    op.drop_table("agent_status")
    op.drop_index("ix_conversations_live_team", "conversations")
    op.drop_index("ix_conversations_contact", "conversations")
    op.drop_index("ix_conversations_assignee", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("labels")
        batch.drop_column("assigned_at")
