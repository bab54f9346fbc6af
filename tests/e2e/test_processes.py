"""Several processes share one PostgreSQL and one Redis: two ``traza serve --no-worker`` behind a
(simulated) load balancer and three ``traza worker``. A worker killed with SIGKILL mid-flood has its
work taken over; every customer message reaches Slack once and in order per conversation, and every
agent reply (sent to either serve process) reaches WhatsApp once and in order."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from tests import slack_payloads as sp
from tests.e2e.test_coalescing import parts
from tests.e2e.test_crash import free_port, post
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import SIGNING_SECRET, env_for

pytestmark = pytest.mark.slow
CHANNEL = "C0SOPORTE1"
AGENT = "U0AGENT003"
CUSTOMERS = 8
PER_CUSTOMER = 12
REPLIES = 5


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "traza.cli", "worker"],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def slack_event(port: str, payload: dict[str, object]) -> bool:
    raw = json.dumps(payload)
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=raw),
    }
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/slack/events", content=raw, headers=headers, timeout=5
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.2)
    return False


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("pace", ["0", "4"], ids=["pace-lifted", "paced-and-coalescing"])
def test_two_servers_and_three_workers_survive_a_killed_worker_exactly_once_and_in_order(
    pace: str, pg_url: str, redis_url: str, fakes: tuple[FakeSlack, FakeGraph], tmp_path: Path
) -> None:
    slack, graph = fakes
    slack.delay("chat.postMessage", 0.02)  # keep work in flight when the kill lands
    graph.delay("send", 0.02)
    slack.set_user(AGENT, display_name="Lucía")
    base = env_for(pg_url, slack, graph, TRAZA_REDIS_URL=redis_url, TRAZA_SLACK_PACE=pace)
    ports = [str(free_port()), str(free_port())]
    log = tmp_path / "traza.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            serve = subprocess.Popen(
                [sys.executable, "-m", "traza.cli", "serve", "--no-worker"],
                env={**os.environ, **base, "TRAZA_PORT": port},
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
            processes.append(serve)
            assert wait_until(lambda p=port: _healthy(p), 30), (
                f"serve did not start: {log.read_text()[-2000:]}"
            )
        workers = [start_worker(base, log) for _ in range(3)]
        processes += workers
        balancer = itertools.cycle(ports)

        # Customers flood both servers; one worker dies with SIGKILL half-way.
        messages = [(c, n) for n in range(PER_CUSTOMER) for c in range(CUSTOMERS)]
        for i, (customer, n) in enumerate(messages):
            body = _customer_webhook(customer, n)
            while not post(next(balancer), body):
                pass  # not acknowledged: the sender retries, as Meta would
            if i == len(messages) // 2:
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait(10)
        expected = {f"c{c}-m{n:02d}" for c, n in messages}
        assert wait_until(
            lambda: expected <= {t for ts in texts_in_threads(slack, CHANNEL).values() for t in ts}, 120
        ), f"customer messages missing: {log.read_text()[-3000:]}"
        threads = texts_in_threads(slack, CHANNEL)

        # Agents answer in every thread through both servers; another worker dies mid-way and
        # the first comes back.
        events = [(thread, r) for r in range(REPLIES) for thread in sorted(threads)]
        for i, (thread, r) in enumerate(events):
            payload = sp.thread_reply(CHANNEL, thread, AGENT, f"r{_customer_of(threads[thread])}-{r:02d}")
            while not slack_event(next(balancer), payload):
                pass
            if i == len(events) // 2:
                workers[1].send_signal(signal.SIGKILL)
                workers[1].wait(10)
                processes.append(start_worker(base, log))
        assert wait_until(lambda: len(graph.sends()) >= len(events), 90), (
            f"replies missing ({len(graph.sends())}/{len(events)}): {log.read_text()[-3000:]}"
        )
        time.sleep(1.0)  # a late duplicate would show up now
        threads = texts_in_threads(slack, CHANNEL)
        sends = graph.sends()
    finally:
        stop_all(processes)

    assert len(threads) == CUSTOMERS, f"one card per customer: {log.read_text()[-3000:]}"
    counts = Counter(t for texts in threads.values() for t in texts)
    assert set(counts) == expected, "every customer message reached Slack"
    assert max(counts.values()) == 1, f"posted twice: {[t for t, k in counts.items() if k > 1]}"
    for texts in threads.values():
        assert texts == sorted(texts), f"per-conversation order kept: {texts}"
    replies = [s.text.rsplit("\n", 1)[-1] for s in sends if s.text]
    assert Counter(replies).most_common(1)[0][1] == 1, "a reply reached WhatsApp twice"
    assert len(replies) == len(events), "every reply reached WhatsApp"
    by_customer: dict[str, list[str]] = {}
    for s in sends:
        by_customer.setdefault(str(s.to), []).append(str(s.text).rsplit("\n", 1)[-1])
    assert len(by_customer) == CUSTOMERS
    for texts in by_customer.values():
        assert texts == sorted(texts), f"replies in order per conversation: {texts}"
        assert len({t.split("-")[0] for t in texts}) == 1, "each reply went to its own customer"


def texts_in_threads(slack: FakeSlack, channel: str) -> dict[str, list[str]]:
    """Per card, the customer messages its thread carries (a coalesced post counts each part)."""
    return {
        card["ts"]: [p for m in slack.thread(channel, card["ts"]) for p in parts(m)]
        for card in slack.messages_in(channel)
    }


def _healthy(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _customer_webhook(customer: int, n: int) -> dict[str, object]:
    from tests.fakes import whatsapp_payloads as wp

    return wp.inbound_text_webhook(
        f"c{customer}-m{n:02d}", wa_id=f"54911000004{customer:02d}", user_id=f"AR.procs{customer}"
    )


def _customer_of(texts: list[str]) -> str:
    return texts[0].split("-")[0].removeprefix("c")
