"""Outbound webhooks, the rules without the I/O: what one delivery's body and headers are, how it is
signed and verified, and what an answer means (delivered, retry later, or dead-letter).

Signature: ``X-Traza-Signature: sha256=<hex>`` where ``<hex>`` is HMAC-SHA256, keyed with the
endpoint's secret, over ``<X-Traza-Timestamp> + "." + <raw body>``; the timestamp is the Unix time of
this attempt, so a captured request cannot be replayed later (``verify_signature`` is the reference
recipe: receivers reject timestamps older than ``tolerance`` seconds). The body is identical on every
attempt; ``Idempotency-Key`` (the event's ``seq``) lets the receiver drop a repeat.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain import EventType

SIGNATURE_HEADER = "X-Traza-Signature"
TIMESTAMP_HEADER = "X-Traza-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Traza-Event"
ATTEMPT_HEADER = "X-Traza-Attempt"
NEVER_SENT = frozenset({str(EventType.WEBHOOK_DEAD_LETTERED)})
"""Events about webhook delivery itself stay in the log: sending them could feed back forever."""
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_BACKOFF = 3600.0


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event of the log as a webhook sends it (``payload`` is ``None`` once its body is erased)."""

    seq: int
    type: str
    occurred_at: datetime
    ref: int | None
    team_id: str | None
    phone_number_id: str | None
    actor: str | None
    payload: dict[str, Any] | None


def envelope(event: EventRecord) -> bytes:
    """The JSON body of a delivery: compact, keys sorted, the same bytes on every attempt."""
    doc = {
        "seq": event.seq,
        "type": event.type,
        "time": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "ref": event.ref,
        "team": event.team_id,
        "number": event.phone_number_id,
        "actor": event.actor,
        "payload": event.payload,
        "erased": event.payload is None,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def headers(secret: str, event: EventRecord, body: bytes, attempt: int, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Traza-Webhooks/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        IDEMPOTENCY_HEADER: str(event.seq),
        EVENT_HEADER: event.type,
        ATTEMPT_HEADER: str(attempt),
    }


def verify_signature(
    secret: str, body: bytes, timestamp: str, signature: str, now: float, tolerance: float = 300.0
) -> bool:
    """The receiver's check: a fresh timestamp and a matching HMAC (compared in constant time)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead_lettered"


def classify(status: int) -> Outcome:
    """2xx delivered; 408/425/429 and 5xx retried; any other answer (4xx, 3xx) is final."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome.RETRY
    return Outcome.DEAD


def backoff(attempts: int, base: float = 1.0) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base``, capped at an hour, jittered."""
    delay = min(MAX_BACKOFF, base * 2.0 ** min(max(attempts - 1, 0), 20))
    return delay * (0.8 + 0.4 * random.random())


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``None`` when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None
