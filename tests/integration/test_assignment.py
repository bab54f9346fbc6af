"""Assignment against the real store (SQLite and PostgreSQL): fairness with several deciders at once,
capacity under concurrency, away agents, the history of each decision, and the return to the queue."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig, load_config
from store import assignment, away
from store.tables import business_numbers, contacts, conversations, events, jobs

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENTS = ["U0AGENT001", "U0AGENT002", "U0AGENT003", "U0AGENT004"]
NUMBER = "106540352242922"


def config_with(**policy: Any) -> TrazaConfig:
    return load_config(
        {
            "teams": [
                {
                    "id": "soporte",
                    "name": "Soporte",
                    "slack_channel": "C0SOPORTE1",
                    "members": AGENTS,
                    "assignment": policy,
                },
            ],
            "routing": {"default_team": "soporte"},
        }
    )


async def open_conversations(
    engine: AsyncEngine, n: int, *, customer_at: datetime | None = None
) -> list[int]:
    async with engine.begin() as conn:
        if not await conn.scalar(select(func.count()).select_from(business_numbers)):
            await conn.execute(
                insert(business_numbers).values(phone_number_id=NUMBER, display_phone_number="")
            )
        start = int(await conn.scalar(select(func.count()).select_from(contacts)) or 0)
        ids = []
        for i in range(start, start + n):
            contact = (
                await conn.execute(
                    insert(contacts)
                    .values(key=f"wa:{i}", wa_id=f"549110{i:07d}", created_at=T0, updated_at=T0)
                    .returning(contacts.c.id)
                )
            ).scalar_one()
            conv = (
                await conn.execute(
                    insert(conversations)
                    .values(
                        ref=5000 + i,
                        contact_id=contact,
                        phone_number_id=NUMBER,
                        team_id="soporte",
                        state="open",
                        slack_channel="C0SOPORTE1",
                        slack_thread_ts=f"1700000000.{i:06d}",
                        opened_at=T0,
                        last_customer_message_at=customer_at,
                    )
                    .returning(conversations.c.id)
                )
            ).scalar_one()
            ids.append(int(conv))
    return ids


async def assign_all(engine: AsyncEngine, config: TrazaConfig, ids: list[int], workers: int = 4) -> None:
    """Decide for every conversation with ``workers`` deciders running at once."""
    for start in range(0, len(ids), workers):
        await asyncio.gather(
            *(
                assignment.assign(engine, config, c, T0, present_away=set(), exclude=set(), why="opened")
                for c in ids[start : start + workers]
            )
        )


async def holders(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(conversations.c.assignee).where(conversations.c.state == "assigned"))
        return Counter(str(r.assignee) for r in rows)


async def event_payloads(engine: AsyncEngine, kind: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.payload).where(events.c.type == kind).order_by(events.c.seq)
        )
        return [json.loads(r.payload) for r in rows]


async def test_round_robin_spreads_300_conversations_within_one_with_four_deciders(
    engine: AsyncEngine,
) -> None:
    config = config_with(mode="round_robin")
    ids = await open_conversations(engine, 300)
    await assign_all(engine, config, ids)
    counts = await holders(engine)
    assert sum(counts.values()) == 300
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    decisions = await event_payloads(engine, "ConversationAssigned")
    assert len(decisions) == 300
    assert decisions[0]["mode"] == "round_robin" and decisions[0]["candidates"] == AGENTS
    assert set(decisions[0]["loads"]) == set(AGENTS) and "round robin" in decisions[0]["reason"]


async def test_least_loaded_never_exceeds_capacity_and_the_rest_wait(engine: AsyncEngine) -> None:
    config = config_with(mode="least_loaded", capacity=5)
    ids = await open_conversations(engine, 300)
    await assign_all(engine, config, ids, workers=6)
    counts = await holders(engine)
    assert counts == dict.fromkeys(AGENTS, 5)
    deferred = await event_payloads(engine, "AssignmentDeferred")
    assert len(deferred) == 280 and "capacity" in deferred[0]["reason"]
    assert deferred[0]["loads"] == dict.fromkeys(AGENTS, 5)
    # Two conversations end: the sweep queues exactly as many picks as there is room for.
    async with engine.begin() as conn:
        done = (
            (
                await conn.execute(
                    select(conversations.c.id).where(conversations.c.state == "assigned").limit(2)
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(update(conversations).where(conversations.c.id.in_(done)).values(state="closed"))
    assert await assignment.queue_waiting(engine, config, T0) == 2
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).where(jobs.c.kind == "auto_assign")) == 2


async def test_away_agents_are_skipped_by_command_and_by_presence(engine: AsyncEngine) -> None:
    config = config_with(mode="round_robin")
    answer = await away.set_away(engine, config, "U0AGENT002", True, T0)
    assert "away" in answer and "Soporte" in answer
    ids = await open_conversations(engine, 30)
    for conv in ids:
        await assignment.assign(
            engine, config, conv, T0, present_away={"U0AGENT004"}, exclude=set(), why="opened"
        )
    counts = await holders(engine)
    assert set(counts) == {"U0AGENT001", "U0AGENT003"} and counts["U0AGENT001"] == 15
    decision = (await event_payloads(engine, "ConversationAssigned"))[0]
    assert decision["away"] == ["U0AGENT002", "U0AGENT004"]
    await away.set_away(engine, config, "U0AGENT002", False, T0)
    assert [e["user"] for e in await event_payloads(engine, "AgentCameBack")] == ["U0AGENT002"]
    assert len(await event_payloads(engine, "AgentWentAway")) == 1


async def test_a_claimed_conversation_is_not_assigned_again(engine: AsyncEngine) -> None:
    config = config_with(mode="round_robin")
    [conv] = await open_conversations(engine, 1)
    async with engine.begin() as conn:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conv)
            .values(assignee="U0AGENT003", state="assigned")
        )
    assert (
        await assignment.assign(engine, config, conv, T0, present_away=set(), exclude=set(), why="opened")
        is None
    )
    assert await event_payloads(engine, "ConversationAssigned") == []


async def test_unanswered_conversation_returns_to_the_queue_with_a_notice_and_a_new_pick(
    engine: AsyncEngine,
) -> None:
    config = config_with(mode="round_robin", return_after_minutes=15)
    [conv] = await open_conversations(engine, 1, customer_at=T0)
    decision = await assignment.assign(
        engine, config, conv, T0, present_away=set(), exclude=set(), why="opened"
    )
    assert decision is not None and decision.agent == "U0AGENT001"
    assert await assignment.return_unanswered(engine, config, T0 + timedelta(minutes=14)) == []
    assert await assignment.return_unanswered(engine, config, T0 + timedelta(minutes=16)) == [conv]
    async with engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == conv))).mappings().one()
        queued = (await conn.execute(select(jobs.c.kind, jobs.c.payload).order_by(jobs.c.id))).all()
    assert row["state"] == "open" and row["assignee"] is None
    [returned] = await event_payloads(engine, "ConversationReturned")
    assert returned["previous_assignee"] == "U0AGENT001" and returned["return_after_minutes"] == 15
    notices = [json.loads(p)["text"] for k, p in queued if k == "thread_notice"]
    assert any("back in Soporte's queue" in n and "<@U0AGENT001>" in n for n in notices)
    [pick] = [json.loads(p) for k, p in queued if k == "auto_assign"]
    assert pick["exclude"] == ["U0AGENT001"] and pick["why"] == "returned"
    again = await assignment.assign(
        engine, config, conv, T0, present_away=set(), exclude={"U0AGENT001"}, why="returned"
    )
    assert again is not None and again.agent == "U0AGENT002"
    # Answered after the new pick: nothing returns any more.
    async with engine.begin() as conn:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conv)
            .values(last_agent_message_at=T0 + timedelta(minutes=17))
        )
    assert await assignment.return_unanswered(engine, config, T0 + timedelta(hours=2)) == []
