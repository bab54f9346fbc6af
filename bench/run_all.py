"""Run benchmarks (a)+(e) ingest_ack, (b) mirror_latency, a quick (c) backlog_pace (60 messages) and
(d) search_metrics (1M messages; 100k with --quick), and print one table of the headline numbers
against their targets; writes bench/results/summary.json.

    .venv/bin/python bench/run_all.py [--quick]      # --quick: N=1000, 10 s of mirror load
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backlog_pace
import common
import ingest_ack
import mirror_latency
import search_metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few minutes in all)")
    args = parser.parse_args(argv)
    started = time.time()
    rows: list[dict[str, Any]] = []

    def row(bench: str, metric: str, value: Any, target: str, ok: bool | None) -> None:
        rows.append(
            {
                "bench": bench,
                "metric": metric,
                "value": value,
                "target": target,
                "ok": "" if ok is None else ("yes" if ok else "MISS"),
            }
        )

    print("=== (a)+(e) ingest_ack ===")
    a = ingest_ack.main(["--requests", "1000" if args.quick else "3000"])
    for s in a["summary"]:
        name = f"(a) {s['backend']} {s['target']}"
        row(name, "req/s (bare)", f"{s['req_per_s']} ({s['bare_req_per_s']})", "", None)
        row(name, "ratio traza/bare", s["ratio"], "≥ 0.5", s["ratio_ok"])
        row(name, "ack p50 / p99 ms", f"{s['p50_ms']} / {s['p99_ms']}", "", None)
        row(f"(e) {s['backend']} {s['target']}", "peak RSS MB", s["peak_rss_mb"], "< 200", s["rss_ok"])

    print("\n=== (b) mirror_latency ===")
    b = mirror_latency.main(["--duration", "10" if args.quick else "30"])
    f = b["followup_messages"]
    row(
        "(b) mirror", "achieved send rate msg/s", b["load"]["achieved_rate"], f"{b['params']['rate']:g}", None
    )
    row("(b) mirror", "follow-up p50 ms", f["p50_ms"], "< 50", b["targets"]["p50_ok"])
    row("(b) mirror", "follow-up p99 ms", f["p99_ms"], "< 250", b["targets"]["p99_ok"])
    c1 = b["first_messages_incl_card"]
    row("(b) mirror", "first msg (card+reply) p50/p99 ms", f"{c1['p50_ms']} / {c1['p99_ms']}", "", None)
    row(
        "(b) mirror",
        "missing / duplicates",
        f"{b['missing']} / {b['duplicate_replies']}",
        "0 / 0",
        b["missing"] == 0 and b["duplicate_replies"] == 0,
    )
    row("(b) mirror", "drained after s", b["drained_after_s"], f"≈ {b['params']['duration_s']:g}", None)

    print("\n=== (c) backlog_pace (quick) ===")
    c = backlog_pace.main(["--messages", "60"])
    for r in c["runs"]:
        name = f"(c) backlog {r['variant']}"
        row(name, "lost / duplicated", f"{r['lost']} / {r['duplicated']}", "0 / 0", r["exactly_once"])
        row(name, "429s seen", r["posts_429"], "", None)
        row(name, "busy ratio", r["busy_ratio"], "≥ 0.9", r["busy_ok"])
        row(
            name,
            "posts / messages (saved)",
            f"{r['posts_ok']} / {r['messages']} ({r['coalescing_posts_saved']})",
            "",
            None,
        )

    print("\n=== (d) search_metrics ===")
    d = search_metrics.main(["--messages", "100000" if args.quick else "1000000"])
    for r in d["results"]:
        target = f"p95 < {r['target_ms']:g}"
        row(
            f"(d) {r['kind']}",
            f"{r['query']} p50 / p95 ms",
            f"{r['p50_ms']} / {r['p95_ms']}",
            target,
            r["ok"] == "yes",
        )

    print(f"\n=== summary ({time.time() - started:.0f} s, {common.machine()['cpus']} CPUs) ===")
    common.print_table(
        rows,
        [
            ("bench", "benchmark"),
            ("metric", "metric"),
            ("value", "value"),
            ("target", "target"),
            ("ok", "ok"),
        ],
    )
    path = common.write_result("summary", {"rows": rows, "quick": args.quick})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
