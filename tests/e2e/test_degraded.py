"""Redis is a helper, never the source of truth: with Redis unreachable Traza keeps working."""

from __future__ import annotations

from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, env_for, running_traza
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
