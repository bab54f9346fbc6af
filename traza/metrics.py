"""Prometheus exposition for operators: webhook counts and latency, queue depth and age, Redis health,
Slack and Graph API errors, delivery outcomes and SLA breaches.

Two kinds of series, said in each one's HELP:

- *process* counters (webhooks, Slack and Graph API errors) count what this process did: in a
  deployment of several processes each exposes its own and Prometheus sums them
  (``sum by (method, code) (traza_slack_api_errors_total)``). A ``traza worker`` process serves them
  on ``--metrics-port``.
- *deployment* counters (deliveries, SLA breaches) and the queue gauges are read from the database
  (``store.event_counts``), so every process shows the same whole-deployment value: aggregate them
  with ``max``, not ``sum``.

Kept hand-written and small: a few dozen series do not justify a client library.
"""

from __future__ import annotations

from collections import Counter

from store.event_counts import EventCounts

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.webhooks: Counter[int] = Counter()
        self.updates = 0
        self.latency_buckets = [0] * len(BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.slack_errors: Counter[tuple[str, str]] = Counter()
        self.graph_errors: Counter[str] = Counter()

    def slack_error(self, method: str, code: str) -> None:
        self.slack_errors[(method, code)] += 1

    def graph_error(self, code: str) -> None:
        self.graph_errors[code] += 1

    def webhook(self, status: int, seconds: float, updates: int) -> None:
        self.webhooks[status] += 1
        self.updates += updates
        if status == 200:
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.latency_buckets[i] += 1

    def exposition(
        self,
        *,
        queue_depth: int,
        queue_age: float,
        redis_ok: bool,
        posts_saved: int = 0,
        counts: EventCounts | None = None,
    ) -> str:
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
            "# HELP traza_slack_api_errors_total Failed Slack Web API calls of this process, "
            "by method and error.",
            "# TYPE traza_slack_api_errors_total counter",
            *(
                f'traza_slack_api_errors_total{{method="{_label(m)}",code="{_label(c)}"}} {n}'
                for (m, c), n in sorted(self.slack_errors.items())
            ),
            "# HELP traza_graph_api_errors_total Failed Graph API calls of this process, by error code.",
            "# TYPE traza_graph_api_errors_total counter",
            *(
                f'traza_graph_api_errors_total{{code="{_label(c)}"}} {n}'
                for c, n in sorted(self.graph_errors.items())
            ),
        ]
        if counts is not None:
            lines += _deployment(counts)
        return "\n".join(lines) + "\n"


def _deployment(counts: EventCounts) -> list[str]:
    return [
        "# HELP traza_deliveries_total Agent replies by outcome, whole deployment (from the event log; "
        "aggregate with max): accepted by the Graph API, then WhatsApp's sent, delivered, read, failed.",
        "# TYPE traza_deliveries_total counter",
        *(
            f'traza_deliveries_total{{outcome="{o}"}} {counts.deliveries[o]}'
            for o in ("accepted", "sent", "delivered", "read", "failed")
        ),
        "# HELP traza_sla_breaches_total SLA targets missed, whole deployment (from the event log; "
        "aggregate with max), by team and target.",
        "# TYPE traza_sla_breaches_total counter",
        *(
            f'traza_sla_breaches_total{{team="{_label(t)}",target="{_label(g)}"}} {n}'
            for (t, g), n in sorted(counts.sla_breaches.items())
        ),
    ]


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
