"""Metrics over a hand-built event sequence, checked against numbers computed by hand.

The same sequence is checked twice: fed to the pure ``summarize`` and appended to a real event log
(SQLite and PostgreSQL) and read back through ``metrics``; both must give the documented numbers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.domain import EventType as E
from store import events, reports
from store.db import create_engine
from store.events import NewEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(days=1)


def ev(kind: E, secs: float, conv: int, actor: str | None, team: str = "soporte", **payload: Any) -> NewEvent:
    return NewEvent(kind, T0 + timedelta(seconds=secs), conv, 1000 + conv, actor, team, "106", payload)


SEQUENCE = [
    ev(E.CONVERSATION_OPENED, -86400, 10, "contact:9"),  # opened before the period
    ev(E.CONVERSATION_OPENED, 0, 1, "contact:1"),
    ev(E.CUSTOMER_MESSAGE_RECEIVED, 0, 1, "contact:1", text="hola"),
    ev(E.NOTE_ADDED, 30, 1, "U1", text="looking"),  # a note is never a response
    ev(E.REPLY_RECEIVED, 45, 1, "traza", text="auto"),  # nor is Traza itself
    ev(E.REPLY_RECEIVED, 50, 1, "U9", text="away", automatic=True),  # nor an automatic message
    ev(E.CONVERSATION_OPENED, 60, 2, "contact:2"),
    ev(E.CONVERSATION_CLAIMED, 100, 2, "U2", assignee="U2"),
    ev(E.CONVERSATION_OPENED, 120, 3, "contact:3", team="ventas"),
    ev(E.REPLY_RECEIVED, 120, 1, "U1", text="hi"),  # first response of 1: 120 s
    ev(E.CUSTOMER_MESSAGE_RECEIVED, 130, 3, "contact:3", team="ventas"),
    ev(E.CONVERSATION_OPENED, 180, 4, "contact:4"),
    ev(E.NOTE_ADDED, 200, 3, "U3", team="ventas"),
    ev(E.CONVERSATION_CLAIMED, 210, 3, "U3", team="ventas", assignee="U3"),
    ev(E.REPLY_RECEIVED, 300, 1, "U1"),
    ev(E.REPLY_RECEIVED, 360, 2, "U2"),  # first response of 2: 300 s
    ev(E.CONVERSATION_TRANSFERRED, 400, 2, "U2", to_team="ventas", to_agent=None),  # to a team
    ev(E.REPLY_RECEIVED, 500, 2, "U3", team="ventas"),
    ev(E.REPLY_RECEIVED, 550, 10, "U1"),  # conversation 10 opened before the period
    ev(E.CONVERSATION_CLOSED, 600, 1, "U1"),  # resolution of 1: 600 s
    ev(E.REPLY_RECEIVED, 780, 4, "U1"),  # first response of 4: 600 s
    ev(E.CONVERSATION_REOPENED, 900, 1, "U1"),
    ev(E.REPLY_RECEIVED, 1000, 1, "U2"),  # after a reopen: first response stays 120 s
    ev(E.CONVERSATION_CLOSED, 1200, 1, "U2"),  # second close: resolution stays 600 s
    ev(E.CONVERSATION_CLOSED, 3780, 4, "U1"),  # resolution of 4: 3600 s
]


def rows(sequence: list[NewEvent]) -> list[dict[str, Any]]:
    return [
        {
            "seq": n,
            "occurred_at": e.occurred_at,
            "type": str(e.type),
            "conversation_id": e.conversation_id,
            "actor": e.actor,
            "team_id": e.team_id,
            "phone_number_id": e.phone_number_id,
            "payload": json.dumps(e.payload),
        }
        for n, e in enumerate(sequence, 1)
    ]


def test_counts_follow_the_event_log() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    assert (m["conversations_opened"], m["conversations_closed"], m["conversations_reopened"]) == (4, 3, 1)
    assert (m["transfers"], m["customer_messages"]) == (1, 2)
    assert m["agent_replies"] == 7  # notes, Traza and the automatic message do not count
    assert m["timezone"] == "UTC"


def test_first_response_ignores_notes_bots_and_reopens() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    # Samples 120, 300, 600: median 300; p90 at rank 1.8 = 300 + 0.8 * 300 = 540.
    assert m["first_response"] == {
        "conversations": 4,
        "measured": 3,
        "pending": 1,
        "median_seconds": 300.0,
        "p90_seconds": 540.0,
    }


def test_resolution_uses_the_first_close() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    # Samples 600, 3600: median 2100; p90 at rank 0.9 = 600 + 0.9 * 3000 = 3300.
    assert m["resolution"]["median_seconds"] == 2100.0
    assert m["resolution"]["p90_seconds"] == 3300.0
    assert (m["resolution"]["measured"], m["resolution"]["pending"]) == (2, 2)


def test_volume_per_agent_and_team_and_backlog() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    assert m["per_agent"] == [
        {"agent": "U1", "replies": 4, "conversations": 3},
        {"agent": "U2", "replies": 2, "conversations": 2},
        {"agent": "U3", "replies": 1, "conversations": 1},
    ]
    assert m["per_team"] == [
        {"team": "soporte", "conversations_opened": 3, "customer_messages": 1, "agent_replies": 6},
        {"team": "ventas", "conversations_opened": 1, "customer_messages": 1, "agent_replies": 1},
    ]
    # 10 open (opened before the period), 2 transferred to a team (open), 3 claimed; 1 and 4 closed.
    assert m["backlog"] == {"open": 2, "assigned": 1}


def test_team_filter() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL, team="ventas")
    # The transfer counts for the team it left (soporte); 2 is in the ventas backlog after it.
    assert (m["conversations_opened"], m["transfers"], m["agent_replies"]) == (1, 0, 1)
    assert m["first_response"]["conversations"] == 1
    assert m["first_response"]["median_seconds"] is None
    assert m["per_agent"] == [{"agent": "U3", "replies": 1, "conversations": 1}]
    assert [t["team"] for t in m["per_team"]] == ["ventas"]
    assert m["backlog"] == {"open": 1, "assigned": 1}


def test_until_cuts_the_log_and_backlog_is_as_of_until() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=T0 + timedelta(seconds=700))
    assert m["conversations_closed"] == 1
    assert m["conversations_reopened"] == 0
    assert m["first_response"]["measured"] == 2  # conversation 4 was answered at 780 s
    assert m["backlog"] == {"open": 3, "assigned": 1}  # 10, 2 and 4 open; 3 claimed; 1 closed


def test_reopened_conversation_is_back_in_the_backlog() -> None:
    sequence = SEQUENCE[:22]  # up to the reopen of conversation 1 (4 is not closed yet)
    m = reports.summarize(rows(sequence), since=SINCE, until=UNTIL)
    assert m["backlog"] == {"open": 4, "assigned": 1}  # 10, 2, 4 and the reopened 1; 3 claimed
    assert m["resolution"]["measured"] == 1


def test_reopen_returns_to_the_holder_and_transfer_to_an_agent_assigns() -> None:
    sequence = [
        ev(E.CONVERSATION_OPENED, 0, 1, "contact:1"),
        ev(E.CONVERSATION_CLAIMED, 10, 1, "U1", assignee="U1"),
        ev(E.CONVERSATION_CLOSED, 20, 1, "U1", assignee="U1"),
        ev(E.CONVERSATION_REOPENED, 30, 1, "U1"),  # the holder is kept through close and reopen
        ev(E.CONVERSATION_OPENED, 0, 2, "contact:2"),
        ev(E.CONVERSATION_TRANSFERRED, 40, 2, "U1", to_team="ventas", to_agent="U3"),
    ]
    m = reports.summarize(rows(sequence), since=SINCE, until=UNTIL)
    assert m["backlog"] == {"open": 0, "assigned": 2}
    assert reports.summarize(rows(sequence), since=SINCE, until=UNTIL, team="ventas")["backlog"] == {
        "open": 0,
        "assigned": 1,
    }


def test_time_in_each_team_and_state_by_hand() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    # soporte open: #10 the whole period (90000) + #1 0-600 and 900-1200 (900) + #2 60-100 (40)
    #   + #4 180-3780 (3600); soporte assigned: #2 100-400; ventas open: #2 400-until (86000)
    #   + #3 120-210 (90); ventas assigned: #3 210-until (86190).
    assert m["time_in_state"] == [
        {"team": "soporte", "state": "assigned", "seconds": 300.0},
        {"team": "soporte", "state": "open", "seconds": 94540.0},
        {"team": "ventas", "state": "assigned", "seconds": 86190.0},
        {"team": "ventas", "state": "open", "seconds": 86090.0},
    ]
    ventas = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL, team="ventas")
    assert [e["team"] for e in ventas["time_in_state"]] == ["ventas", "ventas"]


def test_handoffs_reopen_rate_and_volume_by_number_and_hour() -> None:
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    assert m["handoffs"] == 1  # the transfer of #2; first claims are not handoffs
    assert m["reopen_rate"] == 0.5  # #1 reopened of {#1, #4} closed
    assert m["per_number"] == [{"phone_number_id": "106", "conversations_opened": 4, "customer_messages": 2}]
    assert m["per_hour"][9] == 2 and sum(m["per_hour"]) == 2
    regrab = [
        ev(E.CONVERSATION_OPENED, 0, 1, "contact:1"),
        ev(E.CONVERSATION_CLAIMED, 10, 1, "U1", assignee="U1"),
        ev(E.CONVERSATION_CLAIMED, 20, 1, "U2", assignee="U2"),  # taken from U1: a handoff
        ev(E.CONVERSATION_CLAIMED, 30, 1, "U2", assignee="U2"),  # same holder again: not one
    ]
    assert reports.summarize(rows(regrab), since=SINCE, until=UNTIL)["handoffs"] == 1
    assert reports.summarize(rows(regrab), since=SINCE, until=UNTIL)["reopen_rate"] is None


def test_empty_log() -> None:
    m = reports.summarize([], since=None, until=UNTIL)
    assert m["conversations_opened"] == 0
    assert m["first_response"]["median_seconds"] is None
    assert m["backlog"] == {"open": 0, "assigned": 0}


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, None), ([7.0], 90, 7.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.5), ([10.0, 20.0], 90, 19.0)],
)
def test_percentile(values: list[float], p: float, expected: float | None) -> None:
    assert reports.percentile(values, p) == expected


async def test_metrics_from_the_database_match(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await events.append(conn, SEQUENCE)
        async with engine.connect() as conn:
            m = await reports.metrics(conn, since=SINCE, until=UNTIL)
            ventas = await reports.metrics(conn, since=SINCE, until=UNTIL, team="ventas")
    finally:
        await engine.dispose()
    assert m == reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    assert m["first_response"]["p90_seconds"] == 540.0
    assert ventas["backlog"] == {"open": 1, "assigned": 1}


def test_a_conversation_held_for_the_routing_menu_counts_for_the_team_it_was_routed_to() -> None:
    held = [
        NewEvent(E.CONVERSATION_OPENED, T0, 20, 1020, "contact:20", None, "106", {}),
        NewEvent(E.MENU_OFFERED, T0, 20, 1020, "traza", None, "106", {"rule": "rules[0]"}),
        NewEvent(E.CONVERSATION_ROUTED, T0 + timedelta(seconds=40), 20, 1020, "traza", "ventas", "106", {}),
        NewEvent(E.REPLY_RECEIVED, T0 + timedelta(seconds=100), 20, 1020, "U3", "ventas", "106", {}),
    ]
    ventas = reports.summarize(rows(held), since=SINCE, until=UNTIL, team="ventas")
    assert ventas["conversations_opened"] == 1
    assert ventas["first_response"]["median_seconds"] == 100  # from the first message, menu time included
    assert ventas["backlog"] == {"open": 1, "assigned": 0}
    everyone = reports.summarize(rows(held), since=SINCE, until=UNTIL)
    assert everyone["conversations_opened"] == 1
    assert [(t["team"], t["conversations_opened"]) for t in everyone["per_team"]] == [("ventas", 1)]
    # The 40 s waiting for the menu belong to no team; from the routing on the time is ventas' queue.
    open_time = (UNTIL - T0).total_seconds() - 40
    assert everyone["time_in_state"] == [{"team": "ventas", "state": "open", "seconds": open_time}]


def test_first_response_in_business_time_counts_only_while_the_team_is_open() -> None:
    from bridge.checking import Checker
    from bridge.schedule import parse_hours

    check = Checker()
    # T0 is Monday 09:00 UTC = 10:00 in Madrid (UTC+1 in March); soporte opens at 10:05, T0 + 300 s.
    opens_late = parse_hours({"timezone": "Europe/Madrid", "open": {"mon-fri": "10:05-18:00"}}, "h", check)
    assert opens_late is not None and not check.problems
    m = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL, hours={"soporte": opens_late})
    # #1 answered at T0+120 (0 s open), #2 opened T0+60 answered T0+360 (60 s), #4 T0+180 → T0+780 (480 s)
    assert m["first_response_business"]["median_seconds"] == 60.0
    assert m["first_response_business"]["p90_seconds"] == 396.0
    assert m["first_response"]["median_seconds"] == 300.0  # wall-clock figures unchanged
    plain = reports.summarize(rows(SEQUENCE), since=SINCE, until=UNTIL)
    assert plain["first_response_business"] == plain["first_response"]  # no hours: every second counts
