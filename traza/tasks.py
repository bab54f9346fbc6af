"""Stopping a runner's background work in one order, shared by the worker and the webhook dispatcher:
cancel the loops that take new work, give running jobs a grace period to finish (their leases would
otherwise make another process wait), then cancel what is left and wait until it has really stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

GRACE_SECONDS = 10.0


async def shut_down(
    loops: Sequence[asyncio.Task[None]],
    running: Iterable[asyncio.Task[None]],
    grace: float = GRACE_SECONDS,
) -> None:
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    jobs = list(running)
    if jobs:
        await asyncio.wait(jobs, timeout=grace)
    for task in jobs:
        task.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
