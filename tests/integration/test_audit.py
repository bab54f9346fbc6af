"""The history is append-only and tamper-evident: the database refuses edits, and ``traza audit
verify`` names the first broken event when rows are altered, removed or reordered behind its back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from store import events
from store.events import NewEvent

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def seed(engine: AsyncEngine, n: int = 6) -> None:
    async with engine.begin() as conn:
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.CUSTOMER_MESSAGE_RECEIVED,
                    T0 + timedelta(minutes=i),
                    conversation_id=None,
                    ref=1001 + i % 2,
                    actor=f"contact:{i}",
                    team_id="soporte",
                    payload={"text": f"mensaje {i}"},
                )
                for i in range(n)
            ],
        )


async def tamper(engine: AsyncEngine, sql: str) -> None:
    """Do what an attacker with database access would: switch the guard off, then write."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            await conn.execute(text(sql))
            await conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER events_no_update"))
            await conn.execute(text("DROP TRIGGER events_no_delete"))
            await conn.execute(text(sql))


async def verify(engine: AsyncEngine, ref: int | None = None) -> events.ChainBreak | None:
    async with engine.connect() as conn:
        return await events.verify(conn, ref)


async def test_an_untouched_history_verifies(engine: AsyncEngine) -> None:
    await seed(engine)
    assert await verify(engine) is None
    assert await verify(engine, 1001) is None


@pytest.mark.parametrize(
    "sql", ["UPDATE events SET type = 'X' WHERE seq = 2", "DELETE FROM events WHERE seq = 2"]
)
async def test_the_database_itself_refuses_update_and_delete(engine: AsyncEngine, sql: str) -> None:
    await seed(engine)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(sql))


async def test_an_altered_body_is_named(engine: AsyncEngine) -> None:
    await seed(engine)
    await tamper(engine, """UPDATE events SET payload = '{"text":"forged"}' WHERE seq = 3""")
    broken = await verify(engine)
    assert broken is not None and broken.seq == 3 and "content" in broken.reason
    assert (await verify(engine, 1001)) is not None  # seq 3 belongs to ref 1001


async def test_a_removed_event_is_named(engine: AsyncEngine) -> None:
    await seed(engine)
    await tamper(engine, "DELETE FROM events WHERE seq = 4")
    broken = await verify(engine)
    assert broken is not None and broken.seq == 4 and "missing" in broken.reason


async def test_a_consistently_rehashed_row_still_breaks_the_link_after_it(engine: AsyncEngine) -> None:
    await seed(engine)
    await tamper(engine, "UPDATE events SET actor = 'contact:99' WHERE seq = 2")
    broken = await verify(engine)
    assert broken is not None and broken.seq == 2


async def test_cut_off_tail_is_detected_through_the_chain_head(engine: AsyncEngine) -> None:
    await seed(engine)
    await tamper(engine, "DELETE FROM events WHERE seq = 6")
    broken = await verify(engine)
    assert broken is not None and "missing" in broken.reason


async def test_the_cli_exits_non_zero_naming_the_first_broken_event(sqlite_url: str) -> None:
    import asyncio
    import os
    import sys

    from store.db import create_engine

    engine = create_engine(sqlite_url)
    try:
        await seed(engine)
    finally:
        await engine.dispose()

    async def run() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "traza.cli",
            "audit",
            "verify",
            env={**os.environ, "TRAZA_DATABASE_URL": sqlite_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        return int(process.returncode or 0), out.decode()

    code, out = await run()
    assert code == 0 and "chain intact" in out
    engine = create_engine(sqlite_url)
    try:
        await tamper(engine, """UPDATE events SET payload = '{"text":"forged"}' WHERE seq = 3""")
    finally:
        await engine.dispose()
    code, out = await run()
    assert code == 1 and "event 3" in out
