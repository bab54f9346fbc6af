"""Message search, customer history and conversation timelines, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.domain import EventType
from store import events
from store.events import NewEvent
from store.search import contact_history, history_for_ref, search_messages, search_statement, timeline
from store.tables import business_numbers, contacts, conversations, message_links

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NUMBER_A, NUMBER_B = "106540352242922", "106540352242999"
MEXICAN = "5215512345678"  # the wa_id WhatsApp stores for +52 1 55 1234 5678
ARGENTINE = "5491100000101"


async def add_contact(conn: AsyncConnection, wa_id: str) -> int:
    values = {"key": f"wa:{wa_id}", "wa_id": wa_id, "created_at": T0, "updated_at": T0}
    return int((await conn.execute(insert(contacts).values(values).returning(contacts.c.id))).scalar_one())


async def add_conversation(
    conn: AsyncConnection, ref: int, contact_id: int, team: str, number: str, *, day: int, state: str = "open"
) -> int:
    values = {
        "ref": ref,
        "contact_id": contact_id,
        "phone_number_id": number,
        "team_id": team,
        "state": state,
        "slack_channel": f"C0{team.upper()}",
        "slack_thread_ts": f"17000000{ref}.000100",
        "opened_at": T0 + timedelta(days=day),
        "closed_at": T0 + timedelta(days=day, hours=2) if state == "closed" else None,
    }
    stmt = insert(conversations).values(values).returning(conversations.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def add_message(
    conn: AsyncConnection, conversation_id: int, body: str | None, *, minute: int, direction: str = "inbound"
) -> int:
    values = {
        "conversation_id": conversation_id,
        "direction": direction,
        "kind": "note" if direction == "note" else "text",
        "author": None if direction == "inbound" else "U0AGENT001",
        "body": body,
        "status": "received",
        "slack_ts": f"17100000{minute:02d}.000200",
        "sent_at": T0 + timedelta(minutes=minute),
        "created_at": T0 + timedelta(minutes=minute),
    }
    stmt = insert(message_links).values(values).returning(message_links.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def seed(engine: AsyncEngine) -> dict[str, int]:
    """Two customers, two numbers, two teams; the Mexican customer talked to both teams."""
    async with engine.begin() as conn:
        await conn.execute(insert(business_numbers), [{"phone_number_id": n} for n in (NUMBER_A, NUMBER_B)])
        mexican, argentine = await add_contact(conn, MEXICAN), await add_contact(conn, ARGENTINE)
        ids = {
            "sales": await add_conversation(conn, 1001, mexican, "ventas", NUMBER_A, day=0, state="closed"),
            "support": await add_conversation(conn, 1002, mexican, "soporte", NUMBER_B, day=3),
            "other": await add_conversation(conn, 1003, argentine, "soporte", NUMBER_A, day=5),
        }
        await add_message(conn, ids["sales"], "Necesito una cotización de veinte sillas", minute=1)
        await add_message(conn, ids["sales"], "Le envío la cotización hoy", minute=2, direction="outbound")
        await add_message(conn, ids["sales"], "cliente frecuente, descuento", minute=3, direction="note")
        await add_message(conn, ids["support"], "¿Dónde está mi pedido? La COTIZACIÓN venció", minute=4)
        await add_message(conn, ids["support"], None, minute=5)
        await add_message(conn, ids["other"], "Mi pedido llegó roto", minute=6)
    return ids


async def search(engine: AsyncEngine, words: str, teams: set[str] | None = None) -> list[Any]:
    async with engine.connect() as conn:
        return await search_messages(conn, words, team_ids=teams)


async def test_accents_and_case_do_not_matter(engine: AsyncEngine) -> None:
    await seed(engine)
    hits = await search(engine, "cotizacion")
    assert {hit.body for hit in hits} == {
        "Necesito una cotización de veinte sillas",
        "Le envío la cotización hoy",
        "¿Dónde está mi pedido? La COTIZACIÓN venció",
    }
    assert [hit.body for hit in await search(engine, "DONDE esta")] == [
        "¿Dónde está mi pedido? La COTIZACIÓN venció"
    ]


async def test_every_word_must_match(engine: AsyncEngine) -> None:
    await seed(engine)
    assert [hit.body for hit in await search(engine, "pedido roto")] == ["Mi pedido llegó roto"]
    assert await search(engine, "pedido sillas") == []


async def test_a_hit_carries_what_a_slack_link_needs(engine: AsyncEngine) -> None:
    ids = await seed(engine)
    [hit] = await search(engine, "veinte")
    assert (hit.ref, hit.conversation_id, hit.team_id, hit.state) == (1001, ids["sales"], "ventas", "closed")
    assert (hit.direction, hit.author, hit.slack_channel) == ("inbound", None, "C0VENTAS")
    assert (hit.slack_ts, hit.thread_ts) == ("1710000001.000200", "170000001001.000100")
    assert hit.sent_at == T0 + timedelta(minutes=1)
    assert isinstance(hit.rank, float) and hit.rank > 0


async def test_most_relevant_first_then_most_recent(engine: AsyncEngine) -> None:
    ids = await seed(engine)
    async with engine.begin() as conn:
        await add_message(conn, ids["other"], "envío envío envío, otra vez el envío", minute=20)
        await add_message(conn, ids["other"], "un envío tarde y nada más que decir", minute=30)
        await add_message(conn, ids["other"], "un envío tarde y nada más que decir", minute=10)
    hits = await search(engine, "envio")
    assert hits[0].body == "envío envío envío, otra vez el envío"
    assert hits[0].rank > hits[1].rank
    same = [hit.sent_at for hit in hits if hit.body == "un envío tarde y nada más que decir"]
    assert same == [T0 + timedelta(minutes=30), T0 + timedelta(minutes=10)]


async def test_search_is_limited_to_the_given_teams(engine: AsyncEngine) -> None:
    await seed(engine)
    assert {hit.team_id for hit in await search(engine, "cotizacion", {"ventas"})} == {"ventas"}
    assert [hit.ref for hit in await search(engine, "pedido", {"soporte"})] == [1003, 1002]
    assert await search(engine, "pedido", {"ventas"}) == []
    assert await search(engine, "pedido", set()) == []
    assert len(await search(engine, "pedido", None)) == 2


async def test_empty_or_punctuation_only_queries_find_nothing(engine: AsyncEngine) -> None:
    await seed(engine)
    for words in ("", "   ", "!!! ¿? --", "&|!():*", '""', "_"):
        assert await search(engine, words) == [], words


async def test_injection_looking_input_is_only_words(engine: AsyncEngine) -> None:
    await seed(engine)
    hostile = [
        "'; DROP TABLE message_links; --",
        "pedido' OR '1'='1",
        'pedido" OR "x',
        "body:pedido",
        "NEAR(pedido roto)",
        "pedido & !roto | x:*",
        "pedido*",
        "^pedido",
        "\\x00 %s $1 :name",
    ]
    for words in hostile:
        await search(engine, words)
    assert [hit.body for hit in await search(engine, "pedido' OR '1'='1")] == []
    assert [hit.body for hit in await search(engine, "(roto)")] == ["Mi pedido llegó roto"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(message_links))).scalar_one() == 6


async def test_edited_bodies_are_searched_as_edited(engine: AsyncEngine) -> None:
    ids = await seed(engine)
    async with engine.begin() as conn:
        link = await add_message(conn, ids["other"], "paquete extraviado", minute=40)
        await conn.execute(
            update(message_links).where(message_links.c.id == link).values(body="caja perdida")
        )
    assert await search(engine, "extraviado") == []
    assert [hit.body for hit in await search(engine, "caja")] == ["caja perdida"]


async def test_search_uses_the_full_text_index(engine: AsyncEngine) -> None:
    await seed(engine)
    async with engine.connect() as conn:
        stmt = search_statement(conn.dialect.name, "pedido roto", team_ids={"soporte"})
        assert stmt is not None
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_message_links_body_tsv" in plan, plan
        else:
            plan = "\n".join(r[-1] for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN message_search VIRTUAL TABLE INDEX" in plan, plan


async def test_contact_history_finds_a_typed_phone_across_numbers_and_teams(engine: AsyncEngine) -> None:
    ids = await seed(engine)
    async with engine.connect() as conn:
        for typed in ("+52 1 55 1234 5678", "+52 55 1234 5678", "5215512345678", "+52 (55) 1234-5678"):
            rows = await contact_history(conn, typed)
            assert [row.ref for row in rows] == [1002, 1001], typed
        assert await contact_history(conn, "+1 650 555 0000") == []
        assert await contact_history(conn, "hola") == []
    support, sales = rows
    assert (support.team_id, support.phone_number_id, support.state) == ("soporte", NUMBER_B, "open")
    assert (sales.team_id, sales.phone_number_id, sales.state) == ("ventas", NUMBER_A, "closed")
    assert sales.conversation_id == ids["sales"] and sales.messages == 2  # the note is not a message
    assert sales.closed_at == T0 + timedelta(hours=2) and support.closed_at is None
    assert (support.slack_channel, support.slack_thread_ts) == ("C0SOPORTE", "170000001002.000100")


async def test_history_for_ref_lists_the_same_customers_conversations(engine: AsyncEngine) -> None:
    await seed(engine)
    async with engine.connect() as conn:
        assert [row.ref for row in await history_for_ref(conn, 1001)] == [1002, 1001]
        assert [row.ref for row in await history_for_ref(conn, 1003)] == [1003]
        assert [row.ref for row in await history_for_ref(conn, 1001, limit=1)] == [1002]
        assert await history_for_ref(conn, 9999) == []


async def test_timeline_tells_a_conversations_story_in_order(engine: AsyncEngine) -> None:
    ids = await seed(engine)
    conv, other = ids["sales"], ids["other"]
    long_text = "hola " * 40

    def ev(kind: EventType, minute: int, actor: str | None = None, **payload: Any) -> NewEvent:
        return NewEvent(kind, T0 + timedelta(minutes=minute), conv, 1001, actor, "ventas", NUMBER_A, payload)

    async with engine.begin() as conn:
        await events.append(conn, [ev(EventType.CONVERSATION_OPENED, 0)])
        await events.append(conn, [ev(EventType.CUSTOMER_MESSAGE_RECEIVED, 1, "contact:1", text=long_text)])
        await events.append(
            conn, [NewEvent(EventType.CONVERSATION_OPENED, T0, other, 1003, None, "soporte", NUMBER_A)]
        )
        await events.append(
            conn,
            [
                ev(EventType.CONVERSATION_CLAIMED, 2, "U0AGENT001"),
                ev(EventType.REPLY_RECEIVED, 3, "U0AGENT001", text="Ya lo\nreviso"),
                ev(EventType.NOTE_ADDED, 4, "U0AGENT002", text="cliente frecuente"),
                ev(EventType.CONVERSATION_TRANSFERRED, 5, "U0LEAD0001", to_team="soporte"),
                ev(EventType.CONVERSATION_CLOSED, 6, "U0AGENT003", reason="resuelto"),
            ],
        )
    async with engine.connect() as conn:
        entries = await timeline(conn, 1001)
        assert [entry.summary for entry in await timeline(conn, 1001, limit=2)] == [
            "transferred to soporte",
            "closed: resuelto",
        ]
        assert await timeline(conn, 9999) == []
    assert [entry.summary for entry in entries] == [
        "ConversationOpened",
        long_text.strip()[:119] + "…",
        "claimed by <@U0AGENT001>",
        "Ya lo reviso",
        "note: cliente frecuente",
        "transferred to soporte",
        "closed: resuelto",
    ]
    assert [entry.at for entry in entries] == [T0 + timedelta(minutes=m) for m in range(7)]
    assert entries[2].type == "ConversationClaimed" and entries[2].actor == "U0AGENT001"


async def test_postgres_ranks_the_newest_matches_only(engine: AsyncEngine, monkeypatch: Any) -> None:
    """PostgreSQL ranks the newest RANK_WINDOW matches (a common word must not rank 100,000 rows);
    SQLite's FTS5 ranks them all."""
    import store.search

    ids = await seed(engine)
    async with engine.begin() as conn:
        await add_message(conn, ids["other"], "caja caja caja caja", minute=10)  # the best match, oldest
        await add_message(conn, ids["other"], "una caja", minute=11)
        await add_message(conn, ids["other"], "otra caja", minute=12)
    monkeypatch.setattr(store.search, "RANK_WINDOW", 2)
    bodies = [hit.body for hit in await search(engine, "caja")]
    if engine.dialect.name == "postgresql":
        assert sorted(bodies) == ["otra caja", "una caja"]
    else:
        assert bodies[0] == "caja caja caja caja" and len(bodies) == 3
