"""Erasing message bodies and personal data while the history stays append-only and verifiable.

The design, and why: an event's ``hash`` chains its recorded fields and ``content_hash`` (SHA-256
of its payload), not the payload itself, so a payload can change without breaking any link. Rather
than moving bodies to a side table (events recorded before this existed hash their whole payload,
so two formats would live forever and every reader would need a join), an erasure replaces the
payload *in place* with a **tombstone**: the same JSON object without its body keys and with an
``erased`` object saying why. Every erasure is itself an event (``MessageBodiesErased`` for
retention, ``CustomerDataErased`` for ``traza forget``) appended to the chain first, whose payload
maps each erased seq to the SHA-256 of its tombstone; the erased row's ``erased_by`` names it.

So after an erasure every byte of ``events`` is still committed to by the chain: ``events.verify``
accepts a payload whose content hash no longer matches only when ``erased_by`` names a later
erasure event that recorded exactly this tombstone's hash; anything else is reported as altered.
The database (migration 0004) refuses every UPDATE except that one: other columns unchanged,
``erased_by`` set once to an existing erasure event, the new payload carrying an ``erased`` object.
DELETE and TRUNCATE stay refused. ``message_links`` (a working table, not the history) has its body
and payload blanked and ``erased_at`` set; the search index forgets the body with it (SQLite's FTS
triggers fire on the body update, PostgreSQL's ``body_tsv`` is a generated column).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store import events
from store.events import NewEvent, canonical_json, content_hash
from store.tables import event_chain_head, message_links
from store.tables import events as events_table

# Payload keys holding what a customer or agent wrote or sent (text, captions, file names, params).
BODY_KEYS = ("text", "caption", "old_text", "new_text", "files", "problems", "params")
# ... and the keys naming the customer, erased on request (``traza forget``).
PERSONAL_KEYS = (*BODY_KEYS, "phone", "old_wa_id", "new_wa_id", "old_user_id", "new_user_id")
BATCH = 500


def tombstone(payload_json: str, keys: Sequence[str], why: str, *, always: bool = False) -> str | None:
    """The payload without ``keys`` and with ``erased: {why, keys}``; ``None`` when nothing to erase
    (unless ``always``: retention marks every old body event, so it is not looked at again)."""
    try:
        payload = json.loads(payload_json)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return canonical_json({"erased": {"why": why, "keys": ["*"]}})
    if isinstance(payload.get("erased"), dict):
        return None  # already a tombstone
    found = sorted(k for k in keys if payload.get(k) not in (None, "", [], {}))
    if not found and not always:
        return None
    kept = {k: v for k, v in payload.items() if k not in keys}
    kept["erased"] = {"why": why, "keys": found}
    return canonical_json(kept)


async def lock_chain(conn: AsyncConnection) -> None:
    """Serialize erasures (and appends) on the chain head before choosing what to erase."""
    await conn.execute(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1).with_for_update())


async def erase_events(
    conn: AsyncConnection,
    rows: Iterable[tuple[int, str]],
    erasure: NewEvent,
    keys: Sequence[str],
    *,
    always: bool = False,
) -> int:
    """Tombstone the payloads of ``rows`` (seq, payload) and record ``erasure`` listing them.

    The caller holds the chain lock (``lock_chain``) and chose rows with ``erased_by IS NULL``.
    Returns how many events were erased; nothing is recorded when there is nothing to erase.
    """
    why = str(erasure.payload.get("why", "erased"))
    stones = {seq: t for seq, payload in rows if (t := tombstone(payload, keys, why, always=always))}
    if not stones:
        return 0
    listed = {str(seq): content_hash(t) for seq, t in stones.items()}
    await events.append(
        conn,
        [
            NewEvent(
                erasure.type,
                erasure.occurred_at,
                erasure.conversation_id,
                erasure.ref,
                erasure.actor,
                erasure.team_id,
                erasure.phone_number_id,
                {**erasure.payload, "erased": listed},
            )
        ],
    )
    by = int(await conn.scalar(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1)) or 0)
    await conn.execute(
        update(events_table)
        .where(events_table.c.seq == bindparam("b_seq"), events_table.c.erased_by.is_(None))
        .values(payload=bindparam("b_payload"), erased_by=by),
        [{"b_seq": seq, "b_payload": t} for seq, t in stones.items()],
    )
    return len(stones)


async def erase_links(conn: AsyncConnection, link_ids: Sequence[int], why: str, now: datetime) -> int:
    """Blank the body and payload (media ids, captions, file urls) of message links."""
    if not link_ids:
        return 0
    blank: dict[str, Any] = {
        "body": None,
        "payload": canonical_json({"erased": {"why": why}}),
        "erased_at": now,
    }
    result = await conn.execute(
        update(message_links)
        .where(message_links.c.id.in_(list(link_ids)), message_links.c.erased_at.is_(None))
        .values(**blank)
    )
    return int(result.rowcount or 0)
