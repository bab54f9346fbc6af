"""Retention on SQLite and PostgreSQL: old message bodies are erased by the job (events, links, raw
webhooks, search), recent ones stay, the history keeps its events and still verifies, and the
database and ``audit verify`` still refuse or detect every change that is not a recorded erasure."""

from __future__ import annotations

import json
from datetime import timedelta
from string import Template

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from store import events, retention
from store.search import search_messages, timeline
from store.tables import event_chain_head, message_links, webhook_inbox
from store.tables import events as events_table
from tests.integration.customers import NOW, OLD, two_customers
from tests.integration.test_audit import tamper


async def body_events(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events_table)
            .where(events_table.c.type.in_(["CustomerMessageReceived", "ReplyReceived", "NoteAdded"]))
            .order_by(events_table.c.seq)
        )
        return [dict(r) for r in rows.mappings()]


async def found(engine: AsyncEngine, words: str) -> list[str]:
    async with engine.connect() as conn:
        return [hit.body for hit in await search_messages(conn, words, team_ids=None)]


async def verify(engine: AsyncEngine) -> events.ChainBreak | None:
    async with engine.connect() as conn:
        return await events.verify(conn)


async def test_retention_erases_only_old_bodies_and_the_history_still_verifies(engine: AsyncEngine) -> None:
    await two_customers(engine)
    before = await body_events(engine)
    assert await found(engine, "secreto") and await found(engine, "confidencial")

    done = await retention.erase_expired(engine, NOW, 365)

    assert (done.events, done.links, done.webhooks) == (4, 3, 1)  # 2 customer messages, a reply, a note
    after = await body_events(engine)
    assert [(e["seq"], e["type"], e["actor"], e["occurred_at"]) for e in after] == [
        (e["seq"], e["type"], e["actor"], e["occurred_at"]) for e in before
    ]
    old = [e for e in after if e["occurred_at"] < NOW - timedelta(days=365)]
    assert len(old) == 4 and all(e["erased_by"] is not None for e in old)
    for event in old:
        payload = json.loads(str(event["payload"]))
        assert "text" not in payload and payload["erased"]["why"] == "retention"
    assert all(e["erased_by"] is None and "pedido nuevo" in str(e["payload"]) for e in after if e not in old)
    assert await found(engine, "secreto") == [] and await found(engine, "confidencial") == []
    assert await found(engine, "recibo") == []
    assert await found(engine, "nuevo") == ["pedido nuevo de Bruno", "pedido nuevo de Ana"]
    async with engine.connect() as conn:
        links = (await conn.execute(select(message_links).order_by(message_links.c.id))).mappings().all()
        inbox = (await conn.execute(select(func.count()).select_from(webhook_inbox))).scalar_one()
        lines = [entry.summary for entry in await timeline(conn, 1001)]
        assert await events.count_erased(conn) == 4
    assert [bool(link["erased_at"]) for link in links] == [True, True, True, False, False]
    assert all(link["body"] is None and "MEDIA-ANA-1" not in link["payload"] for link in links[:3])
    assert inbox == 2  # the old raw webhook is gone, the recent ones stay
    assert lines.count("[erased]") == 3 and "note: [erased]" in lines and "pedido nuevo de Ana" in lines
    assert await verify(engine) is None
    async with engine.connect() as conn:
        assert await events.verify(conn, 1001) is None


async def test_a_pass_with_nothing_to_erase_records_nothing(engine: AsyncEngine) -> None:
    await two_customers(engine)
    await retention.erase_expired(engine, NOW, 365)
    async with engine.connect() as conn:
        head = (await conn.execute(select(event_chain_head.c.seq))).scalar_one()
    again = await retention.erase_expired(engine, NOW + timedelta(hours=1), 365)
    assert (again.events, again.links, again.webhooks) == (0, 0, 0)
    async with engine.connect() as conn:
        assert (await conn.execute(select(event_chain_head.c.seq))).scalar_one() == head
        erasures = await conn.scalar(
            select(func.count()).where(events_table.c.type == str(EventType.MESSAGE_BODIES_ERASED))
        )
    assert erasures == 1


async def test_batches_each_record_their_own_erasure(engine: AsyncEngine) -> None:
    await two_customers(engine)
    done = await retention.erase_expired(engine, NOW, 365, batch=3)
    assert done.events == 4
    async with engine.connect() as conn:
        erasures = await conn.scalar(
            select(func.count()).where(events_table.c.type == str(EventType.MESSAGE_BODIES_ERASED))
        )
    assert erasures == 2
    assert await verify(engine) is None


async def test_a_body_changed_to_anything_but_its_recorded_tombstone_is_detected(engine: AsyncEngine) -> None:
    await two_customers(engine)
    await retention.erase_expired(engine, NOW, 365)
    erased = next(e for e in await body_events(engine) if e["erased_by"] is not None)
    forged = json.dumps({"erased": {"why": "retention", "keys": []}, "kind": "forged"})
    await tamper(engine, f"UPDATE events SET payload = '{forged}' WHERE seq = {erased['seq']}")
    broken = await verify(engine)
    assert broken is not None and broken.seq == erased["seq"] and "content" in broken.reason


async def test_a_fake_erasure_of_a_kept_body_is_detected(engine: AsyncEngine) -> None:
    await two_customers(engine)
    await retention.erase_expired(engine, NOW, 365)
    events_now = await body_events(engine)
    kept = next(e for e in events_now if e["erased_by"] is None)
    by = next(e["erased_by"] for e in events_now if e["erased_by"] is not None)
    stone = json.dumps({"erased": {"why": "retention", "keys": ["text"]}})
    await tamper(engine, f"UPDATE events SET payload = '{stone}', erased_by = {by} WHERE seq = {kept['seq']}")
    broken = await verify(engine)
    assert broken is not None and broken.seq == kept["seq"] and "content" in broken.reason


async def test_an_altered_erasure_record_is_detected(engine: AsyncEngine) -> None:
    await two_customers(engine)
    await retention.erase_expired(engine, NOW, 365)
    async with engine.connect() as conn:
        seq = await conn.scalar(
            select(events_table.c.seq).where(events_table.c.type == str(EventType.MESSAGE_BODIES_ERASED))
        )
    await tamper(engine, f"UPDATE events SET payload = '{{\"erased\":{{}}}}' WHERE seq = {seq}")
    broken = await verify(engine)
    assert broken is not None  # the erased events no longer match, and the record itself is altered


@pytest.mark.parametrize(
    "sql",
    [
        # a tombstone, but without naming an erasure event
        """UPDATE events SET payload = '{"erased":{"why":"x","keys":[]}}' WHERE seq = $kept""",
        # naming an event that is not an erasure
        """UPDATE events SET payload = '{"erased":{"why":"x","keys":[]}}', erased_by = $kept2
           WHERE seq = $kept""",
        # a recorded erasure may not touch anything but the payload
        """UPDATE events SET payload = '{"erased":{"why":"x","keys":[]}}', erased_by = $by, actor = 'x'
           WHERE seq = $kept""",
        # the new payload must be a tombstone
        """UPDATE events SET payload = '{"text":"forged"}', erased_by = $by WHERE seq = $kept""",
        # an erased event cannot be erased (or changed) again
        """UPDATE events SET payload = '{"erased":{"why":"again","keys":[]}}' WHERE seq = $gone""",
        "DELETE FROM events WHERE seq = $gone",
    ],
)
async def test_the_database_refuses_every_change_but_a_recorded_erasure(
    engine: AsyncEngine, sql: str
) -> None:
    await two_customers(engine)
    await retention.erase_expired(engine, NOW, 365)
    events_now = await body_events(engine)
    kept = [e for e in events_now if e["erased_by"] is None]
    gone = next(e for e in events_now if e["erased_by"] is not None)
    # The erasure events come after every body event; 'kept2' is a body event after 'kept'.
    statement = Template(sql).substitute(
        kept=kept[0]["seq"], kept2=kept[-1]["seq"], by=gone["erased_by"], gone=gone["seq"]
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))


async def test_old_webhooks_not_yet_applied_are_kept(engine: AsyncEngine) -> None:
    from sqlalchemy import insert

    async with engine.begin() as conn:
        await conn.execute(insert(webhook_inbox).values(received_at=OLD, body=b"{}"))
    done = await retention.erase_expired(engine, NOW, 365)
    assert done.webhooks == 0
