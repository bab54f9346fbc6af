"""Nothing is lost, nothing doubles: ``traza serve`` killed with SIGKILL mid-flood, then restarted."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, GRAPH_TOKEN, SIGNING_SECRET, SLACK_TOKEN, VERIFY_TOKEN, env_for

pytestmark = pytest.mark.slow
CUSTOMERS = 6
PER_CUSTOMER = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "traza.cli", "serve"],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{env['TRAZA_PORT']}/healthz", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"traza serve did not start: {log.read_text()[-2000:]}")


def post(port: str, body: dict[str, object]) -> bool:
    raw = wp.serialize(body)
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/whatsapp/webhook",
            content=raw,
            timeout=5,
            headers={"X-Hub-Signature-256": wp.sign(raw, APP_SECRET), "Content-Type": "application/json"},
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def texts_in_threads(slack: FakeSlack, channel: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for card in slack.messages_in(channel):
        out[card["ts"]] = [m.get("text", "") for m in slack.thread(channel, card["ts"])]
    return out


def test_sigkill_mid_flood_loses_nothing_and_posts_nothing_twice(
    database_url: str, fakes: tuple[FakeSlack, FakeGraph], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    slack, graph = fakes
    slack.delay("chat.postMessage", 0.02)  # keep work in flight when the kill lands
    extra = {"TRAZA_PORT": str(free_port())}
    if database_url.startswith("postgresql"):
        extra["TRAZA_REDIS_URL"] = request.getfixturevalue("redis_url")
    env = env_for(database_url, slack, graph, **extra)
    log = tmp_path / "serve.log"
    messages = [(c, n) for n in range(PER_CUSTOMER) for c in range(CUSTOMERS)]
    rng = random.Random(7)
    process = start(env, log)
    try:
        sent = 0
        for kill_at in [*sorted(rng.sample(range(10, len(messages) - 10), 2)), len(messages)]:
            while sent < kill_at:
                customer, n = messages[sent]
                body = wp.inbound_text_webhook(
                    f"c{customer}-m{n:02d}", wa_id=f"54911000003{customer:02d}", user_id=f"AR.crash{customer}"
                )
                if post(env["TRAZA_PORT"], body):
                    sent += 1  # a webhook not acknowledged is sent again, as Meta would
            if kill_at < len(messages):
                time.sleep(rng.uniform(0.05, 0.3))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                process = start(env, log)
        deadline = time.monotonic() + 60
        expected = {f"c{c}-m{n:02d}" for c, n in messages}
        while time.monotonic() < deadline:
            seen = [t for texts in texts_in_threads(slack, "C0SOPORTE1").values() for t in texts]
            if expected <= set(seen):
                break
            time.sleep(0.2)
        threads = texts_in_threads(slack, "C0SOPORTE1")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert len(threads) == CUSTOMERS, f"one card per customer, got {len(threads)}: {log.read_text()[-3000:]}"
    counts = Counter(t for texts in threads.values() for t in texts)
    assert set(counts) == {f"c{c}-m{n:02d}" for c, n in messages}, "every message reached Slack"
    assert max(counts.values()) == 1, f"posted twice: {[t for t, k in counts.items() if k > 1]}"
    for texts in threads.values():
        assert texts == sorted(texts), "per-conversation order kept"
    logged = log.read_text()
    for secret in (APP_SECRET, SIGNING_SECRET, SLACK_TOKEN, GRAPH_TOKEN, VERIFY_TOKEN):
        assert secret not in logged, "a secret reached the logs"
