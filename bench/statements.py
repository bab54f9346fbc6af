"""SQL statements and transactions per mirrored customer message (the cost behind benchmark (b)).

Runs Traza in this process (``create_app`` with its worker, PostgreSQL + Redis, pace lifted) against
the fake servers, opens K conversations, then sends N follow-up messages in bursts and counts what
SQLAlchemy sent to the database from the first follow-up webhook until the last one is posted.
Counting statements is immune to the noise of a shared machine, unlike latency.

    .venv/bin/python bench/statements.py [--conversations 50 --messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import REDIS_URL, flush_redis_db, pg_database, webhook_bytes, write_result
from sqlalchemy import event
from sqlalchemy.engine import Engine

from store.migrate import upgrade
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, env_for, running_traza

counts: Counter[str] = Counter()


def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    counts["statements"] += 1
    counts[statement.split(None, 1)[0].upper()] += 1


def _commit(_conn: Any) -> None:
    counts["transactions"] += 1


async def measure(
    db_url: str, slack: FakeSlack, graph: FakeGraph, args: argparse.Namespace
) -> dict[str, Any]:
    env = env_for(db_url, slack, graph, TRAZA_REDIS_URL=REDIS_URL, TRAZA_SLACK_PACE="0")
    tag = common.run_id()
    async with running_traza(env) as client:

        async def send(text: str, wamid: str, customer: int) -> None:
            raw = webhook_bytes(text, wamid, customer)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": wp.sign(raw, APP_SECRET)}
            response = await client.post("/whatsapp/webhook", content=raw, headers=headers)
            assert response.status_code == 200

        def replies() -> int:
            return sum(1 for c in slack.posts() if c.status == 200 and c.args.get("thread_ts"))

        async def drained(n: int) -> None:
            deadline = time.monotonic() + 120
            while replies() < n and time.monotonic() < deadline:  # noqa: ASYNC110 (polls the fake)
                await asyncio.sleep(0.05)

        for c in range(args.conversations):
            await send(f"hola {tag}", f"wamid.S{tag}o{c:06d}", c)
        await drained(args.conversations)
        await asyncio.sleep(1.0)
        counts.clear()
        started = time.process_time()
        for i in range(args.messages):
            await send(f"sigo {tag} {i}", f"wamid.S{tag}f{i:06d}", i % args.conversations)
            if i % args.burst == args.burst - 1:
                await asyncio.sleep(0.05)
        await drained(args.conversations + args.messages)
        cpu = time.process_time() - started
    n = args.messages
    return {
        "messages": n,
        "statements_per_message": round(counts["statements"] / n, 2),
        "transactions_per_message": round(counts["transactions"] / n, 2),
        "by_verb_per_message": {k: round(v / n, 2) for k, v in counts.items() if k.isupper()},
        "process_cpu_ms_per_message_incl_fakes": round(cpu * 1000 / n, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="SQL statements per mirrored message")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--burst", type=int, default=20, help="webhooks sent back to back")
    args = parser.parse_args()
    event.listen(Engine, "before_cursor_execute", _count)
    event.listen(Engine, "commit", _commit)
    slack, graph = FakeSlack().start(), FakeGraph().start()
    flush_redis_db(REDIS_URL)
    try:
        with pg_database("statements") as db_url:
            upgrade(db_url)
            data = asyncio.run(measure(db_url, slack, graph, args))
    finally:
        slack.stop()
        graph.stop()
        flush_redis_db(REDIS_URL)
    print(f"statements per mirrored message: {data['statements_per_message']}")
    print(f"transactions per mirrored message: {data['transactions_per_message']}")
    print(f"by verb: {data['by_verb_per_message']}")
    print(f"wrote {write_result('statements', data)}")


if __name__ == "__main__":
    main()
