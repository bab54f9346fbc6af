"""Configuration changes are part of the history: an auditor can tell which teams and rules were in
force at any time, and a restart with the same configuration records nothing new."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from sqlalchemy import select

from bridge.domain import EventType, SlackUserId
from store import events
from store.config_history import changed_keys, record_config
from store.db import create_engine
from store.tables import events as events_table
from tests.harness import load_test_config

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def _config_events(url: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events_table.c.payload).where(events_table.c.type == str(EventType.CONFIGURATION_CHANGED))
        )
        payloads = [json.loads(r.payload) for r in rows]
    await engine.dispose()
    return payloads


async def test_a_changed_configuration_is_recorded_once_with_what_changed(database_url: str) -> None:
    config = load_test_config()
    engine = create_engine(database_url)
    assert await record_config(engine, config, NOW, "traza.yml")
    assert not await record_config(engine, config, NOW, "traza.yml"), "same config recorded twice"

    ventas = config.teams[0]
    moved = dataclasses.replace(ventas, members=(*ventas.members, SlackUserId("U0AGENT099")))
    changed = dataclasses.replace(config, teams=(moved, *config.teams[1:]), reopen_grace_minutes=30)
    assert await record_config(engine, changed, NOW, "traza.yml")
    async with engine.connect() as conn:
        assert await events.verify(conn) is None
    await engine.dispose()

    first, second = await _config_events(database_url)
    assert first["changes"] == ["(first recorded)"]
    assert second["changes"] == ["reopen_grace_minutes", f"teams.{ventas.id}.members"]
    assert "U0AGENT099" in json.dumps(second["config"])


async def test_starting_traza_records_its_configuration(traza: object, traza_env: dict[str, str]) -> None:
    recorded = await _config_events(traza_env["TRAZA_DATABASE_URL"])
    assert len(recorded) == 1
    assert recorded[0]["source"].endswith("traza.yml")  # type: ignore[union-attr]


def test_changed_keys_names_nested_paths_and_keyed_lists() -> None:
    old = {"teams": [{"id": "a", "name": "A"}], "stamp": "x", "numbers": []}
    new = {"teams": [{"id": "a", "name": "AA"}, {"id": "b", "name": "B"}], "stamp": "x", "numbers": []}
    assert changed_keys(old, new) == ["teams.a.name", "teams.b"]
