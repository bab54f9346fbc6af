"""The configuration history: each process start records the effective ``traza.yml`` in the event
log when it differs from the last one recorded, so an auditor can tell which teams, rules and
permissions were in force when any event happened, and who could have changed them when.

The snapshot is the *validated* configuration (formatting and comments do not count as changes;
secrets never live in ``traza.yml``). The check and the append run in one transaction that first
locks the chain head, so several processes starting together record one change, not several.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import EventType
from store import events
from store.events import NewEvent
from store.tables import event_chain_head
from store.tables import events as events_table


def snapshot(config: TrazaConfig) -> dict[str, Any]:
    """The configuration as plain JSON values (sets sorted, so equal configs compare equal)."""
    raw = dataclasses.asdict(config)
    return json.loads(json.dumps(raw, default=_plain, sort_keys=True))  # type: ignore[no-any-return]


def _plain(value: object) -> object:
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    return str(value)


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths that differ; teams and numbers are compared by their ids."""
    paths: list[str] = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            paths.extend(changed_keys(a, b, f"{path}."))
        elif isinstance(a, list) and isinstance(b, list) and _keyed(a) and _keyed(b):
            paths.extend(changed_keys(_by_id(a), _by_id(b), f"{path}."))
        else:
            paths.append(path)
    return paths


def _keyed(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and ("id" in i or "phone_number_id" in i) for i in items)


def _by_id(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(i.get("id", i.get("phone_number_id"))): i for i in items}


async def record_config(engine: AsyncEngine, config: TrazaConfig, now: datetime, source: str) -> bool:
    """Append ``ConfigurationChanged`` when the effective configuration differs from the last one."""
    current = snapshot(config)
    async with engine.begin() as conn:
        await conn.execute(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1).with_for_update())
        last = await conn.scalar(
            select(events_table.c.payload)
            .where(events_table.c.type == str(EventType.CONFIGURATION_CHANGED))
            .order_by(events_table.c.seq.desc())
            .limit(1)
        )
        previous = json.loads(last).get("config") if last else None
        if previous == current:
            return False
        changes = changed_keys(previous or {}, current) if previous is not None else ["(first recorded)"]
        payload = {"source": source, "changes": changes, "config": current}
        await events.append(
            conn, [NewEvent(EventType.CONFIGURATION_CHANGED, now, actor="config", payload=payload)]
        )
    return True
