"""The ``/api`` router over HTTP on a migrated database (SQLite and PostgreSQL): bearer token, the API
being off without one, pagination, timeline order, the metrics shape and bad parameters answered 4xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType as E
from store import events
from store.db import create_engine
from store.events import NewEvent
from store.tables import business_numbers, contacts, conversations
from tests import harness
from tests.fakes import whatsapp_payloads as wp
from traza.api import build_api_router

TOKEN = "api-token-for-tests"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NUMBER = "106540352242922"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await _seed(engine)
    yield engine
    await engine.dispose()


async def _seed(engine: AsyncEngine) -> None:
    """Five conversations (refs 1001-1005, 1003 in ventas, 1005 closed) and a timeline for 1001."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(business_numbers).values(phone_number_id=NUMBER, display_phone_number="15550001111")
        )
        for n in range(1, 6):
            await conn.execute(
                insert(contacts).values(
                    id=n,
                    key=f"wa:54911000{n}",
                    wa_id=f"54911000{n}",
                    profile_name=f"Cliente {n}",
                    created_at=T0,
                    updated_at=T0,
                )
            )
            closed = n == 5
            await conn.execute(
                insert(conversations).values(
                    id=n,
                    ref=1000 + n,
                    contact_id=n,
                    phone_number_id=NUMBER,
                    team_id="ventas" if n == 3 else "soporte",
                    state="closed" if closed else "open",
                    slack_channel="C0SOPORTE1",
                    slack_thread_ts=f"1700000000.00000{n}",
                    opened_at=T0 + timedelta(hours=n),
                    closed_at=T0 + timedelta(hours=n + 1) if closed else None,
                    window_ends_at=T0 + timedelta(hours=n + 24),
                )
            )
        await events.append(conn, _history())


def _history() -> list[NewEvent]:
    def at(minutes: int) -> datetime:
        return T0 + timedelta(hours=1, minutes=minutes)

    common: dict[str, Any] = {"conversation_id": 1, "ref": 1001, "team_id": "soporte"}
    return [
        NewEvent(E.CONVERSATION_OPENED, at(0), actor="contact:1", **common),
        NewEvent(E.CUSTOMER_MESSAGE_RECEIVED, at(0), actor="contact:1", payload={"text": "hola"}, **common),
        NewEvent(E.NOTE_ADDED, at(1), actor="U0AGENT003", payload={"text": "// mine"}, **common),
        NewEvent(E.REPLY_RECEIVED, at(2), actor="U0AGENT003", payload={"text": "buen día"}, **common),
        NewEvent(E.CONVERSATION_CLOSED, at(10), actor="U0AGENT003", **common),
        NewEvent(
            E.CONVERSATION_OPENED, at(60), actor="contact:2", conversation_id=2, ref=1002, team_id="soporte"
        ),
    ]


def _client(engine: AsyncEngine, token: str | None, **headers: str) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(build_api_router(lambda: engine, token, harness.load_test_config))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://traza", headers=headers)


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(engine, TOKEN, authorization=f"Bearer {TOKEN}") as client:
        yield client


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", TOKEN])
async def test_401_without_the_right_bearer_token(engine: AsyncEngine, header: str | None) -> None:
    async with _client(engine, TOKEN, **({"authorization": header} if header else {})) as client:
        for path in ("/api/conversations", "/api/conversations/1001", "/api/metrics"):
            response = await client.get(path)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in response.json()["detail"]


@pytest.mark.parametrize("token", [None, ""])
async def test_api_is_off_without_a_token(engine: AsyncEngine, token: str | None) -> None:
    async with _client(engine, token, authorization="Bearer anything") as client:
        for path in ("/api/conversations", "/api/conversations/1001/timeline", "/api/metrics"):
            response = await client.get(path)
            assert response.status_code == 404
            assert "TRAZA_API_TOKEN" in response.json()["detail"]


async def test_conversations_paginate_newest_first(api: httpx.AsyncClient) -> None:
    refs: list[int] = []
    cursor: int | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/api/conversations", params=params)).json()
        refs += [item["ref"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert refs == [1005, 1004, 1003, 1002, 1001]
    assert cursor is None
    first = (await api.get("/api/conversations", params={"limit": 1})).json()["items"][0]
    assert first["contact_name"] == "Cliente 5" and first["contact_phone"] == "+549110005"
    assert first["team_name"] == "Soporte"


async def test_conversation_filters(api: httpx.AsyncClient) -> None:
    async def refs(**params: str) -> list[int]:
        response = await api.get("/api/conversations", params=params)
        assert response.status_code == 200, response.text
        return [item["ref"] for item in response.json()["items"]]

    assert await refs(team="ventas") == [1003]
    assert await refs(state="closed") == [1005]
    assert await refs(since="2026-03-02T12:00:00Z") == [1005, 1004, 1003]
    assert await refs(since="2026-03-02T11:00:00+01:00", until="2026-03-02T13:00:00") == [1003, 1002, 1001]
    assert await refs(until="2026-03-02") == []


async def test_conversation_detail(api: httpx.AsyncClient) -> None:
    for ref in ("1001", "%231001"):
        response = await api.get(f"/api/conversations/{ref}")
        assert response.status_code == 200
    detail = response.json()
    assert detail["ref"] == 1001 and detail["state"] == "open" and detail["team"] == "soporte"
    assert detail["business_number"] == "+15550001111"
    assert detail["slack_thread_ts"] == "1700000000.000001"
    assert detail["opened_at"].startswith("2026-03-02T10:00:00")
    assert detail["window_open"] is (datetime.now(UTC) < T0 + timedelta(hours=25))
    missing = await api.get("/api/conversations/9999")
    assert missing.status_code == 404 and "9999" in missing.json()["detail"]


async def test_timeline_in_log_order_with_pages(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/conversations/1001/timeline", params={"limit": 3})).json()
    rest = (await api.get("/api/conversations/1001/timeline", params={"cursor": first["next_cursor"]})).json()
    items = first["items"] + rest["items"]
    assert [i["type"] for i in items] == [
        "ConversationOpened",
        "CustomerMessageReceived",
        "NoteAdded",
        "ReplyReceived",
        "ConversationClosed",
    ]
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
    assert rest["next_cursor"] is None
    assert items[3]["actor"] == "U0AGENT003" and items[3]["payload"] == {"text": "buen día"}
    assert (await api.get("/api/conversations/4242/timeline")).status_code == 404


async def test_metrics_shape_and_numbers(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/metrics", params={"since": "2026-03-02", "until": "2026-03-03"})
    assert response.status_code == 200
    m = response.json()
    assert m["timezone"] == "UTC" and m["since"].startswith("2026-03-02T00:00:00")
    assert (m["conversations_opened"], m["conversations_closed"], m["agent_replies"]) == (2, 1, 1)
    assert m["first_response"] == {
        "conversations": 2,
        "measured": 1,
        "pending": 1,
        "median_seconds": 120.0,
        "p90_seconds": 120.0,
    }
    assert m["resolution"]["median_seconds"] == 600.0
    assert m["per_agent"] == [{"agent": "U0AGENT003", "replies": 1, "conversations": 1}]
    assert m["backlog"] == {"open": 1, "assigned": 0}
    ventas = (await api.get("/api/metrics", params={"team": "ventas"})).json()
    assert ventas["conversations_opened"] == 0 and ventas["per_team"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/conversations", {"limit": "201"}),
        ("/api/conversations", {"limit": "0"}),
        ("/api/conversations", {"limit": "many"}),
        ("/api/conversations", {"cursor": "-1"}),
        ("/api/conversations", {"cursor": str(2**70)}),
        ("/api/conversations", {"state": "sleeping"}),
        ("/api/conversations", {"since": "yesterday"}),
        ("/api/conversations", {"since": "0001-01-01T00:00:00+05:00"}),
        ("/api/conversations", {"since": "2026-03-03", "until": "2026-03-02"}),
        ("/api/conversations", {"team": "x" * 41}),
        ("/api/conversations/abc", {}),
        ("/api/conversations/%2312ab", {}),
        ("/api/conversations/1234567890123456789012", {}),
        ("/api/conversations/1001/timeline", {"limit": "500"}),
        ("/api/metrics", {"until": "2026-02-30"}),
    ],
)
async def test_bad_parameters_answer_4xx_with_a_reason(
    api: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await api.get(path, params=params)
    assert response.status_code in (400, 422), response.text
    assert response.json()["detail"]


async def test_openapi_documents_the_models(api: httpx.AsyncClient) -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(build_api_router(lambda: None, TOKEN))  # type: ignore[arg-type,return-value]
    schema = app.openapi()
    assert {"/api/conversations", "/api/conversations/{ref}", "/api/metrics"} <= set(schema["paths"])
    assert {"ConversationPage", "ConversationDetail", "TimelinePage", "Metrics"} <= set(
        schema["components"]["schemas"]
    )
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


async def test_a_real_conversation_through_the_api(traza: harness.Harness) -> None:
    """A webhook and an agent reply handled by the real app are read back through the API."""
    await traza.webhook(wp.inbound_text_webhook("Hola", wa_id="5491100000009"))
    thread = await traza.thread_of("C0SOPORTE1")
    await traza.agent_says("C0SOPORTE1", thread, "U0AGENT003", "Buen día")
    # Bolt acknowledges the event before its listener runs: wait for the reply to be handled.
    await harness.eventually(lambda: traza.graph.sends(), 10, "the reply sent to WhatsApp")
    engine = create_engine(traza.settings.database_url)
    try:
        async with _client(engine, TOKEN, authorization=f"Bearer {TOKEN}") as api:
            listed = (await api.get("/api/conversations")).json()["items"]
            ref = listed[0]["ref"]
            detail = (await api.get(f"/api/conversations/{ref}")).json()
            kinds = [e["type"] for e in (await api.get(f"/api/conversations/{ref}/timeline")).json()["items"]]
            m = (await api.get("/api/metrics")).json()
    finally:
        await engine.dispose()
    assert detail["contact_phone"] == "+5491100000009" and detail["assignee"] == "U0AGENT003"
    assert detail["slack_thread_ts"] == thread and detail["window_open"] is True
    assert kinds[0] == "ConversationOpened" and "ReplyReceived" in kinds
    assert m["conversations_opened"] == 1 and m["first_response"]["measured"] == 1
    assert m["per_agent"] == [{"agent": "U0AGENT003", "replies": 1, "conversations": 1}]
    assert m["backlog"] == {"open": 0, "assigned": 1}
