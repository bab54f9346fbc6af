"""Erasure from the outside, on SQLite and PostgreSQL: the ``traza forget`` and ``traza audit
verify`` commands, the exports and the API timeline after an erasure, and the worker running
retention by itself (once per hour across several workers)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.coordination import Coordinator
from store.db import create_engine
from store.tables import events as events_table
from tests import harness
from tests.integration.customers import ANA, NOW, two_customers
from traza.api import build_api_router
from traza.worker import Worker

SECRETS = ("secreto", "confidencial", "Ana P", "MEDIA-ANA-1", ANA)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await two_customers(engine)
    yield engine
    await engine.dispose()


async def traza(database_url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "traza.cli",
        *args,
        env={**os.environ, "TRAZA_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode()


async def test_forget_from_the_command_line(engine: AsyncEngine, database_url: str) -> None:
    code, out = await traza(database_url, "forget", "+1 650 555 0000")
    assert code == 1 and "no customer with phone +1 650 555 0000" in out
    code, out = await traza(database_url, "forget", "--dry-run", "+52 1 55 1234 5678")
    assert code == 0 and "would erase 1 contact(s)" in out and "#1001" in out and "recorded" not in out
    code, out = await traza(database_url, "forget", "+52 1 55 1234 5678", "--by", "U0LEAD0001")
    assert code == 0 and "erased 1 contact(s)" in out and "4 message(s)" in out
    assert "(CustomerDataErased by U0LEAD0001)" in out
    code, out = await traza(database_url, "forget", "+52 1 55 1234 5678")
    assert code == 0 and "already forgotten" in out
    code, out = await traza(database_url, "audit", "verify")
    assert code == 0 and "chain intact" in out and "5 with an erased body" in out
    code, out = await traza(database_url, "forget", "hola")
    assert code == 2 and "not a phone number" in out


@pytest.mark.parametrize("what", ["messages", "events"])
async def test_exports_keep_the_rows_but_not_the_erased_bodies(
    engine: AsyncEngine, database_url: str, what: str
) -> None:
    code, before = await traza(database_url, "export", what, "--format", "json")
    assert code == 0 and "secreto" in before
    assert (await traza(database_url, "forget", "+" + ANA))[0] == 0
    code, after = await traza(database_url, "export", what, "--format", "json")
    assert code == 0 and not any(s in after for s in SECRETS), after
    rows_before, rows_after = json.loads(before), json.loads(after)
    if what == "messages":
        assert [r["id"] for r in rows_after] == [r["id"] for r in rows_before]
    else:  # the same events, with their types, actors and times, then the erasure records
        kept = ("seq", "type", "actor", "occurred_at", "hash")
        rows_before.sort(key=lambda r: r["seq"])
        rows_after.sort(key=lambda r: r["seq"])
        assert [[r[k] for k in kept] for r in rows_after[: len(rows_before)]] == [
            [r[k] for k in kept] for r in rows_before
        ]
        assert {r["type"] for r in rows_after[len(rows_before) :]} == {"CustomerDataErased"}


async def test_the_api_timeline_shows_erased_events_without_their_bodies(engine: AsyncEngine) -> None:
    from store.forget import forget_customer

    await forget_customer(engine, "+" + ANA, actor="cli", now=NOW)
    app = FastAPI()
    app.include_router(build_api_router(lambda: engine, "t", harness.load_test_config))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traza") as client:
        page = (
            await client.get("/api/conversations/1001/timeline", headers={"authorization": "Bearer t"})
        ).json()
        detail = (await client.get("/api/conversations/1001", headers={"authorization": "Bearer t"})).json()
    items = page["items"]
    assert [i["type"] for i in items].count("CustomerMessageReceived") == 3
    assert all(i["at"] and i["actor"] for i in items)
    erased = [i for i in items if i["type"] in ("CustomerMessageReceived", "ReplyReceived", "NoteAdded")]
    assert all(i["payload"]["erased"]["why"] == "request" for i in erased)
    assert not any(s in str(page) or s in str(detail) for s in SECRETS)
    assert detail["contact_name"] == "WhatsApp customer" and detail["contact_phone"] is None


def worker(engine: AsyncEngine, days: int | None, holder: str) -> Worker:
    config = dataclasses.replace(harness.load_test_config(), message_bodies_days=days)
    none = cast(Any, None)
    w = Worker(engine, config, Coordinator(0), none, none, none, none, clock=lambda: NOW)
    w.holder = holder
    return w


async def test_one_retention_pass_per_hour_across_workers(engine: AsyncEngine) -> None:
    first = await worker(engine, 365, "host-a:1").retention_pass()
    assert first is not None and first.events == 4
    assert await worker(engine, 365, "host-b:2").retention_pass() is None  # a's lease holds the hour
    assert await worker(engine, None, "host-c:3").retention_pass() is None  # retention off


async def test_the_worker_erases_expired_bodies_by_itself(engine: AsyncEngine) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker(engine, 365, "host-a:1").run(stop))

    async def erased() -> int:
        async with engine.connect() as conn:
            rows = await conn.execute(select(events_table.c.seq).where(events_table.c.erased_by.is_not(None)))
            return len(rows.all())

    try:
        assert await harness.eventually(erased, what="the retention pass") == 4
    finally:
        stop.set()
        await running
