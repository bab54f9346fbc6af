"""routing menu: a conversation can wait for the customer's answer to a routing menu
(``menu_rule``, ``menu_until``) before it is routed and gets its card

Revision ID: 0005
Revises: 0007 (migrations were numbered per branch; the chain is 0003 → 0004 → 0006 → 0008 → 0007 → 0005)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite, which would drop the partial unique index's WHERE).
    op.add_column("conversations", sa.Column("menu_rule", sa.Integer(), nullable=True))
    op.add_column("conversations", sa.Column("menu_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_conversations_menu_until", "conversations", ["menu_until"])


def downgrade() -> None:
    op.drop_index("ix_conversations_menu_until", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("menu_until")
        batch.drop_column("menu_rule")
