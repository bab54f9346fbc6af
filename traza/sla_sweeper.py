"""The worker's periodic SLA sweep (``store.sla.sweep``), run by one process at a time.

Every ``interval`` seconds the sweeper takes (or renews) the ``sla`` lease and sweeps; a process that
does not hold it waits for the next round. The lease outlives a few rounds, so a crashed holder is
replaced within ``ttl`` (or at once when the crash is seen on the same host). Correctness does not
hang on the lease: the breach table's primary key makes every breach happen once anyway; the lease
only keeps several workers from doing the same queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from store import jobs, leases
from store.coordination import Coordinator
from store.sla import Breach, sweep

log = logging.getLogger("traza.sla")
LEASE_NAME = "sla"


class SlaSweeper:
    def __init__(
        self,
        engine: AsyncEngine,
        config: TrazaConfig,
        coordinator: Coordinator,
        holder: str,
        clock: Callable[[], datetime],
        interval: float,
    ) -> None:
        self.engine, self.config, self.coordinator = engine, config, coordinator
        self.holder, self.clock, self.interval = holder, clock, interval
        self.ttl = timedelta(seconds=max(30.0, interval * 3))

    @property
    def enabled(self) -> bool:
        return any(team.sla for team in self.config.teams)

    async def run(self, stop: asyncio.Event) -> None:
        await leases.release_if_dead(self.engine, LEASE_NAME, jobs.is_dead_local_holder)
        try:
            while not stop.is_set():
                await self.sweep_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            with contextlib.suppress(Exception):
                await leases.release(self.engine, LEASE_NAME, self.holder)

    async def sweep_once(self) -> list[Breach]:
        """One round: sweep if this process holds (or takes) the lease; the breaches it recorded."""
        now = self.clock()
        if not await leases.acquire(self.engine, LEASE_NAME, self.holder, now, self.ttl):
            return []
        recorded = await sweep(self.engine, self.config, now)
        for breach in recorded:
            log.warning("SLA %s missed on #%d (team %s)", breach.target, breach.ref, breach.team_id)
        if recorded:
            await self.coordinator.wake("jobs")
        return recorded
