"""The baseline for bench/ingest_ack.py: a bare FastAPI endpoint that does only what acknowledging a
webhook durably needs — the HMAC-SHA256 check over the raw body and one INSERT of that body into a
table equivalent to ``webhook_inbox`` — served by uvicorn with the same settings ``traza serve`` uses.

It reads ``TRAZA_DATABASE_URL`` and ``WHATSAPP_APP_SECRET`` and builds its engine with the product's
``store.db.create_engine``, so the durability settings (SQLite WAL + synchronous=FULL + BEGIN
IMMEDIATE; the PostgreSQL pool) are the same as Traza's and the comparison measures Traza's own
overhead, not a cheaper fsync policy.

    TRAZA_DATABASE_URL=... WHATSAPP_APP_SECRET=... python bench/bare_app.py --port 8001
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, Table, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.db import create_engine

metadata = MetaData()
bench_inbox = Table(
    "bench_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
)


def build_app(database_url: str, secret: str) -> FastAPI:
    engine = create_engine(database_url)
    key = secret.encode()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/whatsapp/webhook")
    async def receive(request: Request) -> Response:
        body = await request.body()
        given = request.headers.get("x-hub-signature-256", "")
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, expected):
            return PlainTextResponse("bad signature", status_code=401)
        async with engine.begin() as conn:
            await conn.execute(insert(bench_inbox).values(received_at=datetime.now(UTC), body=body))
        return PlainTextResponse("OK")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    url = os.environ.get("TRAZA_DATABASE_URL", "sqlite+aiosqlite:///./bare.db")
    url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    app = build_app(url, os.environ.get("WHATSAPP_APP_SECRET", ""))
    # The same uvicorn settings as traza/commands_cli.py::serve.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
