"""Shared state across processes: wake-ups, per-channel pacing and dedupe keys.

Each has a Redis implementation (used when ``TRAZA_REDIS_URL`` is set) and an in-process twin (the
embedded default). Redis is never the source of truth — the database is — so every Redis call is
guarded: when Redis fails, the in-process twin takes over for that call, ``healthy`` turns false
(``/readyz`` reports it), and the next successful call turns it back. Nothing is lost while Redis is
down; only cross-process pacing and wake-up latency degrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("traza.coordination")
T = TypeVar("T")
WAKE_CHANNEL = "traza:wake"
SIGNALS = ("inbox", "jobs")
REDIS_RETRY_SECONDS = 5.0

_PACE_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= next_at then
  redis.call('SET', KEYS[1], tostring(now + interval), 'PX', math.ceil(interval * 1000) + 60000)
  return '0'
end
return tostring(next_at - now)
"""


class LocalPacer:
    """At most ``rate`` posts per second per channel (``rate == 0`` lifts the pace)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}

    def try_acquire(self, channel: str) -> float:
        """0 when a post may go now (and the slot is taken), else seconds to wait."""
        if self.interval == 0 and channel not in self._next:
            return 0.0
        now = time.monotonic()
        next_at = self._next.get(channel, 0.0)
        if now >= next_at:
            self._next[channel] = now + self.interval
            return 0.0
        return next_at - now

    def block(self, channel: str, seconds: float) -> None:
        """Slack said 429 for this channel: nothing goes there for ``seconds``."""
        self._next[channel] = max(self._next.get(channel, 0.0), time.monotonic() + seconds)


class LocalDedupe:
    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self.capacity = capacity

    def set_if_absent(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl
        self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


class Coordinator:
    """The one object the app and worker use for shared state; Redis-backed when configured."""

    def __init__(self, pace: float, redis: Any | None = None) -> None:
        self.redis = redis
        self.local_pacer = LocalPacer(pace)
        self.local_dedupe = LocalDedupe()
        self.pace_interval = self.local_pacer.interval
        self.healthy = True
        self._signals = {name: asyncio.Event() for name in SIGNALS}
        self._retry_at = 0.0

    async def _guard(self, call: Callable[[], Awaitable[T]], fallback: Callable[[], T]) -> T:
        if self.redis is None:
            return fallback()
        if not self.healthy and time.monotonic() < self._retry_at:
            return fallback()  # circuit open: do not wait on a dead Redis for every call
        try:
            result = await call()
        except Exception as exc:  # any Redis failure: degrade, never fail the caller
            if self.healthy:
                log.warning("Redis unavailable, using in-process state until it returns: %s", exc)
            self.healthy = False
            self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            return fallback()
        if not self.healthy:
            log.info("Redis is back")
        self.healthy = True
        return result

    async def try_pace(self, channel: str) -> float:
        if self.pace_interval == 0:
            # The pace is lifted (test servers): only this process's 429 blocks apply, no round trip.
            return self.local_pacer.try_acquire(channel)

        async def remote() -> float:
            assert self.redis is not None
            out = await self.redis.eval(
                _PACE_SCRIPT, 1, f"traza:pace:{channel}", repr(time.time()), repr(self.pace_interval)
            )
            return float(out)

        return await self._guard(remote, lambda: self.local_pacer.try_acquire(channel))

    async def block_channel(self, channel: str, seconds: float) -> None:
        self.local_pacer.block(channel, seconds)

        async def remote() -> None:
            assert self.redis is not None
            await self.redis.set(
                f"traza:pace:{channel}", repr(time.time() + seconds), px=int(seconds * 1000) + 60000
            )

        await self._guard(remote, lambda: None)

    async def set_if_absent(self, key: str, ttl: float) -> bool:
        async def remote() -> bool:
            assert self.redis is not None
            return bool(await self.redis.set(f"traza:dedupe:{key}", "1", nx=True, ex=int(ttl)))

        return await self._guard(remote, lambda: self.local_dedupe.set_if_absent(key, ttl))

    async def wake(self, signal: str, *, everywhere: bool = True) -> None:
        """Tell workers there is new work: this process at once, the others through Redis."""
        self._signals[signal].set()
        if not everywhere or not self.healthy:
            return  # while Redis is down, other processes poll; the listener marks Redis healthy again

        async def remote() -> None:
            assert self.redis is not None
            await self.redis.publish(WAKE_CHANNEL, signal)

        await self._guard(remote, lambda: None)

    async def wait_for(self, signal: str, seconds: float) -> None:
        event = self._signals[signal]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()

    async def ping(self) -> bool:
        async def remote() -> bool:
            assert self.redis is not None
            return bool(await self.redis.ping())

        return await self._guard(remote, lambda: False) if self.redis is not None else True

    async def listen(self, stop: asyncio.Event) -> None:
        """Forward Redis wake-ups to this process's events; reconnects until ``stop`` (run as a task)."""
        if self.redis is None:
            return
        while not stop.is_set():
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(WAKE_CHANNEL)
                if not self.healthy:
                    log.info("Redis is back")
                self.healthy = True
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is None:
                        continue
                    if message.get("type") == "message":
                        data = message.get("data")
                        name = data.decode() if isinstance(data, bytes) else str(data)
                        if name in self._signals:
                            self._signals[name].set()
                await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.healthy:  # said once per outage, not every reconnect attempt
                    log.warning("Redis wake-up channel lost (%s); polling until it returns", exc)
                self.healthy = False
                self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def connect(redis_url: str | None, pace: float) -> Coordinator:
    if not redis_url:
        return Coordinator(pace)
    from redis.asyncio import Redis

    client = Redis.from_url(
        redis_url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
    )
    return Coordinator(pace, client)
