"""Benchmark (a) + (e): signed webhooks acknowledged per second by ``traza serve`` versus a bare
FastAPI endpoint (bench/bare_app.py: HMAC check + one INSERT), and the peak RSS of the serving process.

For each database (SQLite file in a temp dir, PostgreSQL) and each target (bare, ``traza serve
--no-worker``, ``traza serve`` with its worker) it starts the server as a subprocess (real uvicorn,
same settings), on a fresh database, sends a warm-up, then N realistic single-message text webhooks
with unique wamids at concurrency C (closed loop, keep-alive connections), and records req/s, p50/p99
ack latency, server CPU time and peak RSS (VmHWM). The worker variant talks to fake Slack/Graph
servers running in this process (threads) with TRAZA_SLACK_PACE=0, so it does as much work as it can.

    .venv/bin/python bench/ingest_ack.py [--requests 3000] [--concurrency 32] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    PYTHON,
    ROOT,
    RssSampler,
    bench_env,
    closed_loop,
    cpu_seconds,
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

TARGETS = ("bare", "traza_no_worker", "traza_worker")
TEXTS = (
    "Hola, quería saber el estado de mi pedido #{n}, gracias",
    "Olá! Meu pagamento {n} não aparece no app, podem verificar?",
    "Hi, I need help with my order {n} please",
    "Buenas tardes, ¿tienen stock del modelo {n}? Quiero comprar dos",
)


def build_requests(port: int, count: int, tag: str, customers: int) -> list[bytes]:
    out = []
    for i in range(count):
        text = TEXTS[i % len(TEXTS)].format(n=10000 + i)
        wamid = f"wamid.BENCH{tag}{i:08d}"
        out.append(webhook_request(webhook_bytes(text, wamid, i % customers), port))
    return out


def stored_rows(db_url: str, table: str) -> int | None:
    try:
        if db_url.startswith("sqlite"):
            path = db_url.split(":///", 1)[1]
            with sqlite3.connect(path, timeout=10) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

        async def pg() -> int:
            import asyncpg

            conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
            try:
                return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            finally:
                await conn.close()

        return asyncio.run(pg())
    except Exception as exc:
        print(f"  (could not count rows in {table}: {exc})")
        return None


def run_target(
    target: str, backend: str, db_url: str, workdir: Path, args: argparse.Namespace, fakes: dict[str, Any]
) -> dict[str, Any]:
    port = common.free_port()
    env = bench_env(db_url, fakes["slack_url"], fakes["graph_url"])
    log_path = common.RESULTS / "logs" / f"ingest_{backend}_{target}.log"
    if target == "bare":
        server = common.Server(
            [str(PYTHON), str(ROOT / "bench" / "bare_app.py"), "--port", str(port)],
            env,
            port,
            workdir,
            log_path,
        )
    else:
        server = traza_serve(env, port, workdir, log_path, worker=target == "traza_worker")
    tag = common.run_id()
    warm = build_requests(port, args.warmup, tag + "W", args.customers)
    load = build_requests(port, args.requests, tag + "M", args.customers)
    server.start()
    try:
        with RssSampler(server.pid) as rss:
            run_async(closed_loop(port, warm, args.concurrency, args.timeout))
            cpu_before = cpu_seconds(server.pid)
            result = run_async(closed_loop(port, load, args.concurrency, args.timeout))
            cpu_used = cpu_seconds(server.pid) - cpu_before
    finally:
        code = server.stop()
    table = "bench_inbox" if target == "bare" else "webhook_inbox"
    rows = stored_rows(db_url, table)
    out = {
        "backend": backend,
        "target": target,
        **result.summary(),
        "server_cpu_s": round(cpu_used, 2),
        "server_cpu_ms_per_req": round(1000 * cpu_used / result.ok, 3) if result.ok else None,
        "peak_rss_mb": rss.peak_mb,
        "rows_stored": rows,
        "rows_expected": args.warmup + args.requests,
        "exit_code": code,
        "stop_s": server.stop_s,
        "killed_on_stop": server.killed,
    }
    if result.ok != args.requests:
        out["log_tail"] = server.log_tail()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    slack, graph = FakeSlack().start(), FakeGraph().start()
    fakes = {"slack_url": slack.url + "/api/", "graph_url": graph.base_url}
    rows: list[dict[str, Any]] = []
    try:
        for backend in args.db:
            for target in TARGETS:
                if backend == "sqlite":
                    with temp_dir("ingest") as tmp:
                        # Traza runs with the default settings file DB (./traza.db in its working dir).
                        db_url = f"sqlite+aiosqlite:///{tmp}/traza.db"
                        row = run_target(target, backend, db_url, tmp, args, fakes)
                else:
                    with pg_database("ingest") as db_url, temp_dir("ingest") as tmp:
                        row = run_target(target, backend, db_url, tmp, args, fakes)
                rows.append(row)
                print(
                    f"  {backend:8s} {target:16s} {row['req_per_s']:8.1f} req/s  "
                    f"p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  rss {row['peak_rss_mb']} MB  "
                    f"ok {row['ok_200']}/{row['requests']}"
                )
                time.sleep(1.0)
        slack_posts = len(slack.posts())
    finally:
        slack.stop()
        graph.stop()
    summary = summarize(rows, args)
    return {
        "params": {
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "customers": args.customers,
            "databases": args.db,
            "worker_slack_pace": 0,
        },
        "runs": rows,
        "summary": summary,
        "fake_slack_posts_during_worker_runs": slack_posts,
    }


def summarize(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for backend in args.db:
        by = {r["target"]: r for r in rows if r["backend"] == backend}
        bare = by.get("bare", {}).get("req_per_s") or 0.0
        for target in ("traza_no_worker", "traza_worker"):
            row = by.get(target)
            if not row:
                continue
            ratio = round(row["req_per_s"] / bare, 3) if bare else None
            out.append(
                {
                    "backend": backend,
                    "target": target,
                    "req_per_s": row["req_per_s"],
                    "bare_req_per_s": bare,
                    "ratio": ratio,
                    "ratio_target": 0.5,
                    "ratio_ok": ratio is not None and ratio >= 0.5,
                    "p50_ms": row["p50_ms"],
                    "p99_ms": row["p99_ms"],
                    "bare_p50_ms": by.get("bare", {}).get("p50_ms"),
                    "bare_p99_ms": by.get("bare", {}).get("p99_ms"),
                    "peak_rss_mb": row["peak_rss_mb"],
                    "rss_target_mb": 200,
                    "rss_ok": row["peak_rss_mb"] < 200,
                    "all_acked": row["ok_200"] == args.requests,
                }
            )
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="(a)+(e) webhook ack throughput vs a bare endpoint")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run (N)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (C)")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument("--customers", type=int, default=100, help="distinct senders cycled through")
    parser.add_argument("--db", default="sqlite,postgres", help="comma list: sqlite,postgres")
    parser.add_argument("--timeout", type=float, default=300.0, help="hard stop per load phase, seconds")
    args = parser.parse_args(argv)
    args.db = [d.strip() for d in args.db.split(",") if d.strip()]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    print(f"ingest_ack: N={args.requests} C={args.concurrency} warm-up={args.warmup} dbs={','.join(args.db)}")
    data = run(args)
    path = write_result("ingest_ack", data)
    print()
    common.print_table(
        data["summary"],
        [
            ("backend", "db"),
            ("target", "target"),
            ("req_per_s", "req/s"),
            ("bare_req_per_s", "bare req/s"),
            ("ratio", "ratio"),
            ("ratio_ok", "≥0.5"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("bare_p50_ms", "bare p50"),
            ("bare_p99_ms", "bare p99"),
            ("peak_rss_mb", "peak RSS MB"),
            ("rss_ok", "<200MB"),
        ],
    )
    print(f"\nwrote {path}")
    return data


if __name__ == "__main__":
    main()
