"""Benchmark (b): webhook-to-Slack latency under a steady load.

``traza serve`` (subprocess, with its worker) on a fresh PostgreSQL database and Redis db 14, with
TRAZA_SLACK_PACE=0, talks to fake Slack and Graph servers running in this process (threads). An
open-loop sender posts signed single-text webhooks at a fixed rate (default 200/s) for D seconds
(default 30) across K conversations (default 500 distinct customers, message i from customer i mod K).
Each text carries a unique token; latency = the fake Slack's arrival time of the thread reply
carrying that token (``Call.at``) minus the wall-clock time just before the webhook was written.

A conversation's first message also has its card posted first, so first messages are reported apart
from the steady-state ("follow-up") messages. The achieved send rate is reported as measured.

    .venv/bin/python bench/mirror_latency.py [--rate 200] [--duration 30] [--conversations 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    CHANNEL,
    REDIS_URL,
    HttpConnection,
    RssSampler,
    bench_env,
    cpu_seconds,
    flush_redis_db,
    ms,
    percentile,
    pg_database,
    run_async,
    temp_dir,
    traza_serve,
    webhook_bytes,
    webhook_request,
    write_result,
)

from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack


async def open_loop(
    port: int, requests: list[bytes], rate: float, connections: int, deadline_s: float
) -> dict[str, Any]:
    """Send request i at t0 + i/rate (never earlier) over ``connections`` keep-alive connections.
    A send is late when every connection is still waiting for an answer; lateness is reported."""
    sent_at: list[float | None] = [None] * len(requests)
    statuses: Counter[int] = Counter()
    ack: list[float] = []
    lateness: list[float] = []
    index = 0
    t0 = time.perf_counter() + 0.2
    stop_at = t0 + deadline_s

    async def worker() -> None:
        nonlocal index
        conn = HttpConnection(port)
        try:
            while index < len(requests):
                i = index
                index += 1
                due = t0 + i / rate
                now = time.perf_counter()
                if now > stop_at:
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                lateness.append(max(0.0, time.perf_counter() - due))
                sent_at[i] = time.time()
                started = time.perf_counter()
                status = await conn.send(requests[i])
                statuses[status] += 1
                if status == 200:
                    ack.append(time.perf_counter() - started)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    times = [t for t in sent_at if t is not None]
    span = (max(times) - min(times)) if len(times) > 1 else 0.0
    return {
        "sent_at": sent_at,
        "sent": len(times),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "achieved_rate": round((len(times) - 1) / span, 1) if span > 0 else 0.0,
        "send_span_s": round(span, 2),
        "ack_p50_ms": ms(percentile(ack, 50)),
        "ack_p99_ms": ms(percentile(ack, 99)),
        "late_p99_ms": ms(percentile(lateness, 99)),
        "late_max_ms": ms(max(lateness) if lateness else None),
    }


def thread_replies(slack: FakeSlack, pattern: re.Pattern[str]) -> dict[int, list[float]]:
    """Token index -> arrival times of successful thread replies carrying it."""
    seen: dict[int, list[float]] = {}
    for call in slack.posts():
        if call.status != 200 or not call.args.get("thread_ts"):
            continue
        for match in pattern.finditer(str(call.args.get("text", ""))):
            seen.setdefault(int(match.group(1)), []).append(call.at)
    return seen


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = int(args.rate * args.duration)
    tag = common.run_id()
    pattern = re.compile(rf"BQ{tag}x(\d+)x")
    slack, graph = FakeSlack().start(), FakeGraph().start()
    flush_redis_db(REDIS_URL)
    try:
        with pg_database("mirror") as db_url, temp_dir("mirror") as tmp:
            port = common.free_port()
            env = bench_env(
                db_url,
                slack.url + "/api/",
                graph.base_url,
                TRAZA_REDIS_URL=REDIS_URL,
                TRAZA_SLACK_PACE="0",
            )
            if args.worker_concurrency:
                env["TRAZA_WORKER_CONCURRENCY"] = str(args.worker_concurrency)
            requests = [
                webhook_request(
                    webhook_bytes(
                        f"Hola, consulta BQ{tag}x{i}x sobre mi pedido {i}",
                        f"wamid.BQ{tag}{i:08d}",
                        i % args.conversations,
                    ),
                    port,
                )
                for i in range(total)
            ]
            log_path = common.RESULTS / "logs" / "mirror_latency.log"
            server = traza_serve(env, port, tmp, log_path, worker=not args.workers)
            if args.profile:
                prof = common.RESULTS / "mirror_latency_profile.prof"
                server.argv = [str(common.PYTHON), str(common.ROOT / "bench" / "profile_serve.py"), str(prof)]
                server.argv += ["serve", "--host", "127.0.0.1", "--port", str(port)]
            server.start()
            workers = [
                subprocess.Popen(
                    [str(common.TRAZA), "worker"],
                    env=env,
                    cwd=tmp,
                    stdout=(common.RESULTS / "logs" / f"mirror_latency_worker{n}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
                for n in range(args.workers)
            ]
            pids = [server.pid, *(w.pid for w in workers)]
            time.sleep(2.0 if workers else 0.0)  # let the workers connect
            bench_cpu0, cpu0 = sum(os.times()[:2]), sum(cpu_seconds(p) for p in pids)
            try:
                with RssSampler(server.pid, interval=0.2) as rss:
                    started = time.time()
                    load = run_async(
                        open_loop(port, requests, args.rate, args.connections, args.duration + args.drain)
                    )
                    sent_idx = [i for i, t in enumerate(load["sent_at"]) if t is not None]
                    deadline = time.monotonic() + args.drain
                    seen: dict[int, list[float]] = {}
                    while time.monotonic() < deadline:
                        seen = thread_replies(slack, pattern)
                        if all(i in seen for i in sent_idx):
                            break
                        time.sleep(0.5)
                    drained_after = time.time() - started
                    cpu_used = sum(cpu_seconds(p) for p in pids) - cpu0
                    bench_cpu = sum(os.times()[:2]) - bench_cpu0
            finally:
                if args.profile and server.proc is not None and server.proc.poll() is None:
                    server.proc.send_signal(signal.SIGUSR1)
                    time.sleep(10.0)  # writing the profile takes a few seconds
                for w in workers:
                    w.send_signal(signal.SIGTERM)
                for w in workers:
                    try:
                        w.wait(30)
                    except subprocess.TimeoutExpired:
                        w.kill()
                server.stop(90.0 if args.profile else 30.0)
    finally:
        slack.stop()
        graph.stop()
        flush_redis_db(REDIS_URL)
    sent_at = load.pop("sent_at")
    first, follow, missing, dupes = [], [], [], 0
    for i in sent_idx:
        arrivals = seen.get(i)
        if not arrivals:
            missing.append(i)
            continue
        dupes += len(arrivals) - 1
        latency = min(arrivals) - sent_at[i]
        (first if i < args.conversations else follow).append(latency)
    posts = slack.posts()
    cards = [
        c
        for c in posts
        if c.status == 200 and not c.args.get("thread_ts") and c.args.get("channel") == CHANNEL
    ]
    wall = max(drained_after, 1e-9)

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "p50_ms": ms(percentile(values, 50)),
            "p90_ms": ms(percentile(values, 90)),
            "p99_ms": ms(percentile(values, 99)),
            "max_ms": ms(max(values) if values else None),
        }

    follow_stats = stats(follow)
    return {
        "params": {
            "rate": args.rate,
            "duration_s": args.duration,
            "conversations": args.conversations,
            "connections": args.connections,
            "worker_concurrency": args.worker_concurrency or "default (16)",
            "processes": f"serve --no-worker + {args.workers} worker"
            if args.workers
            else "serve (with worker)",
            "slack_pace": 0,
            "database": "postgresql",
            "redis": REDIS_URL,
        },
        "load": load,
        "followup_messages": follow_stats,
        "first_messages_incl_card": stats(first),
        "missing": len(missing),
        "missing_sample": missing[:10],
        "duplicate_replies": dupes,
        "card_posts": len(cards),
        "slack_calls_total": len(slack.calls),
        "slack_calls_by_method": dict(Counter(c.method for c in slack.calls)),
        "graph_requests": len(graph.calls) if hasattr(graph, "calls") else None,
        "drained_after_s": round(drained_after, 2),
        "traza_cpu_s": round(cpu_used, 2),
        "traza_cpu_cores_avg": round(cpu_used / wall, 2),
        "bench_process_cpu_s": round(bench_cpu, 2),
        "traza_peak_rss_mb": rss.peak_mb,
        "traza_stop_s": server.stop_s,
        "traza_killed_on_stop": server.killed,
        "targets": {
            "p50_ms": 50,
            "p99_ms": 250,
            "p50_ok": (follow_stats["p50_ms"] or 1e9) < 50,
            "p99_ok": (follow_stats["p99_ms"] or 1e9) < 250,
        },
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="(b) webhook-to-Slack latency under steady load")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--conversations", type=int, default=500, help="distinct customers")
    parser.add_argument("--connections", type=int, default=64, help="sender keep-alive connections")
    parser.add_argument("--drain", type=float, default=240.0, help="max seconds to wait for the last posts")
    parser.add_argument(
        "--worker-concurrency", type=int, default=0, help="TRAZA_WORKER_CONCURRENCY (0=default)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="run `serve --no-worker` plus N `traza worker` (0: one serve)"
    )
    parser.add_argument("--profile", action="store_true", help="run traza under cProfile (slower)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    print(
        f"mirror_latency: {args.rate:g} msg/s for {args.duration:g}s, {args.conversations} conversations "
        "(PostgreSQL + Redis, pace 0)"
    )
    data = run(args)
    path = write_result("mirror_latency", data)
    f, c, load, ok = (
        data["followup_messages"],
        data["first_messages_incl_card"],
        data["load"],
        data["targets"],
    )
    print(f"  sent {load['sent']} at {load['achieved_rate']} msg/s achieved (target {args.rate:g})")
    print(f"  statuses {load['statuses']}; sender lateness p99 {load['late_p99_ms']} ms")
    print(f"  ack p50 {load['ack_p50_ms']} ms  p99 {load['ack_p99_ms']} ms")
    print(f"  follow-ups: n={f['count']} p50 {f['p50_ms']} ms  p99 {f['p99_ms']} ms max {f['max_ms']} ms")
    print(f"    targets: p50<50 {ok['p50_ok']}, p99<250 {ok['p99_ok']}")
    print(f"  first messages (card+reply): n={c['count']} p50 {c['p50_ms']} ms  p99 {c['p99_ms']} ms")
    print(
        f"  missing {data['missing']}  duplicates {data['duplicate_replies']}  cards {data['card_posts']}  "
        f"drained after {data['drained_after_s']} s"
    )
    print(
        f"  traza CPU {data['traza_cpu_s']} s ({data['traza_cpu_cores_avg']} cores avg), peak RSS "
        f"{data['traza_peak_rss_mb']} MB; bench process CPU {data['bench_process_cpu_s']} s"
    )
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
