"""The SLA sweep on SQLite and PostgreSQL: each breach recorded exactly once — across repeated sweeps,
two workers sweeping at the same moment and a sweeper that crashed holding the lease — and counted in
the metrics as computed by hand."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import SlaTarget, SlaTargets
from store import reports
from store.coordination import Coordinator
from store.db import create_engine
from store.sla import sweep
from store.tables import business_numbers, contacts, conversations, events, jobs, sla_breaches
from tests.harness import load_test_config
from traza.sla_sweeper import SlaSweeper

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NUMBER = "106540352242922"
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def sla_config() -> TrazaConfig:
    """soporte: first response within 15 min, resolution within 24 h; ventas has no targets."""
    base = load_test_config()
    targets = SlaTargets(first_response=15 * MINUTE, resolution=24 * HOUR)
    teams = tuple(dataclasses.replace(t, sla=targets) if t.id == "soporte" else t for t in base.teams)
    return dataclasses.replace(base, teams=teams)


async def seed(engine: AsyncEngine) -> None:
    """1: unanswered · 2: answered after 5 min · 3: closed after 1 h · 4: ventas, unanswered ·
    5: opened 10 min later, unanswered · 6: started by an agent's template, the customer silent."""
    specs = {
        1: dict(team_id="soporte", opened=0, customer=0),
        2: dict(team_id="soporte", opened=0, customer=0, first_response=5),
        3: dict(team_id="soporte", opened=0, customer=0, state="closed"),
        4: dict(team_id="ventas", opened=0, customer=0),
        5: dict(team_id="soporte", opened=10, customer=10),
        6: dict(team_id="soporte", opened=0, customer=None),
    }
    async with engine.begin() as conn:
        await conn.execute(insert(business_numbers).values(phone_number_id=NUMBER))
        for n, spec in specs.items():
            await conn.execute(
                insert(contacts).values(
                    id=n, key=f"wa:54911000{n}", wa_id=f"54911000{n}", created_at=T0, updated_at=T0
                )
            )
            at = lambda minutes: None if minutes is None else T0 + minutes * MINUTE  # noqa: E731
            await conn.execute(
                insert(conversations).values(
                    id=n,
                    ref=1000 + n,
                    contact_id=n,
                    phone_number_id=NUMBER,
                    team_id=spec["team_id"],
                    state=spec.get("state", "open"),
                    slack_channel="C0SOPORTE1" if spec["team_id"] == "soporte" else "C0VENTAS01",
                    slack_thread_ts=f"1700000000.00010{n}",
                    opened_at=at(spec["opened"]),
                    last_customer_message_at=at(spec["customer"]),
                    first_response_at=at(spec.get("first_response")),
                    last_agent_message_at=at(spec.get("first_response")),
                    closed_at=T0 + HOUR if spec.get("state") == "closed" else None,
                )
            )


async def breaches(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.ref, events.c.payload).where(events.c.type == "SlaBreached")
        )
        return sorted((int(r.ref), json.loads(r.payload)["target"]) for r in rows)


async def jobs_of(engine: AsyncEngine, kind: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(jobs.c.payload).where(jobs.c.kind == kind).order_by(jobs.c.id))
        return [json.loads(r.payload) for r in rows]


async def test_each_breach_is_recorded_once_when_due_and_counted_in_the_metrics(engine: AsyncEngine) -> None:
    config = sla_config()
    await seed(engine)
    assert await sweep(engine, config, T0 + 14 * MINUTE) == []  # nothing due yet
    first = await sweep(engine, config, T0 + 20 * MINUTE)
    assert [(b.ref, b.target) for b in first] == [(1001, SlaTarget.FIRST_RESPONSE)]
    assert await sweep(engine, config, T0 + 20 * MINUTE) == []  # swept again: nothing new
    assert [(b.ref, b.target) for b in await sweep(engine, config, T0 + 25 * MINUTE)] == [
        (1005, SlaTarget.FIRST_RESPONSE)
    ]
    late = await sweep(engine, config, T0 + 24 * HOUR + 10 * MINUTE)
    # Resolution: 1, 2 and 6 were open 24 h after opening; 5 opened 10 min later, due exactly now.
    assert sorted(b.ref for b in late) == [1001, 1002, 1005, 1006]
    assert await sweep(engine, config, T0 + 48 * HOUR) == []
    assert await breaches(engine) == [
        (1001, "first_response"),
        (1001, "resolution"),
        (1002, "resolution"),
        (1005, "first_response"),
        (1005, "resolution"),
        (1006, "resolution"),
    ]
    nudge = (await jobs_of(engine, "sla_nudge"))[0]
    assert nudge["target"] == "first_response" and nudge["conversation_id"] == 1
    assert "<@U0LEAD0002>" in str(nudge["text"]) and "#1001" in str(nudge["text"])
    assert "(target 15 min)" in str(nudge["text"])
    assert len(await jobs_of(engine, "sla_nudge")) == 6
    assert len(await jobs_of(engine, "update_card")) == 4  # one per conversation (1, 2, 5, 6): coalesced
    async with engine.connect() as conn:
        soporte = await reports.metrics(conn, since=T0, until=T0 + 48 * HOUR, team="soporte")
        ventas = await reports.metrics(conn, since=T0, until=T0 + 48 * HOUR, team="ventas")
        first_day = await reports.metrics(conn, since=T0, until=T0 + 24 * HOUR)
    assert soporte["sla_breaches"] == {"first_response": 2, "resolution": 4}
    assert ventas["sla_breaches"] == {"first_response": 0, "resolution": 0}
    assert first_day["sla_breaches"] == {"first_response": 2, "resolution": 0}


async def test_two_workers_sweeping_at_once_record_each_breach_once(
    engine: AsyncEngine, database_url: str
) -> None:
    config = sla_config()
    await seed(engine)
    other = create_engine(database_url, pool_size=2)
    try:
        now = T0 + 25 * HOUR
        a, b = await asyncio.gather(sweep(engine, config, now), sweep(other, config, now))
    finally:
        await other.dispose()
    assert len(a) + len(b) == 6
    assert len(await breaches(engine)) == 6
    assert len(await jobs_of(engine, "sla_nudge")) == 6
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(sla_breaches)) == 6


async def test_one_sweeper_holds_the_lease_and_a_crashed_holder_is_replaced_after_it_expires(
    engine: AsyncEngine,
) -> None:
    config = sla_config()
    await seed(engine)
    clock = [T0 + 16 * MINUTE]
    sweepers = [
        SlaSweeper(engine, config, Coordinator(0), f"host:{name}", lambda: clock[0], interval=600)
        for name in ("a", "b")
    ]
    first, second = sweepers
    assert [b.ref for b in await first.sweep_once()] == [1001]
    clock[0] = T0 + 26 * MINUTE  # 1005 is due, but the lease is first's
    assert await second.sweep_once() == []
    assert [b.ref for b in await first.sweep_once()] == [1005]
    # first "crashes" without releasing; its lease (30 min for a 10 min interval) runs out.
    clock[0] = T0 + 24 * HOUR + 11 * MINUTE
    assert sorted(b.ref for b in await second.sweep_once()) == [1001, 1002, 1005, 1006]
    assert len(await breaches(engine)) == 6


async def test_a_sweep_that_dies_mid_breach_leaves_nothing_and_the_next_records_it_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.sla

    config = sla_config()
    await seed(engine)
    append = store.sla.events.append

    async def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the database went away in the middle of the breach")

    monkeypatch.setattr(store.sla.events, "append", crash)
    with pytest.raises(ConnectionResetError):
        await sweep(engine, config, T0 + 20 * MINUTE)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(sla_breaches)) == 0
    assert await jobs_of(engine, "sla_nudge") == []
    monkeypatch.setattr(store.sla.events, "append", append)
    assert [b.ref for b in await sweep(engine, config, T0 + 20 * MINUTE)] == [1001]
    assert [b.ref for b in await sweep(engine, config, T0 + 21 * MINUTE)] == []
    assert await breaches(engine) == [(1001, "first_response")]
    assert len(await jobs_of(engine, "sla_nudge")) == 1


async def test_the_timeline_names_the_missed_target(engine: AsyncEngine) -> None:
    from store.search import timeline

    await seed(engine)
    await sweep(engine, sla_config(), T0 + 20 * MINUTE)
    async with engine.connect() as conn:
        entries = await timeline(conn, 1001)
    assert [e.summary for e in entries] == ["SLA first response target missed"]


async def test_with_business_hours_the_clock_stops_while_the_team_is_closed(engine: AsyncEngine) -> None:
    from bridge.checking import Checker
    from bridge.schedule import parse_hours

    check = Checker()
    # T0 is Monday 10:00 in Madrid; soporte opens at 10:05, so 15 minutes of open time end at T0 + 20.
    hours = parse_hours({"timezone": "Europe/Madrid", "open": {"mon-fri": "10:05-18:00"}}, "h", check)
    assert hours is not None and not check.problems
    base = sla_config()
    teams = tuple(dataclasses.replace(t, hours=hours) if t.id == "soporte" else t for t in base.teams)
    config = dataclasses.replace(base, teams=teams)
    await seed(engine)
    assert await sweep(engine, config, T0 + 19 * MINUTE) == []  # 19 wall-clock minutes, 14 open ones
    assert [(b.ref, b.target) for b in await sweep(engine, config, T0 + 21 * MINUTE)] == [
        (1001, SlaTarget.FIRST_RESPONSE)
    ]
    assert await sweep(engine, config, T0 + 24 * MINUTE) == []  # #5 opened at T0 + 10: due at T0 + 25
    assert [b.ref for b in await sweep(engine, config, T0 + 26 * MINUTE)] == [1005]
