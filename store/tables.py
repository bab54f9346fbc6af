"""The database schema as SQLAlchemy Core tables (the Alembic migrations are the source of truth).

Core rather than the ORM: every hot path here is a handful of explicit statements, and keeping them
visible makes the transaction boundaries (what is durable before a webhook is acknowledged, what a
job commits) easy to review.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for large tables.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Ts = UtcDateTime()

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", Ts, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("processed_at", Ts),
    Column("error", Text),
)
Index(
    "ix_webhook_inbox_pending",
    webhook_inbox.c.id,
    sqlite_where=text("processed_at IS NULL"),
    postgresql_where=text("processed_at IS NULL"),
)
# Retention deletes processed raw webhooks by age (migration 0004).
Index(
    "ix_webhook_inbox_processed",
    webhook_inbox.c.received_at,
    sqlite_where=text("processed_at IS NOT NULL"),
    postgresql_where=text("processed_at IS NOT NULL"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("slack_channel", String(40), nullable=False),
)

business_numbers = Table(
    "business_numbers",
    metadata,
    Column("phone_number_id", String(40), primary_key=True),
    Column("display_phone_number", String(40), nullable=False, server_default=""),
    Column("default_team", String(40)),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("wa_id", String(40), index=True),
    Column("user_id", String(200), index=True),
    Column("username", String(200)),
    Column("profile_name", String(300)),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", BigInteger, unique=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column(
        "phone_number_id",
        String(40),
        ForeignKey("business_numbers.phone_number_id"),
        nullable=False,
    ),
    Column("team_id", String(40), nullable=False),
    Column("state", String(20), nullable=False),
    Column("assignee", String(40)),
    Column("slack_channel", String(40), nullable=False),
    Column("slack_thread_ts", String(40)),
    Column("opened_at", Ts, nullable=False),
    Column("last_customer_message_at", Ts),
    Column("last_agent_message_at", Ts),
    Column("first_response_at", Ts),
    Column("window_ends_at", Ts),
    Column("closed_at", Ts),
    Column("closed_by", String(40)),
    Column("close_reason", Text),
    Column("previous_conversation_id", Id, ForeignKey("conversations.id")),
    Column("routing_rule", String(200)),
    Column("assigned_at", Ts),
    Column("labels", Text),  # ",a,b," (see bridge.teamtools.encode_labels); the events hold the history
    # A conversation waiting for the customer's answer to a routing menu (rule ``menu_rule``) until
    # ``menu_until``; NULL once routed. Held conversations have no card and their messages wait.
    Column("menu_rule", Integer),
    Column("menu_until", Ts),
)
Index("ix_conversations_assignee", conversations.c.assignee, conversations.c.state)
Index(
    "ix_conversations_live_team",
    conversations.c.team_id,
    conversations.c.state,
    sqlite_where=text("state != 'closed'"),
    postgresql_where=text("state != 'closed'"),
)
Index("ix_conversations_menu_until", conversations.c.menu_until)
# One open conversation per customer and business number, enforced by the database.
Index(
    "uq_conversations_open",
    conversations.c.contact_id,
    conversations.c.phone_number_id,
    unique=True,
    sqlite_where=text("state != 'closed'"),
    postgresql_where=text("state != 'closed'"),
)
Index("ix_conversations_thread", conversations.c.slack_channel, conversations.c.slack_thread_ts)
# A customer's history and /traza stats (migration 0004).
Index("ix_conversations_contact", conversations.c.contact_id, conversations.c.opened_at)
Index("ix_conversations_opened_at", conversations.c.opened_at)
# What the SLA sweep reads: conversations not closed yet, by team and age (migration 0007).
Index(
    "ix_conversations_not_closed",
    conversations.c.team_id,
    conversations.c.opened_at,
    sqlite_where=text("state != 'closed'"),
    postgresql_where=text("state != 'closed'"),
)

message_links = Table(
    "message_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("direction", String(10), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("wa_message_id", String(200), unique=True),
    Column("slack_channel", String(40)),
    Column("slack_ts", String(40)),
    Column("author", String(40)),
    Column("body", Text),
    Column("payload", Text),
    Column("status", String(20), nullable=False),
    Column("status_at", Ts),
    Column("error_code", Integer),
    Column("error_text", Text),
    Column("sent_at", Ts, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("erased_at", Ts),
)
Index("ix_message_links_slack", message_links.c.slack_channel, message_links.c.slack_ts)
# Retention's work list: links whose body is not erased yet, oldest first (migration 0004).
Index(
    "ix_message_links_unerased",
    message_links.c.sent_at,
    sqlite_where=text("erased_at IS NULL"),
    postgresql_where=text("erased_at IS NULL"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("occurred_at", Ts, nullable=False),
    Column("type", String(60), nullable=False),
    Column("conversation_id", Id, index=True),
    Column("ref", BigInteger),
    Column("actor", String(200)),
    Column("team_id", String(40)),
    Column("phone_number_id", String(40)),
    Column("payload", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    # The seq of the erasure event that replaced this event's payload with a tombstone (store/erasure.py).
    Column("erased_by", Id),
)
# Event types whose payload carries a message body (text, captions, file names, template params).
BODY_EVENT_TYPES = (
    "CustomerMessageReceived",
    "ReplyReceived",
    "ReplyRefused",
    "NoteAdded",
    "ReplyEditAttempted",
    "ReplyDeleteAttempted",
)
_ERASABLE = "erased_by IS NULL AND type IN (" + ", ".join(f"'{t}'" for t in BODY_EVENT_TYPES) + ")"
# Metrics read events by type and time; retention reads the bodies not erased yet by time (0004).
Index(
    "ix_events_type_occurred",
    events.c.type,
    events.c.occurred_at,
    postgresql_include=["conversation_id", "seq", "team_id"],
)
Index(
    "ix_events_erasable",
    events.c.occurred_at,
    sqlite_where=text(_ERASABLE),
    postgresql_where=text(_ERASABLE),
)

event_chain_head = Table(
    "event_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Id, nullable=False),
    Column("hash", String(64), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("queue_key", String(100), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("slack_channel", String(40)),
    Column("available_at", Ts, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", Ts),
    Column("locked_by", String(200)),
    Column("last_error", Text),
    Column("created_at", Ts, nullable=False),
)
Index("ix_jobs_queue", jobs.c.queue_key, jobs.c.id)
Index("ix_jobs_available", jobs.c.available_at)

conversation_threads = Table(
    "conversation_threads",
    metadata,
    Column("slack_channel", String(40), primary_key=True),
    Column("slack_thread_ts", String(40), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("created_at", Ts, nullable=False),
)

processed_keys = Table(
    "processed_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("created_at", Ts, nullable=False),
)

# One row per conversation and missed SLA target: the primary key makes a breach happen once.
sla_breaches = Table(
    "sla_breaches",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("target", String(20), primary_key=True),
    Column("team_id", String(40), nullable=False),
    Column("due_at", Ts, nullable=False),
    Column("breached_at", Ts, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("until", Ts, nullable=False),
)

webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("endpoint", String(60), primary_key=True),
    Column("seq", Id, nullable=False),
    Column("updated_at", Ts, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("endpoint", String(60), nullable=False),
    Column("seq", Id, nullable=False),
    Column("queue_key", String(60), nullable=False),
    Column("available_at", Ts, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", Ts),
    Column("locked_by", String(200)),
    Column("last_error", Text),
    Column("created_at", Ts, nullable=False),
    UniqueConstraint("endpoint", "seq", name="uq_webhook_deliveries_endpoint_seq"),
)
Index(
    "ix_webhook_deliveries_queue",
    webhook_deliveries.c.endpoint,
    webhook_deliveries.c.queue_key,
    webhook_deliveries.c.id,
)
Index("ix_webhook_deliveries_available", webhook_deliveries.c.available_at)

customer_facts = Table(
    "customer_facts",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("facts", Text, nullable=False),
    Column("problem", Text),
    Column("looked_up_at", Ts, nullable=False),
)
Index("ix_customer_facts_contact", customer_facts.c.contact_id, customer_facts.c.looked_up_at)

agent_status = Table(
    "agent_status",
    metadata,
    Column("user_id", String(40), primary_key=True),
    Column("away", Boolean, nullable=False),
    Column("since", Ts, nullable=False),
)

# One row per team with automatic assignment: where its round robin stands. Locking it serializes
# the team's assignment decisions across workers, so loads and capacity are read and written as one.
team_assignment = Table(
    "team_assignment",
    metadata,
    Column("team_id", String(40), primary_key=True),
    Column("last_agent", String(40)),
    Column("updated_at", Ts, nullable=False),
)

__all__ = [
    "agent_status",
    "business_numbers",
    "contacts",
    "conversations",
    "customer_facts",
    "event_chain_head",
    "events",
    "jobs",
    "leases",
    "message_links",
    "metadata",
    "processed_keys",
    "sla_breaches",
    "team_assignment",
    "teams",
    "webhook_cursors",
    "webhook_deliveries",
    "webhook_inbox",
]
