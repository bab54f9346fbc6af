"""Prometheus exposition for operators: webhook counts and latency, queue depth and age, Redis health.

Counters live in the process (each process exposes its own; Prometheus sums them). Kept hand-written
and small: a handful of series does not justify a client library.
"""

from __future__ import annotations

from collections import Counter

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.webhooks: Counter[int] = Counter()
        self.updates = 0
        self.latency_buckets = [0] * len(BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def webhook(self, status: int, seconds: float, updates: int) -> None:
        self.webhooks[status] += 1
        self.updates += updates
        if status == 200:
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.latency_buckets[i] += 1

    def exposition(self, *, queue_depth: int, queue_age: float, redis_ok: bool, posts_saved: int = 0) -> str:
        lines = [
            "# HELP traza_webhooks_total WhatsApp webhook POSTs by HTTP status answered.",
            "# TYPE traza_webhooks_total counter",
            *(f'traza_webhooks_total{{status="{s}"}} {n}' for s, n in sorted(self.webhooks.items())),
            "# HELP traza_webhook_updates_total Updates (messages, statuses, errors) accepted.",
            "# TYPE traza_webhook_updates_total counter",
            f"traza_webhook_updates_total {self.updates}",
            "# HELP traza_webhook_ack_seconds Time to store and acknowledge a webhook.",
            "# TYPE traza_webhook_ack_seconds histogram",
            *(
                f'traza_webhook_ack_seconds_bucket{{le="{b}"}} {n}'
                for b, n in zip(BUCKETS, self.latency_buckets, strict=True)
            ),
            f'traza_webhook_ack_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"traza_webhook_ack_seconds_sum {self.latency_sum:.6f}",
            f"traza_webhook_ack_seconds_count {self.latency_count}",
            "# HELP traza_queue_depth Jobs waiting for the worker.",
            "# TYPE traza_queue_depth gauge",
            f"traza_queue_depth {queue_depth}",
            "# HELP traza_queue_oldest_age_seconds Age of the oldest waiting job.",
            "# TYPE traza_queue_oldest_age_seconds gauge",
            f"traza_queue_oldest_age_seconds {queue_age:.3f}",
            "# HELP traza_slack_posts_saved_total Customer messages posted inside another's Slack post "
            "(coalesced while the channel's pace held them back) by this process's worker.",
            "# TYPE traza_slack_posts_saved_total counter",
            f"traza_slack_posts_saved_total {posts_saved}",
            "# HELP traza_redis_up Whether Redis answered the last call (1 when not configured).",
            "# TYPE traza_redis_up gauge",
            f"traza_redis_up {1 if redis_ok else 0}",
        ]
        return "\n".join(lines) + "\n"
