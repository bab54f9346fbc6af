"""Engine construction for SQLite (embedded default) and PostgreSQL (production).

SQLite is opened in WAL mode with ``synchronous=NORMAL`` (a commit survives a crash of any process;
only a power cut can lose the last ones — PostgreSQL is the production database), with a busy
timeout and foreign keys on. Write transactions (``engine.begin()``) start with ``BEGIN
IMMEDIATE`` so two writers queue on the database lock instead of failing half-way with "database is
locked"; reads (``engine.connect()``) start a plain deferred ``BEGIN`` and read their WAL snapshot
without taking the write lock, so the worker's reads never hold up a webhook being stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class _SqliteEngine(AsyncEngine):
    """``begin()`` marks its connection as a writer, so the begin hook says ``BEGIN IMMEDIATE``.

    Writers of this process also queue on an asyncio lock first: SQLite's own busy handler polls
    with growing sleeps and hands the lock to whoever polls first, so without a fair queue a busy
    worker starves the webhook endpoint's single insert. (Other processes still use busy_timeout.)
    """

    _writer: asyncio.Lock | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            self._writer = asyncio.Lock()
        async with self._writer, self.connect() as conn:
            await conn.execution_options(traza_write=True)
            async with conn.begin():
                yield conn


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = _SqliteEngine(create_async_engine(url, connect_args={"timeout": 30}).sync_engine)
        _sqlite_setup(engine)
        return engine
    # No pre-ping (it costs a round trip per checkout, several per message): a connection found
    # dead fails its one statement, and SQLAlchemy then invalidates the whole pool, so after a
    # database restart one call fails (its job or webhook is retried) and the rest reconnect.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def _sqlite_setup(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is what starts them.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("traza_write") else "BEGIN"
        )
