"""message search: full-text search over message_links.body

PostgreSQL: a GIN expression index on ``to_tsvector('simple', traza_fold(coalesce(body, '')))``.
``traza_fold`` is an IMMUTABLE function that strips accents: ``unaccent`` when that extension is
available (created here if it can be), otherwise ``translate`` over the Latin letters Spanish,
Portuguese, French and German use. The 'simple' configuration lowercases without stemming, so
every language behaves the same. store/search.py must use the index expression exactly.

SQLite: an FTS5 external-content table ``message_search`` over message_links (rowid = id,
``unicode61 remove_diacritics 2``), kept in sync by triggers and built from the existing rows.
Note for later migrations: a batch ALTER of message_links on SQLite recreates the table and drops
these triggers; recreate them (see ``_SQLITE_TRIGGERS``) and rebuild the index afterwards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PG_INDEX = "ix_message_links_body_fts"

_ACCENTED = "ÁÀÂÃÄÅáàâãäåÉÈÊËéèêëÍÌÎÏíìîïÓÒÔÕÖØóòôõöøÚÙÛÜúùûüÑñÇçÝýÿ"
_PLAIN = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOOooooooUUUUuuuuNnCcYyy"
assert len(_ACCENTED) == len(_PLAIN)

_FOLD_TRANSLATE = f"""
CREATE OR REPLACE FUNCTION traza_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT pg_catalog.translate($1, '{_ACCENTED}', '{_PLAIN}') $$
"""

_FOLD_UNACCENT = """
CREATE OR REPLACE FUNCTION traza_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1) $$
"""

_PG_CREATE_INDEX = (
    f"CREATE INDEX {PG_INDEX} ON message_links "
    "USING gin (to_tsvector('simple'::regconfig, traza_fold(coalesce(body, ''))))"
)

_SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE message_search USING fts5("
    "body, content='message_links', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER message_search_ai AFTER INSERT ON message_links BEGIN "
    "INSERT INTO message_search(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER message_search_ad AFTER DELETE ON message_links BEGIN "
    "INSERT INTO message_search(message_search, rowid, body) VALUES ('delete', old.id, old.body); END",
    # Only a change of body (or id) touches the index: status updates are frequent and irrelevant.
    "CREATE TRIGGER message_search_au AFTER UPDATE OF id, body ON message_links BEGIN "
    "INSERT INTO message_search(message_search, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO message_search(rowid, body) VALUES (new.id, new.body); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_fold_function())
        op.execute(_PG_CREATE_INDEX)
    else:
        op.execute(_SQLITE_TABLE)
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute("INSERT INTO message_search(message_search) VALUES ('rebuild')")


def _pg_fold_function() -> str:
    """``unaccent`` when it is (or can be) installed, else the ``translate`` fallback."""
    bind = op.get_bind()
    available = bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")).scalar()
    if available:
        try:
            with bind.begin_nested():
                bind.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
        except Exception:  # no privilege to create it: the fallback is good enough
            pass
    schema = bind.execute(
        text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        )
    ).scalar()
    if schema is None:
        return _FOLD_TRANSLATE
    return _FOLD_UNACCENT.format(schema=f'"{schema}"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
        op.execute("DROP FUNCTION IF EXISTS traza_fold(text)")
    else:
        for name in ("message_search_ai", "message_search_ad", "message_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS message_search")
