"""``create_app(settings)``: the FastAPI application with its routes and, unless told otherwise,
the in-process worker, all built inside the lifespan (nothing is created at import time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.surface import SlackSurface, make_client
from bridge import i18n
from bridge.config import TrazaConfig
from bridge.whatsapp.graph import GraphClient
from bridge.whatsapp.parsing import MalformedWebhook, parse_webhook
from bridge.whatsapp.signature import signature_valid
from store import jobs
from store.config_history import record_config
from store.coordination import Coordinator, connect
from store.db import create_engine
from store.tables import webhook_inbox
from traza.api import build_api_router
from traza.crm import HttpCustomerLookup
from traza.metrics import Metrics
from traza.settings import Settings
from traza.slack import build_slack_app, screen_slack_request
from traza.webhooks import WebhookDispatcher
from traza.worker import Worker

log = logging.getLogger("traza.app")


@dataclass
class Runtime:
    """Everything a running process owns; built in the lifespan, closed on shutdown."""

    settings: Settings
    config: TrazaConfig
    engine: AsyncEngine
    coordinator: Coordinator
    graph: GraphClient
    surface: SlackSurface
    metrics: Metrics
    worker: Worker | None = None
    webhooks: WebhookDispatcher | None = None
    crm: HttpCustomerLookup | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def shutdown(self, stop: asyncio.Event) -> None:
        """Let the worker finish its running jobs (it stops on ``stop``), cancel the rest, close all."""
        stop.set()
        _done, pending = await asyncio.wait(self.tasks, timeout=15) if self.tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.graph.aclose()
        if self.crm is not None:
            await self.crm.aclose()
        await self.surface.close()
        await self.coordinator.close()
        await self.engine.dispose()


def create_app(settings: Settings, config: TrazaConfig, *, with_worker: bool = True) -> FastAPI:
    state: dict[str, Runtime] = {}
    stop = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime = await _start(settings, config, with_worker, stop)
        state["runtime"] = runtime
        bolt = build_slack_app(runtime)
        state["slack"] = AsyncSlackRequestHandler(bolt)  # type: ignore[assignment]
        try:
            yield
        finally:
            await runtime.shutdown(stop)

    app = FastAPI(title="Traza", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)

    def rt() -> Runtime:
        return state["runtime"]

    app.include_router(build_api_router(lambda: rt().engine, settings.api_token, lambda: config))

    @app.get("/whatsapp/webhook")
    async def verify_webhook(request: Request) -> Response:
        params = request.query_params
        token = settings.whatsapp_verify_token or ""
        if params.get("hub.mode") == "subscribe" and token and params.get("hub.verify_token") == token:
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("verification failed: wrong hub.mode or hub.verify_token", status_code=403)

    @app.post("/whatsapp/webhook")
    async def receive_webhook(request: Request) -> Response:
        return await _receive_webhook(request, rt())

    @app.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if rejected := screen_slack_request(body, request.headers, settings.slack_signing_secret or ""):
            status, reason = rejected
            return JSONResponse(
                {"error": reason} if status != 200 else {"ok": True},
                status_code=status,
                headers={"X-Slack-No-Retry": "1"} if status != 200 else None,
            )
        handler: Any = state["slack"]
        try:
            response: Response = await handler.handle(request)
        except Exception:
            log.exception("a signed Slack request could not be handled")
            return JSONResponse(
                {"error": "could not handle this request"}, status_code=400, headers={"X-Slack-No-Retry": "1"}
            )
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        return await _readiness(rt())

    @app.get("/metrics")
    async def metrics() -> Response:
        runtime = rt()
        waiting, oldest = await jobs.depth(runtime.engine)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        body = runtime.metrics.exposition(
            queue_depth=waiting,
            queue_age=age,
            redis_ok=runtime.coordinator.healthy,
            posts_saved=runtime.worker.stats["posts_saved"] if runtime.worker else 0,
        )
        if runtime.webhooks is not None:
            body += "\n".join(await runtime.webhooks.exposition()) + "\n"
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    return app


async def _start(settings: Settings, config: TrazaConfig, with_worker: bool, stop: asyncio.Event) -> Runtime:
    engine = create_engine(settings.database_url)
    coordinator = connect(settings.redis_url, settings.slack_pace)
    graph = GraphClient(settings.graph_api_url, settings.whatsapp_access_token or "")
    client = make_client(settings.slack_bot_token or "", settings.slack_api_url)
    surface = SlackSurface(client)
    runtime = Runtime(settings, config, engine, coordinator, graph, surface, Metrics())
    i18n.activate(config.language)
    await _sync_teams(engine, config)
    if await record_config(engine, config, datetime.now(UTC), str(settings.config_path)):
        log.info("configuration change recorded in the history (%s)", settings.config_path)
    if settings.redis_url:
        runtime.tasks.append(asyncio.create_task(coordinator.listen(stop), name="traza-redis-listen"))
    secrets = settings.named_secrets(config.secret_env_names())
    if with_worker and config.webhooks:
        # Before the worker starts: an endpoint configured now gets every event from here on.
        runtime.webhooks = WebhookDispatcher(engine, config.webhooks, secrets)
        await runtime.webhooks.prepare()
    if with_worker and config.enrichment is not None:
        token = secrets.get(config.enrichment.token_env or "")
        runtime.crm = HttpCustomerLookup(config.enrichment, token)
    if with_worker:
        runtime.worker = Worker(
            engine,
            config,
            coordinator,
            surface,
            graph,
            graph,
            surface,
            concurrency=settings.worker_concurrency,
            crm=runtime.crm,
        )
        runtime.tasks.append(asyncio.create_task(runtime.worker.run(stop), name="traza-worker"))
    if runtime.webhooks is not None:
        runtime.tasks.append(asyncio.create_task(runtime.webhooks.run(stop), name="traza-webhooks"))
    return runtime


async def _sync_teams(engine: AsyncEngine, config: TrazaConfig) -> None:
    """Mirror the configured teams into the ``teams`` table (for reports and integrations)."""
    from store.tables import teams

    async with engine.begin() as conn:
        existing = {r.id for r in (await conn.execute(teams.select())).all()}
        for team in config.teams:
            values = {"name": team.name, "slack_channel": team.slack_channel}
            if team.id in existing:
                await conn.execute(teams.update().where(teams.c.id == team.id).values(**values))
            else:
                await conn.execute(teams.insert().values(id=team.id, **values))


async def _receive_webhook(request: Request, runtime: Runtime) -> Response:
    started = time.perf_counter()
    settings = runtime.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_webhook_bytes:
        return _reject(413, "body too large", runtime)
    body = await _read_limited(request, settings.max_webhook_bytes)
    if body is None:
        return _reject(413, "body too large", runtime)
    if not signature_valid(
        settings.whatsapp_app_secret or "", body, request.headers.get("x-hub-signature-256")
    ):
        return _reject(401, "missing or invalid X-Hub-Signature-256", runtime)
    try:
        parsed = parse_webhook(orjson.loads(body))
    except orjson.JSONDecodeError:
        return _reject(400, "body is not valid JSON", runtime)
    except MalformedWebhook as exc:
        return _reject(400, f"not a WhatsApp Cloud API webhook: {exc}", runtime)
    try:
        async with runtime.engine.begin() as conn:
            await conn.execute(insert(webhook_inbox).values(received_at=datetime.now(UTC), body=body))
    except Exception:
        log.exception("could not store a webhook; answering 503 so Meta retries")
        return _reject(503, "storage unavailable, retry later", runtime)
    await runtime.coordinator.wake("inbox")
    if runtime.worker is not None:
        runtime.worker.note_ingress()
    runtime.metrics.webhook(200, time.perf_counter() - started, parsed.update_count)
    return PlainTextResponse("OK")


async def _read_limited(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _reject(status: int, reason: str, runtime: Runtime) -> Response:
    runtime.metrics.webhook(status, 0.0, 0)
    return JSONResponse({"error": reason}, status_code=status)


async def _readiness(runtime: Runtime) -> Response:
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if runtime.settings.redis_url:
        checks["redis"] = (
            "ok" if await runtime.coordinator.ping() else "unreachable (degraded: in-process fallback)"
        )
    ready = checks["database"] == "ok" and checks.get("redis", "ok") == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
