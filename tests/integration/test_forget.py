"""``forget_customer`` on SQLite and PostgreSQL: a customer's personal data goes, the history keeps
its events and verifies, other customers are untouched, a dry run changes nothing, and asking twice
is harmless."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.errors import InvalidInput
from store import events
from store.forget import forget_customer
from store.search import contact_history, search_messages
from store.tables import contacts, conversations, message_links, webhook_inbox
from store.tables import events as events_table
from tests.integration.customers import ANA, BRUNO, NOW, two_customers


async def snapshot(engine: AsyncEngine) -> list[list[tuple[object, ...]]]:
    tables = (contacts, message_links, events_table, webhook_inbox)
    async with engine.connect() as conn:
        return [
            [tuple(r) for r in (await conn.execute(select(t).order_by(*t.primary_key.columns))).all()]
            for t in tables
        ]


async def test_a_dry_run_counts_and_changes_nothing(engine: AsyncEngine) -> None:
    await two_customers(engine)
    before = await snapshot(engine)
    plan = await forget_customer(engine, "+52 1 55 1234 5678", actor="U0LEAD0001", now=NOW, dry_run=True)
    assert plan is not None and plan.refs == [1001]
    assert (plan.links, plan.events, plan.webhooks) == (4, 5, 2)
    assert plan.recorded_seq is None
    assert await snapshot(engine) == before


async def test_forget_erases_the_customer_and_records_who_asked(engine: AsyncEngine) -> None:
    await two_customers(engine)
    done = await forget_customer(engine, "+52 55 1234 5678", actor="U0LEAD0001", now=NOW)
    assert done is not None and done.refs == [1001] and len(done.contact_ids) == 1
    assert (done.links, done.events, done.webhooks) == (4, 5, 2)
    async with engine.connect() as conn:
        assert await contact_history(conn, "+52 1 55 1234 5678") == []
        assert [h.ref for h in await contact_history(conn, "+" + BRUNO)] == [1002]
        assert [h.body for h in await search_messages(conn, "pedido", team_ids=None)] == [
            "pedido nuevo de Bruno"
        ]
        ana = (
            (await conn.execute(select(contacts).where(contacts.c.id == done.contact_ids[0])))
            .mappings()
            .one()
        )
        links = (await conn.execute(select(message_links).order_by(message_links.c.id))).mappings().all()
        conv = (await conn.execute(select(conversations).where(conversations.c.ref == 1001))).mappings().one()
        record = (
            await conn.execute(select(events_table).where(events_table.c.seq == done.recorded_seq))
        ).one()
        inbox = (await conn.execute(select(func.count()).select_from(webhook_inbox))).scalar_one()
        assert await events.verify(conn) is None and await events.verify(conn, 1001) is None
        timeline = (
            (await conn.execute(select(events_table).where(events_table.c.ref == 1001))).mappings().all()
        )
    assert (ana["wa_id"], ana["profile_name"], ana["user_id"]) == (None, None, None)
    assert ana["key"].startswith("erased:") and ANA not in ana["key"]
    assert conv["contact_id"] == ana["id"] and conv["state"] == "open"  # the conversation stays
    ana_links = [link for link in links if link["conversation_id"] == conv["id"]]
    assert all(link["body"] is None and link["erased_at"] is not None for link in ana_links)
    assert all("MEDIA-ANA-1" not in (link["payload"] or "") for link in links)
    assert [link["body"] for link in links if link["conversation_id"] != conv["id"]] == [
        "pedido nuevo de Bruno"
    ]
    assert record.type == "CustomerDataErased" and record.actor == "U0LEAD0001"
    assert json.loads(record.payload)["conversations"] == [1001]
    assert inbox == 1  # Bruno's raw webhook stays
    assert "secreto" not in str([e["payload"] for e in timeline]) and "Ana" not in str(timeline)
    assert {e["type"] for e in timeline} >= {"ConversationOpened", "CustomerMessageReceived", "NoteAdded"}


async def test_forgetting_twice_is_harmless_and_says_so(engine: AsyncEngine) -> None:
    await two_customers(engine)
    assert await forget_customer(engine, "+" + ANA, actor="cli", now=NOW) is not None
    before = await snapshot(engine)
    again = await forget_customer(engine, "+" + ANA, actor="cli", now=NOW)
    assert again is not None and again.already_forgotten and again.recorded_seq is None
    assert await snapshot(engine) == before


async def test_an_unknown_phone_finds_nothing_and_a_non_phone_is_refused(engine: AsyncEngine) -> None:
    await two_customers(engine)
    assert await forget_customer(engine, "+1 650 555 0000", actor="cli", now=NOW) is None
    with pytest.raises(InvalidInput, match="not a phone number"):
        await forget_customer(engine, "ana@example.com", actor="cli", now=NOW)


async def test_a_customer_who_writes_again_after_being_forgotten_can_be_forgotten_again(
    engine: AsyncEngine,
) -> None:
    from tests.integration.customers import customer_writes

    await two_customers(engine)
    await forget_customer(engine, "+" + ANA, actor="cli", now=NOW)
    await customer_writes(engine, ANA, "Ana Pérez", ["vuelvo a escribir"], NOW)
    done = await forget_customer(engine, "+" + ANA, actor="cli", now=NOW)
    assert done is not None and not done.already_forgotten and done.links == 1
    async with engine.connect() as conn:
        assert await events.verify(conn) is None
