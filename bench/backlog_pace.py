"""Benchmark (c): draining a backlog into one Slack channel at Slack's real pace (TRAZA_SLACK_PACE=1).

``traza serve`` (subprocess, with its worker; PostgreSQL + Redis db 14 by default) receives M customer
messages from a few customers, all routed to one team channel, as fast as it acknowledges them. The
fake Slack (in this process) records every ``chat.postMessage``. Reported per variant:

* lost / duplicated: every message's unique token must appear in exactly one successful thread reply;
* 429s seen: posts the fake answered 429 (variant ``429``: every 10th post — ``--every`` — gets 429
  Retry-After: 1, often enough to matter now that coalescing makes few posts;
  variant ``plain`` never 429s);
* channel busy ratio = successful posts / (seconds from the first webhook sent to one pace slot after
  the last post × pace) — how much of the channel's allowance was used while work was queued (target ≥ 90 %);
* posts saved by coalescing = messages − thread replies carrying them (0 when each message is one post);
* the largest number of posts in any 1-second window (the pace says ≤ 1).

    .venv/bin/python bench/backlog_pace.py [--messages 600] [--variants plain,429] [--db postgres|sqlite]
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    CHANNEL,
    REDIS_URL,
    RssSampler,
    bench_env,
    closed_loop,
    flush_redis_db,
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


class EveryNth429Slack(FakeSlack):
    """FakeSlack that answers every ``every``-th ``chat.postMessage`` with 429 Retry-After: 1."""

    def __init__(self, every: int, retry_after: int = 1) -> None:
        super().__init__()
        self.every, self.retry_after = every, retry_after
        self._count = 0
        self._count_lock = threading.Lock()

    async def _endpoint(self, request: Request) -> Response:
        if self.every > 0 and request.path_params.get("method") == "chat.postMessage":
            with self._count_lock:
                self._count += 1
                hit = self._count % self.every == 0
            if hit:
                self.rate_limit_next("chat.postMessage", 1, self.retry_after)
        return await super()._endpoint(request)


def run_variant(variant: str, args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, Any]:
    slack: FakeSlack = EveryNth429Slack(args.every) if variant == "429" else FakeSlack()
    slack.start()
    graph = FakeGraph().start()
    tag = common.run_id()
    pattern = re.compile(rf"BP{tag}x(\d+)x")
    extra = {"TRAZA_SLACK_PACE": str(args.pace)}
    if args.db == "postgres":
        flush_redis_db(REDIS_URL)
        extra["TRAZA_REDIS_URL"] = REDIS_URL
    port = common.free_port()
    env = bench_env(db_url, slack.url + "/api/", graph.base_url, **extra)
    requests = [
        webhook_request(
            webhook_bytes(f"Mensaje BP{tag}x{i}x del cliente", f"wamid.BP{tag}{i:08d}", i % args.customers),
            port,
        )
        for i in range(args.messages)
    ]
    server = traza_serve(env, port, workdir, common.RESULTS / "logs" / f"backlog_{variant}.log", worker=True)
    server.start()
    limit = args.messages / args.pace * 1.5 + 60 if args.pace > 0 else 120
    try:
        with RssSampler(server.pid, interval=0.5) as rss:
            t_first = time.time()
            load = run_async(closed_loop(port, requests, 8, 120))
            t_acked = time.time()
            deadline = time.monotonic() + limit
            seen: dict[int, int] = {}
            while time.monotonic() < deadline:
                seen = {}
                for call in slack.posts():
                    if call.status == 200 and call.args.get("thread_ts"):
                        for m in pattern.finditer(str(call.args.get("text", ""))):
                            seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
                if len(seen) >= args.messages:
                    time.sleep(2.0)  # let a late duplicate show up, if any
                    break
                time.sleep(0.5)
    finally:
        server.stop()
        slack.stop()
        graph.stop()
        if args.db == "postgres":
            flush_redis_db(REDIS_URL)
    posts = [c for c in slack.posts() if c.args.get("channel") == CHANNEL]
    ok_posts = [c for c in posts if c.status == 200]
    limited = [c for c in posts if c.status == 429]
    replies = [c for c in ok_posts if c.args.get("thread_ts")]
    seen = {}
    for call in replies:
        for m in pattern.finditer(str(call.args.get("text", ""))):
            seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
    last_post = max((c.at for c in ok_posts), default=t_first)
    # Each post uses one 1/pace slot, so the channel's allowance runs until one slot after the last post.
    slot = 1.0 / args.pace if args.pace > 0 else 0.0
    window = max(last_post + slot - t_first, 1e-9)
    busy = len(ok_posts) / (window * args.pace) if args.pace > 0 else None
    # Busy ratio counted from the first post (excludes the time to ingest and post the first card).
    first_post = min((c.at for c in ok_posts), default=t_first)
    steady = len(ok_posts) / ((last_post + slot - first_post) * args.pace) if args.pace > 0 else None
    lost = args.messages - len(seen)
    return {
        "variant": variant,
        "messages": args.messages,
        "acked_200": load.ok,
        "ack_s": round(t_acked - t_first, 2),
        "lost": lost,
        "duplicated": sum(1 for n in seen.values() if n > 1),
        "exactly_once": lost == 0 and all(n == 1 for n in seen.values()),
        "posts_ok": len(ok_posts),
        "card_posts": len(ok_posts) - len(replies),
        "reply_posts": len(replies),
        "posts_429": len(limited),
        "coalescing_posts_saved": args.messages - len(replies),
        "window_s": round(window, 2),
        "busy_ratio": round(busy, 3) if busy is not None else None,
        "busy_ratio_from_first_post": round(steady, 3) if steady is not None else None,
        "busy_target": 0.9,
        "busy_ok": busy is not None and busy >= 0.9,
        "max_posts_in_1s": slack.max_posts_per_window(CHANNEL, 1.0, include_failed=False),
        "max_attempts_in_1s": slack.max_posts_per_window(CHANNEL, 1.0, include_failed=True),
        "peak_rss_mb": rss.peak_mb,
        "timed_out": lost > 0,
        "traza_stop_s": server.stop_s,
        "traza_killed_on_stop": server.killed,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for variant in args.variants:
        if args.db == "postgres":
            with pg_database("backlog") as db_url, temp_dir("backlog") as tmp:
                row = run_variant(variant, args, db_url, tmp)
        else:
            with temp_dir("backlog") as tmp:
                row = run_variant(variant, args, f"sqlite+aiosqlite:///{tmp}/traza.db", tmp)
        rows.append(row)
        print(
            f"  {variant:6s} lost {row['lost']} dup {row['duplicated']}  posts {row['posts_ok']} "
            f"(cards {row['card_posts']}, replies {row['reply_posts']})  429s {row['posts_429']}  "
            f"busy {row['busy_ratio']} (from first post {row['busy_ratio_from_first_post']})  "
            f"saved {row['coalescing_posts_saved']}  max/1s {row['max_posts_in_1s']}  "
            f"window {row['window_s']} s"
        )
    return {
        "params": {
            "messages": args.messages,
            "customers": args.customers,
            "pace": args.pace,
            "database": args.db,
            "variants": args.variants,
        },
        "runs": rows,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="(c) backlog drained at Slack's pace")
    parser.add_argument("--messages", type=int, default=600, help="backlog size M")
    parser.add_argument("--customers", type=int, default=10, help="distinct customers (one card each)")
    parser.add_argument("--pace", type=float, default=1.0, help="TRAZA_SLACK_PACE")
    parser.add_argument("--variants", default="plain,429", help="comma list: plain,429")
    parser.add_argument(
        "--every", type=int, default=10, help="variant 429: every Nth chat.postMessage is answered 429"
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    print(
        f"backlog_pace: {args.messages} messages from {args.customers} customers to {CHANNEL}, "
        f"pace {args.pace:g}/s, {args.db}; variants {','.join(args.variants)}"
    )
    data = run(args)
    path = write_result(f"backlog_pace_{args.messages}", data)
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
