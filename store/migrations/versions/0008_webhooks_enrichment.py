"""outbound webhooks and CRM enrichment: a cursor per webhook endpoint, the deliveries it still owes,
and the customer facts each conversation's CRM lookup returned

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_cursors",
        sa.Column("endpoint", sa.String(length=60), nullable=False),
        sa.Column("seq", Id, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", name=op.f("pk_webhook_cursors")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=60), nullable=False),
        sa.Column("seq", Id, nullable=False),
        sa.Column("queue_key", sa.String(length=60), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("endpoint", "seq", name="uq_webhook_deliveries_endpoint_seq"),
    )
    op.create_index(
        "ix_webhook_deliveries_queue", "webhook_deliveries", ["endpoint", "queue_key", "id"], unique=False
    )
    op.create_index("ix_webhook_deliveries_available", "webhook_deliveries", ["available_at"], unique=False)
    op.create_table(
        "customer_facts",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_customer_facts_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_customer_facts_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_customer_facts")),
    )
    op.create_index(
        "ix_customer_facts_contact", "customer_facts", ["contact_id", "looked_up_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_customer_facts_contact", table_name="customer_facts")
    op.drop_table("customer_facts")
    op.drop_index("ix_webhook_deliveries_available", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_queue", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_cursors")
