"""Redis is a helper, never the source of truth: with Redis unreachable Traza keeps working."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.e2e.test_crash import free_port
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, env_for, eventually, running_traza
from traza.settings import Settings


async def test_webhooks_are_accepted_and_mirrored_while_redis_is_down(
    pg_url: str, fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    slack, graph = fakes
    env = env_for(pg_url, slack, graph, TRAZA_REDIS_URL="redis://127.0.0.1:1/0")
    async with running_traza(env) as client:
        traza = Harness(client, slack, graph, Settings.from_env(env, env_file=None))
        for n in range(3):
            response = await traza.webhook(wp.inbound_text_webhook(f"sin redis {n}", wa_id="5491100000301"))
            assert response.status_code == 200
        thread = await traza.thread_of("C0SOPORTE1")
        replies = await traza.replies("C0SOPORTE1", thread, 3)
        assert [r["text"] for r in replies] == ["sin redis 0", "sin redis 1", "sin redis 2"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert "unreachable" in ready.json()["checks"]["redis"]
        metrics = (await client.get("/metrics")).text
        assert "traza_redis_up 0" in metrics


class ThrowawayRedis:
    """A Redis of this test's own on a free port (never the machine's), killed with SIGKILL to
    stage an outage and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*argv, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _parts(slack: FakeSlack, thread: str) -> list[str]:
    return [str(m.get("text", "")) for m in slack.thread("C0SOPORTE1", thread)]


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_redis_outage_degrades_then_recovers_by_itself(
    pg_url: str,
    fakes: tuple[FakeSlack, FakeGraph],
    own_redis: ThrowawayRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack, graph = fakes
    caplog.set_level(logging.INFO, logger="traza.coordination")
    env = env_for(pg_url, slack, graph, TRAZA_REDIS_URL=own_redis.url)
    async with running_traza(env) as client:
        traza = Harness(client, slack, graph, Settings.from_env(env, env_file=None))
        assert await _ready(client)
        await traza.webhook(wp.inbound_text_webhook("antes", wa_id="5491100000302"))
        thread = await traza.thread_of("C0SOPORTE1")
        await traza.replies("C0SOPORTE1", thread, 1)

        own_redis.kill()  # the outage
        for n in range(3):
            response = await traza.webhook(wp.inbound_text_webhook(f"durante {n}", wa_id="5491100000302"))
            assert response.status_code == 200, "webhooks are accepted: the database is the truth"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert "unreachable" in ready.json()["checks"]["redis"]
        assert "traza_redis_up 0" in (await client.get("/metrics")).text
        await eventually(lambda: len(_parts(slack, thread)) >= 4, 20, "messages mirrored during the outage")
        assert "Redis unavailable" in caplog.text or "Redis wake-up channel lost" in caplog.text

        own_redis.start()  # Redis comes back; nobody restarts Traza
        await eventually(lambda: _ready(client), 15, "readyz to report Redis back by itself")
        assert "Redis is back" in caplog.text
        assert "traza_redis_up 1" in (await client.get("/metrics")).text
        await traza.webhook(wp.inbound_text_webhook("después", wa_id="5491100000302"))
        await eventually(lambda: len(_parts(slack, thread)) >= 5, 15, "a message mirrored after")
        parts = _parts(slack, thread)
    assert parts == ["antes", "durante 0", "durante 1", "durante 2", "después"], "each once, in order"
