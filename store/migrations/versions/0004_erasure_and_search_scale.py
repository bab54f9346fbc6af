"""erasure and scale: erasable event bodies (retention, ``traza forget``) and indexes for 1M messages

Erasure (see store/erasure.py for the design): ``events.erased_by`` names the erasure event that
replaced a payload with a tombstone, and the append-only guard is narrowed to allow exactly that
one UPDATE: every other column unchanged, ``erased_by`` going from NULL to the seq of a later,
existing ``MessageBodiesErased``/``CustomerDataErased`` event, and the new payload a JSON object with
an ``erased`` object. DELETE and TRUNCATE stay refused, and so does every other UPDATE.
``message_links.erased_at`` marks links whose body and payload were blanked.

Indexes: ``ix_events_erasable`` (partial: body events not erased yet, by time) keeps the retention
job cheap when there is nothing to do; ``ix_events_type_occurred`` (covering on PostgreSQL) serves
the metrics queries; ``ix_message_links_unerased`` and ``ix_webhook_inbox_processed`` are retention's
other work lists; ``ix_conversations_contact`` serves a customer's history, ``ix_conversations_opened_at``
``/traza stats``.
PostgreSQL search: a stored generated ``body_tsv`` column with a GIN index replaces 0002's
expression index, so ``ts_rank`` reads the stored vector instead of re-parsing every matching body.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BODY_EVENT_TYPES = (
    "CustomerMessageReceived",
    "ReplyReceived",
    "ReplyRefused",
    "NoteAdded",
    "ReplyEditAttempted",
    "ReplyDeleteAttempted",
)
ERASURE_TYPES = "('MessageBodiesErased', 'CustomerDataErased')"
_ERASABLE = "erased_by IS NULL AND type IN (" + ", ".join(f"'{t}'" for t in BODY_EVENT_TYPES) + ")"
_KEPT = (
    *("seq", "occurred_at", "type", "conversation_id", "ref", "actor", "team_id", "phone_number_id"),
    *("content_hash", "prev_hash", "hash"),
)

_PG_GUARD = f"""
CREATE OR REPLACE FUNCTION traza_events_append_only() RETURNS trigger AS $$
BEGIN
    -- The one UPDATE allowed: a recorded erasure replacing the payload with a tombstone.
    IF TG_OP = 'UPDATE' AND OLD.erased_by IS NULL AND NEW.erased_by IS NOT NULL
        AND NEW.erased_by > OLD.seq
        AND ({", ".join("NEW." + c for c in _KEPT)})
            IS NOT DISTINCT FROM ({", ".join("OLD." + c for c in _KEPT)})
        AND jsonb_typeof(NEW.payload::jsonb -> 'erased') = 'object'
        AND EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.erased_by AND e.type IN {ERASURE_TYPES})
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""

_PG_GUARD_0001 = """
CREATE OR REPLACE FUNCTION traza_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""

_SQLITE_GUARD = f"""
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT coalesce((
    OLD.erased_by IS NULL AND NEW.erased_by IS NOT NULL AND NEW.erased_by > OLD.seq
    AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT)}
    AND json_valid(NEW.payload) AND json_type(NEW.payload, '$.erased') = 'object'
    AND EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.erased_by AND e.type IN {ERASURE_TYPES})
), 0)
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END
"""

_SQLITE_GUARD_0001 = (
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END"
)

_PG_TSV = (
    "ALTER TABLE message_links ADD COLUMN body_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple'::regconfig, traza_fold(coalesce(body, '')))) STORED"
)
_PG_FTS_0002 = (
    "CREATE INDEX ix_message_links_body_fts ON message_links "
    "USING gin (to_tsvector('simple'::regconfig, traza_fold(coalesce(body, ''))))"
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("events", sa.Column("erased_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.add_column("message_links", sa.Column("erased_at", sa.DateTime(timezone=True)))
    if postgres:
        op.execute(_PG_GUARD)
    else:
        op.execute("DROP TRIGGER events_no_update")
        op.execute(_SQLITE_GUARD)
    erasable = sa.text(_ERASABLE)
    op.create_index(
        "ix_events_erasable", "events", ["occurred_at"], sqlite_where=erasable, postgresql_where=erasable
    )
    # Covering on PostgreSQL: the metrics' state aggregate reads it without touching the table.
    op.create_index(
        "ix_events_type_occurred",
        "events",
        ["type", "occurred_at"],
        postgresql_include=["conversation_id", "seq", "team_id"],
    )
    op.create_index("ix_conversations_contact", "conversations", ["contact_id", "opened_at"])
    op.create_index("ix_conversations_opened_at", "conversations", ["opened_at"])
    unerased = sa.text("erased_at IS NULL")
    op.create_index(
        "ix_message_links_unerased",
        "message_links",
        ["sent_at"],
        sqlite_where=unerased,
        postgresql_where=unerased,
    )
    processed = sa.text("processed_at IS NOT NULL")
    op.create_index(
        "ix_webhook_inbox_processed",
        "webhook_inbox",
        ["received_at"],
        sqlite_where=processed,
        postgresql_where=processed,
    )
    if postgres:
        op.execute(_PG_TSV)
        op.execute("CREATE INDEX ix_message_links_body_tsv ON message_links USING gin (body_tsv)")
        op.execute("DROP INDEX IF EXISTS ix_message_links_body_fts")
        _match_cost(100)


def _match_cost(cost: int) -> None:
    """Tell the planner what ``tsvector @@ tsquery`` really costs per row (its default, 1, is that of
    an integer comparison): with it a common word walks the primary key backwards for the newest
    matches and a rarer one uses the GIN index; without it a two-word search scans half the table.
    Only this database's catalogue changes; without the privilege the default stays."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text(f"ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) COST {cost}"))
    except Exception:  # not the function's owner: searches stay correct, two-word ones slower
        pass


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _match_cost(1)
        op.execute(_PG_FTS_0002)
        op.execute("DROP INDEX IF EXISTS ix_message_links_body_tsv")
        op.execute("ALTER TABLE message_links DROP COLUMN body_tsv")
    for table, name in (
        ("conversations", "ix_conversations_opened_at"),
        ("conversations", "ix_conversations_contact"),
        ("webhook_inbox", "ix_webhook_inbox_processed"),
        ("message_links", "ix_message_links_unerased"),
        ("events", "ix_events_type_occurred"),
        ("events", "ix_events_erasable"),
    ):
        op.drop_index(name, table_name=table)
    if postgres:
        op.execute(_PG_GUARD_0001)
        op.execute("ALTER TABLE events DROP COLUMN erased_by")
        op.execute("ALTER TABLE message_links DROP COLUMN erased_at")
    else:
        op.execute("DROP TRIGGER events_no_update")
        op.execute(_SQLITE_GUARD_0001)
        # SQLite 3.35+ drops a plain column in place (a batch copy would lose 0002's FTS triggers).
        op.execute("ALTER TABLE events DROP COLUMN erased_by")
        op.execute("ALTER TABLE message_links DROP COLUMN erased_at")
